// OVA reader: an Open Virtualization Appliance is a tar (DMTF DSP0243 "OVF" §5.3: POSIX ustar, the .ovf
// descriptor first, then the files it references, usually one streamOptimized VMDK per disk). The disk
// is read in place: the VMDK is a byte range of the tar (a slice), nothing is unpacked.
//
// Tar headers are parsed in ova-tar.ts. Handled: 512-byte ustar headers (name + prefix, octal or base-256 size, the header checksum), PAX 'x'
// (path, size) and GNU 'L' long names; 'g' global headers are skipped. The first zero block, or the end
// of the file at a header boundary, ends the archive.

import { posix } from 'node:path';
import { AppError, CorruptError, NotFoundError } from '../../errors.js';
import { DiskFileUnsupportedError } from './unsupported.js';
import type { BlockDevice } from '../block-device.js';
import { sliceDevice } from '../slice-device.js';
import type { ContainerDevice, OpenContext } from './types.js';
import { openVmdkFrom } from './vmdk.js';
import { BLOCK, applyExtended, parseTarHeader, tarCorrupt } from './ova-tar.js';

export { detectOva } from './ova-tar.js';

const MAX_HEADERS = 10_000;
const MAX_EXTENDED = 1 << 20;
const MAX_OVF_BYTES = 4 << 20;

interface TarMember {
  name: string;
  /** Byte offset of the member's data in the tar. */
  offset: number;
  /** Its bytes in the file: fewer than the header says when the file ends inside it (cutFrom). */
  size: number;
  /** The size its header gives, when the file ends before its data does. */
  cutFrom?: number;
  /** The file ends after it, without the end of the tar (its two zero blocks): cut short there. */
  lastBeforeCut?: true;
}

/** Every member with data, in order, reading only headers (and extended-header payloads). */
async function listTar(file: BlockDevice): Promise<TarMember[]> {
  const members: TarMember[] = [];
  let next: { name?: string; size?: number } = {};
  let pos = 0;
  for (let headers = 0; pos + BLOCK <= file.sizeBytes; headers++) {
    if (headers >= MAX_HEADERS) throw tarCorrupt(`tar has more than ${MAX_HEADERS} headers`, pos);
    const parsed = parseTarHeader(await file.read(pos, BLOCK), pos);
    if (parsed.kind === 'end') return members;
    const size = parsed.kind === 'member' ? (next.size ?? parsed.size) : parsed.dataSize;
    const dataEnd = pos + BLOCK + size;
    if (dataEnd > file.sizeBytes) {
      // An interrupted download or copy: the members before the cut are whole, and the one cut is kept with
      // the bytes that are there (a disk then reads as a disk file cut short does), the rest is gone.
      if (parsed.kind === 'extended' || parsed.type === '5') throw tarCorrupt(`tar member at byte ${pos} has ${size} bytes of data but the file ends at ${file.sizeBytes}`, pos);
      members.push({ name: next.name ?? parsed.name, offset: pos + BLOCK, size: file.sizeBytes - pos - BLOCK, cutFrom: size });
      return members;
    }
    if (parsed.kind === 'extended') {
      if (parsed.type !== 'g') {
        if (size > MAX_EXTENDED) throw tarCorrupt(`tar extended header at byte ${pos} is ${size} bytes`, pos);
        applyExtended(parsed.type, await file.read(pos + BLOCK, size), next);
      }
    } else {
      if (parsed.type !== '5') members.push({ name: next.name ?? parsed.name, offset: pos + BLOCK, size });
      next = {};
    }
    pos += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
  }
  // Cut inside a header: what came before is whole (an .ovf and its disk are what is needed).
  if (pos !== file.sizeBytes && members.length === 0) throw tarCorrupt(`tar ends inside a header at byte ${pos} (file ${file.sizeBytes} bytes)`, pos);
  if (members.length > 0) members[members.length - 1]!.lastBeforeCut = true;
  return members;
}

export async function openOva(file: BlockDevice, ctx: OpenContext): Promise<ContainerDevice> {
  const members = await listTar(file);
  // Without a descriptor (a disk packed by hand), the disk is the largest .vmdk.
  const ovf = members.find((m) => m.name.toLowerCase().endsWith('.ovf')) ?? null;
  const disk = await chooseDisk(file, members, ovf, ctx.path);
  const others = disks(members).filter((m) => m !== disk);
  const notes = [`disk ${disk.name} (${disk.size} bytes in the tar)`];
  for (const m of others) notes.push(`other disk in the OVA, not opened: ${m.name} (${m.size} bytes)`);
  const cut = members.find((m) => m.cutFrom !== undefined);
  if (cut !== undefined) notes.push(`the OVA is cut short (an interrupted download or copy?): it ends ${cut.size} bytes into ${cut.name}, of ${cut.cutFrom}${cut === disk ? '; the disk is read as far as it goes' : ''}`);
  const slice = sliceDevice(file, disk.offset, disk.size, `${disk.name} in ${ctx.path}`);
  return openVmdkFrom(slice, ctx, vmdkOptions(file, members, disk, notes, ctx)).catch((err: unknown) => {
    // A disk cut too early to be opened at all: said as the OVA cut short, not as a damaged VMDK header.
    if (disk.cutFrom === undefined || !(err instanceof AppError) || err.exitCode !== 65) throw err;
    throw new CorruptError('OVA_CUT_SHORT', `${ctx.path} is cut short inside its disk ${disk.name} (${disk.size} of ${disk.cutFrom} bytes): ${err.message}`, { hint: 'download or copy the OVA again: too little of its disk is there to read', cause: err });
  });
}

function vmdkOptions(file: BlockDevice, members: TarMember[], disk: TarMember, notes: string[], ctx: OpenContext): Parameters<typeof openVmdkFrom>[2] {
  const folder = posix.dirname(disk.name);
  return {
    format: 'ova',
    description: `ova ${ctx.path} (${disk.name})`,
    writeHint: `unpack it and convert the disk: tar -xf "${ctx.path}" "${disk.name}", then qemu-img convert -O raw "${disk.name}" disk.img`,
    notes,
    alsoClose: [file],
    fileSize: file.sizeBytes,
    // A descriptor inside an OVA names its extents as files beside it: other members of the tar.
    openExtentFile: async (name) => {
      const wanted = posix.normalize(posix.join(folder, name));
      const member = members.find((m) => posix.normalize(m.name) === wanted);
      if (member === undefined) {
        throw new NotFoundError('OVA_EXTENT_MISSING', `extent ${name} named by ${disk.name} is not in ${ctx.path}`, {
          hint: `the OVA is incomplete or damaged: tar -tvf "${ctx.path}" lists the files it holds; export the virtual machine again`,
          details: { name },
        });
      }
      return sliceDevice(file, member.offset, member.size, `${member.name} in ${ctx.path}`);
    },
  };
}

function disks(members: TarMember[]): TarMember[] {
  return members.filter((m) => m.name.toLowerCase().endsWith('.vmdk'));
}

/** The disk to open: of the VMDKs the .ovf references (all VMDKs if it names none), the largest. */
async function chooseDisk(file: BlockDevice, members: TarMember[], ovf: TarMember | null, path: string): Promise<TarMember> {
  const all = disks(members);
  if (all.length === 0) {
    const packed = members.find((m) => /\.vmdk\.(gz|\d+)$/i.test(m.name));
    if (packed !== undefined) {
      throw new DiskFileUnsupportedError('OVA_PACKED_DISK', `${path}: its disk ${packed.name} is compressed or split into chunks, which is not read in place`, {
        hint: `unpack the OVA with tar, join or gunzip the disk, then convert it: qemu-img convert -O raw disk.vmdk disk.img`,
      });
    }
    // Cut before its disk (inside the .ovf that comes first): said as the cut it is, not as an OVA without one.
    const cut = members.find((m) => m.cutFrom !== undefined);
    if (cut !== undefined) {
      throw new CorruptError('OVA_CUT_SHORT', `${path} is cut short inside ${cut.name} (${cut.size} of its ${cut.cutFrom} bytes), before its disk`, { hint: 'download or copy the OVA again: its disk is not in this file', details: { members: members.map((m) => m.name).slice(0, 20) } });
    }
    const last = members.find((m) => m.lastBeforeCut === true);
    if (last !== undefined) {
      throw new CorruptError('OVA_CUT_SHORT', `${path} ends after ${last.name}, without the end of its tar: it is cut short before its disk`, { hint: 'download or copy the OVA again: its disk is not in this file', details: { members: members.map((m) => m.name).slice(0, 20) } });
    }
    throw noDisk(path, members.map((m) => m.name));
  }
  const ovfText = ovf === null ? '' : (await file.read(ovf.offset, Math.min(ovf.size, MAX_OVF_BYTES))).toString('utf8');
  const referenced = new Set([...ovfText.matchAll(/href\s*=\s*"([^"]+)"/g)].map((m) => posix.normalize(m[1]!)));
  const named = all.filter((m) => referenced.has(posix.normalize(m.name)) || referenced.has(posix.basename(m.name)));
  const candidates = named.length > 0 ? named : all;
  return candidates.reduce((best, m) => (m.size > best.size ? m : best));
}

/** An OVA without a .vmdk: what it holds instead, and the way on (a disk of another kind unpacked and given). */
function noDisk(path: string, names: string[]): NotFoundError {
  const other = names.find((n) => /\.(vhdx?|vdi|qcow2?|img|raw)$/i.test(n));
  const held = names.length === 0 ? 'nothing' : `${names.slice(0, 5).join(', ')}${names.length > 5 ? `, and ${names.length - 5} more` : ''}`;
  return new NotFoundError('OVA_NO_DISK', `${path} holds no .vmdk disk (it holds ${held})`, {
    details: { members: names.slice(0, 20) },
    hint: other !== undefined
      ? `unpack it with tar (tar -xf ${posix.basename(path)}) and give its disk file ${other} itself`
      : 'its virtual machine was exported without its disk: export it again with its disk, or give the disk file itself (.vmdk, .vdi, .qcow2, .vhd or .vhdx)',
  });
}

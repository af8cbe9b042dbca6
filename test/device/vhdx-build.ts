// A VHDX written from [MS-VHDX] for the tests: the only way here to get a differencing disk, since QEMU
// can neither make nor read one (it refuses HasParent). Headers, region tables, the metadata region with
// an optional parent locator (§2.6.2.6), a BAT with a sector bitmap entry per chunk for a differencing
// disk, payload blocks and sector bitmaps. The same builder as in vdisk-vhdx.test.ts (read tests).
//
// The oracles for such a disk: libvhdi (Debian's python3-libvhdi, an independent reader that follows a
// child to its parent) for its bytes, and QEMU for its structure, on a copy made to look like a dynamic
// disk (HasParent cleared, the parent locator item renamed to one QEMU skips), which `qemu-img check`
// then checks as it would any dynamic VHDX: blocks inside the file and clear of the regions, the log.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { crc32c } from '../../src/ext4/checksum.js';

const MiB = 1024 * 1024;

export interface BuiltBlock {
  /** BAT state: 0 NOT_PRESENT, 1 UNDEFINED, 2 ZERO, 3 UNMAPPED, 6 FULLY_PRESENT, 7 PARTIALLY_PRESENT. */
  state: number;
  data?: Buffer;
  /** PARTIALLY_PRESENT: whether sector `i` of the block is in this file. */
  present?: (sector: number) => boolean;
}

const KNOWN = {
  bat: '2dc27766-f623-4200-9d64-115e9bfd4a08',
  metadata: '8b7ca206-4790-4b9a-b8fe-575f050f886e',
  fileParameters: 'caa16737-fa36-4d43-b3b6-33f0aa44e76b',
  virtualDiskSize: '2fa54224-cd1b-4876-b211-5dbed83bf4b8',
  page83: 'beca12ab-b2e6-4523-93ef-c309e000c746',
  logicalSectorSize: '8141bf1d-a96f-4709-ba47-f233a8faab5f',
  physicalSectorSize: 'cda348c7-445d-4471-9cc9-e9885251c556',
  parentLocator: 'a8d35f2d-b30b-454d-abf7-d3d84834ab0c',
  vhdxLocatorType: 'b04aefb7-d19e-4a81-b789-25b8e9445913',
};

export function writeGuid(buf: Buffer, at: number, guid: string): void {
  const [a, b, c, d, e] = guid.split('-') as [string, string, string, string, string];
  buf.writeUInt32LE(parseInt(a, 16), at);
  buf.writeUInt16LE(parseInt(b, 16), at + 4);
  buf.writeUInt16LE(parseInt(c, 16), at + 6);
  Buffer.from(d + e, 'hex').copy(buf, at + 8);
}

export function randomGuid(): string {
  const h = randomBytes(16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Recomputes a CRC-32C at `at + 4` over `length` bytes from `at` (headers, region tables, log entries). */
export function fixCrc(buf: Buffer, at: number, length: number): void {
  buf.writeUInt32LE(0, at + 4);
  buf.writeUInt32LE(crc32c(buf.subarray(at, at + length)), at + 4);
}

function parentLocatorItem(pairs: Record<string, string>): Buffer {
  const entries = Object.entries(pairs);
  const strings: Buffer[] = [];
  const head = Buffer.alloc(20 + entries.length * 12);
  writeGuid(head, 0, KNOWN.vhdxLocatorType);
  head.writeUInt16LE(entries.length, 18);
  let at = head.length;
  entries.forEach(([k, v], i) => {
    const key = Buffer.from(k, 'utf16le');
    const value = Buffer.from(v, 'utf16le');
    head.writeUInt32LE(at, 20 + i * 12);
    head.writeUInt32LE(at + key.length, 20 + i * 12 + 4);
    head.writeUInt16LE(key.length, 20 + i * 12 + 8);
    head.writeUInt16LE(value.length, 20 + i * 12 + 10);
    strings.push(key, value);
    at += key.length + value.length;
  });
  return Buffer.concat([head, ...strings]);
}

function metadataRegion(o: { blockSize: number; virtualSize: number; sectorSize: number; locator: Buffer | null }): Buffer {
  const region = Buffer.alloc(MiB);
  region.write('metadata', 0, 'latin1');
  const items: Array<[string, Buffer, number]> = [];
  const u32 = (n: number): Buffer => Buffer.from(Uint32Array.of(n).buffer);
  items.push([KNOWN.fileParameters, Buffer.concat([u32(o.blockSize), u32(o.locator === null ? 0 : 2)]), 4]);
  items.push([KNOWN.virtualDiskSize, Buffer.from(BigUint64Array.of(BigInt(o.virtualSize)).buffer), 6]);
  items.push([KNOWN.page83, randomBytes(16), 6]);
  items.push([KNOWN.logicalSectorSize, u32(o.sectorSize), 6]);
  items.push([KNOWN.physicalSectorSize, u32(4096), 6]);
  if (o.locator !== null) items.push([KNOWN.parentLocator, o.locator, 4]);
  region.writeUInt16LE(items.length, 10);
  let at = 65536;
  items.forEach(([guid, bytes, flags], i) => {
    writeGuid(region, 32 + i * 32, guid);
    region.writeUInt32LE(at, 32 + i * 32 + 16);
    region.writeUInt32LE(bytes.length, 32 + i * 32 + 20);
    region.writeUInt32LE(flags, 32 + i * 32 + 24);
    bytes.copy(region, at);
    at += bytes.length;
  });
  return region;
}

/** The file: header section, metadata at 1 MiB, BAT at 2 MiB, a 1 MiB empty log, blocks, bitmaps. */
export function buildVhdx(o: { virtualSize: number; blockSize: number; sectorSize?: number; locator: Record<string, string> | null; blocks: Map<number, BuiltBlock> }): Buffer {
  const ss = o.sectorSize ?? 512;
  const cr = (2 ** 23 * ss) / o.blockSize;
  const payload = Math.ceil(o.virtualSize / o.blockSize);
  const chunks = Math.ceil(payload / cr);
  const batEntries = o.locator !== null ? chunks * (cr + 1) : payload + Math.floor((payload - 1) / cr);
  const batLength = Math.ceil((batEntries * 8) / MiB) * MiB;
  const logOffset = 2 * MiB + batLength;
  let next = logOffset + MiB;
  const place = new Map<number, number>();
  for (const [b, block] of o.blocks) if (block.data !== undefined) (place.set(b, next), (next += o.blockSize));
  const bitmapAt = new Map<number, number>();
  for (const [b, block] of o.blocks) if (block.present && !bitmapAt.has(Math.floor(b / cr))) (bitmapAt.set(Math.floor(b / cr), next), (next += MiB));
  const file = Buffer.alloc(next);
  file.write('vhdxfile', 0, 'latin1');
  file.write('haos-rescue test', 8, 'utf16le');
  for (const [i, h] of [64 * 1024, 128 * 1024].entries()) {
    file.write('head', h, 'latin1');
    file.writeBigUInt64LE(BigInt(i + 1), h + 8);
    writeGuid(file, h + 16, randomGuid());
    writeGuid(file, h + 32, '11111111-2222-3333-4444-555555555555');
    file.writeUInt16LE(1, h + 66);
    file.writeUInt32LE(MiB, h + 68);
    file.writeBigUInt64LE(BigInt(logOffset), h + 72);
    fixCrc(file, h, 4096);
  }
  for (const t of [192 * 1024, 256 * 1024]) {
    file.write('regi', t, 'latin1');
    file.writeUInt32LE(2, t + 8);
    for (const [i, [guid, offset, length]] of ([[KNOWN.bat, 2 * MiB, batLength], [KNOWN.metadata, MiB, MiB]] as const).entries()) {
      writeGuid(file, t + 16 + i * 32, guid);
      file.writeBigUInt64LE(BigInt(offset), t + 16 + i * 32 + 16);
      file.writeUInt32LE(length, t + 16 + i * 32 + 24);
      file.writeUInt32LE(1, t + 16 + i * 32 + 28);
    }
    fixCrc(file, t, 65536);
  }
  const locator = o.locator === null ? null : parentLocatorItem(o.locator);
  metadataRegion({ blockSize: o.blockSize, virtualSize: o.virtualSize, sectorSize: ss, locator }).copy(file, MiB);
  const setEntry = (index: number, state: number, offset: number): void => {
    file.writeBigUInt64LE(BigInt(offset / MiB) * 2n ** 20n + BigInt(state), 2 * MiB + index * 8);
  };
  for (const [b, block] of o.blocks) {
    setEntry(b + Math.floor(b / cr), block.state, place.get(b) ?? 0);
    block.data?.copy(file, place.get(b)!);
    if (block.present === undefined) continue;
    const bits = bitmapAt.get(Math.floor(b / cr))!;
    const perBlock = o.blockSize / ss;
    for (let s = 0; s < perBlock; s++) {
      const bit = (b % cr) * perBlock + s;
      if (block.present(s)) file[bits + (bit >> 3)]! |= 1 << (bit & 7);
    }
  }
  for (const [chunk, at] of bitmapAt) setEntry(chunk * (cr + 1) + cr, 6, at);
  return file;
}

/** What the built disk should read as: `base` (the parent's bytes, or zeros) with the blocks applied. */
export function expectedBytes(base: Buffer, blockSize: number, sectorSize: number, blocks: Map<number, BuiltBlock>): Buffer {
  const out = Buffer.from(base);
  for (const [b, block] of blocks) {
    const start = b * blockSize;
    const end = Math.min(out.length, start + blockSize);
    if (block.state === 6) block.data!.copy(out, start, 0, end - start);
    else if (block.state === 7) {
      for (let s = 0; start + s * sectorSize < end; s++) if (block.present!(s)) block.data!.copy(out, start + s * sectorSize, s * sectorSize, (s + 1) * sectorSize);
    } else if (block.state !== 0) out.fill(0, start, end);
  }
  return out;
}

/** Debian's interpreter, where python3-libvhdi installs pyvhdi. */
const PYTHON = '/usr/bin/python3';
const LIBVHDI_READ = `
import sys, pyvhdi
files = []
for path in sys.argv[1:-1]:
    f = pyvhdi.file()
    f.open(path)
    files.append(f)
for child, parent in zip(files, files[1:]):
    child.set_parent(parent)
top = files[0]
size = top.get_media_size()
with open(sys.argv[-1], 'wb') as out:
    for at in range(0, size, 1 << 20):
        out.write(top.read_buffer_at_offset(min(1 << 20, size - at), at))
`;

/**
 * The guest bytes of `chain` (a VHDX, then its parent, and so on) as libvhdi reads them. libvhdi checks
 * that each child's parent_linkage names its parent's DataWriteGuid, and does not replay a log.
 */
export function libvhdiRaw(chain: string[], scratch: string): Buffer {
  execFileSync(PYTHON, ['-c', LIBVHDI_READ, ...chain, scratch], { stdio: ['ignore', 'ignore', 'pipe'] });
  const bytes = readFileSync(scratch);
  rmSync(scratch);
  return bytes;
}

function isGuid(file: Buffer, at: number, guid: string): boolean {
  const bytes = Buffer.alloc(16);
  writeGuid(bytes, 0, guid);
  return file.subarray(at, at + 16).equals(bytes);
}

/** Where a metadata item of the VHDX in `file` sits: its table entry and its data (first region table). */
function metadataItem(file: Buffer, guid: string): { entry: number; data: number } {
  let metadata = -1;
  for (let i = 0; i < file.readUInt32LE(192 * 1024 + 8); i++) {
    const at = 192 * 1024 + 16 + i * 32;
    if (isGuid(file, at, KNOWN.metadata)) metadata = Number(file.readBigUInt64LE(at + 16));
  }
  if (metadata < 0) throw new Error('no metadata region');
  for (let i = 0; i < file.readUInt16LE(metadata + 10); i++) {
    const entry = metadata + 32 + i * 32;
    if (isGuid(file, entry, guid)) return { entry, data: metadata + file.readUInt32LE(entry + 16) };
  }
  throw new Error(`no metadata item ${guid}`);
}

/**
 * A copy of a differencing VHDX that QEMU opens as a dynamic one: HasParent cleared and the parent locator
 * item given an unknown GUID without IsRequired (QEMU refuses both a parent and a locator it cannot use).
 */
export function detachedCopy(child: Buffer): Buffer {
  const copy = Buffer.from(child);
  const params = metadataItem(copy, KNOWN.fileParameters);
  copy.writeUInt32LE(copy.readUInt32LE(params.data + 4) & ~2, params.data + 4);
  const locator = metadataItem(copy, KNOWN.parentLocator);
  copy.fill(0x42, locator.entry, locator.entry + 16);
  copy.writeUInt32LE(0, locator.entry + 24);
  return copy;
}

/** `detached` (a detachedCopy, changed since) made a differencing disk again as in `original`. */
export function reattached(detached: Buffer, original: Buffer): Buffer {
  const copy = Buffer.from(detached);
  const params = metadataItem(original, KNOWN.fileParameters);
  original.copy(copy, params.data + 4, params.data + 4, params.data + 8);
  const locator = metadataItem(original, KNOWN.parentLocator);
  original.copy(copy, locator.entry, locator.entry, locator.entry + 32);
  return copy;
}

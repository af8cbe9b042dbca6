// Virtual machine disk files (qcow2, VDI, VHD, VHDX, VMDK, OVA) opened as they are: the container is
// recognised by its bytes (never by the file name) and its guest disk read through it, like a raw image.
// Backing (parent) files open through the same recognition, read-only, at most 16 deep and never in a
// loop. Opened for writing, a format (or variant) that cannot be written inside is refused with the
// `qemu-img convert` route to a raw copy to write to; backing files are only ever read.

import { realpath, stat } from 'node:fs/promises';
import { type AppError, CorruptError, NotFoundError, UnsupportedError } from '../../errors.js';
import { DiskFileUnsupportedError } from './unsupported.js';
import type { BlockDevice } from '../block-device.js';
import { openFileDevice } from '../file-device.js';
import { formatBytes } from '../../units.js';
import { isMediumError } from '../map-os-error.js';
import { type DiskFileKind, recognise } from './recognise.js';
import { type ContainerDevice, type ContainerInfo, type OpenContext, containerOf } from './types.js';

export { type ContainerDevice, type ContainerInfo, containerOf } from './types.js';

const HEAD_BYTES = 64 * 1024;
const MAX_CHAIN = 16;

type Opener = (file: BlockDevice, ctx: OpenContext) => Promise<ContainerDevice>;

/** The reader of each kind, loaded when a file of that kind is opened (most sources are raw: none is). */
const READERS: Record<DiskFileKind, () => Promise<Opener>> = {
  qcow2: async () => (await import('./qcow2.js')).openQcow2,
  vhdx: async () => (await import('./vhdx.js')).openVhdx,
  vdi: async () => (await import('./vdi.js')).openVdi,
  vmdk: async () => (await import('./vmdk.js')).openVmdk,
  ova: async () => (await import('./ova.js')).openOva,
  vhd: async () => (await import('./vhd.js')).openVhd,
};

/**
 * A file named as a VHDX whose first 8 bytes are not "vhdxfile" but whose header at 64 KiB or 128 KiB is there
 * ("head"): read as a raw disk, its data was found by searching, right only while its blocks lay in order.
 */
async function vhdxWithoutIdentifier(file: BlockDevice, path: string): Promise<boolean> {
  if (!/\.a?vhdx$/i.test(path) || file.sizeBytes < 1024 * 1024) return false;
  const at = async (offset: number): Promise<boolean> => (await file.read(offset, 4).catch(() => Buffer.alloc(4))).toString('latin1') === 'head';
  return (await at(64 * 1024)) || (await at(128 * 1024));
}

/**
 * Opens `file` (an image file, already open read-only) as the guest disk of its container, or returns null
 * for a raw image. `chain` is the set of real paths opened so far (backing files), to stop loops.
 */
export async function openContainer(file: BlockDevice, path: string, chain: string[] = [], writable = false): Promise<ContainerDevice | null> {
  if (file.sizeBytes === 0) return null;
  let head: Buffer;
  let tail: Buffer;
  try {
    head = await file.read(0, Math.min(HEAD_BYTES, file.sizeBytes));
    tail = file.sizeBytes >= 512 ? await file.read(file.sizeBytes - 512, 512) : Buffer.alloc(0);
  } catch (err) {
    // A bad sector where a disk file's header would be: read on as a raw image, sector by sector as needed
    // (a disk file whose header is unreadable could not be opened as one anyway).
    if (isMediumError(err)) return null;
    throw err;
  }
  const recognised = recognise(head, tail);
  const damagedIdentifier = recognised === null && (await vhdxWithoutIdentifier(file, path));
  const kind = recognised ?? (damagedIdentifier ? 'vhdx' : null);
  if (kind === null) return null;
  const open = await READERS[kind]();
  const here = await realpath(path).catch(() => path);
  const seen: { refusal?: AppError | 'read-only' } = {};
  const ctx: OpenContext = {
    path,
    openBacking: (backing) => openBacking(backing, [...chain, here]),
    ...(writable ? { writable: true } : { writeRefused: (refusal) => (seen.refusal ??= refusal) }),
    ...(damagedIdentifier ? { damagedIdentifier: true as const } : {}),
  };
  const guest = await open(file, ctx);
  if (chain.length === 0 && guest.sizeBytes === 0) {
    await guest.close().catch(() => undefined);
    throw emptyDisk(guest.description, file.sizeBytes);
  }
  if (writable && !guest.writable) {
    await guest.close().catch(() => undefined);
    throw readOnlyKindError(path, guest.container);
  }
  const { refusal } = seen;
  if (knownReadOnly(guest.container) || refusal === 'read-only') refusals.set(guest.container, readOnlyKindError(path, guest.container));
  else if (refusal !== undefined) refusals.set(guest.container, refusal);
  return guest;
}

/** A disk file of megabytes whose header says its disk is 0 bytes (named itself, not as a backing file): not a copy that stopped at once. */
function emptyDisk(description: string, fileBytes: number): NotFoundError {
  return new NotFoundError('EMPTY_SOURCE', `${description} is ${formatBytes(fileBytes)}, but its header says the disk in it is 0 bytes: it was made empty, or its header is damaged`, {
    hint: "name the virtual machine's other disk file if it has one (its settings list them); else use another copy of this file, or a backup of the virtual machine",
  });
}

/** What a read-only opened disk file saw that a write inside it would be refused for. */
const refusals = new WeakMap<ContainerInfo, AppError>();

/**
 * Why a write inside the disk file `device` is read through would be refused, told from what was read
 * (a rehearsal and `info` never open the file for writing; the write does, and throws the same), or null.
 */
export function writeRefusalOf(device: BlockDevice): AppError | null {
  const container = containerOf(device);
  return container === null ? null : (refusals.get(container) ?? null);
}

/** The refusal of a write inside a disk file of a kind only read: what it is, and the way to a copy to write to. */
export function readOnlyKindError(path: string, info: ContainerInfo): UnsupportedError {
  const a = /^[aeiou]/.test(info.format) ? 'an' : 'a';
  // qemu-img reads an OVA as raw bytes (the tar): its copy is made by this tool's imaging instead.
  const copy = info.format === 'ova' ? { hint: OVA_COPY_HINT, remedy: 'raw-image' as const, details: { path } } : { hint: writableCopyHint(path, info) };
  return new DiskFileUnsupportedError('VDISK_READ_ONLY', `${path} is ${a} ${info.format} ${info.variant} disk file; haos-rescue reads it but does not write inside it`, copy);
}

/** Kinds never written inside: an OVA, a streamOptimized VMDK. */
function knownReadOnly(info: ContainerInfo): boolean {
  return info.format === 'ova' || (info.format === 'vmdk' && info.variant === 'streamOptimized');
}

/** The way on from a broken chain of backing files; qemu-img cannot rename a VHD's parent, so the file comes first. */
const CHAIN_HINT = 'put the disk file it was made from in place of the one it names (for a qcow2, name it: qemu-img rebase -u -b PARENT FILE)';

async function openBacking(path: string, chain: string[]): Promise<BlockDevice> {
  if (chain.length >= MAX_CHAIN) throw new DiskFileUnsupportedError('VDISK_CHAIN_TOO_DEEP', `the chain of backing files is deeper than ${MAX_CHAIN} (${chain[0]} ...)`, { hint: 'flatten it with qemu-img convert into one file' });
  const real = await realpath(path).catch(() => null);
  if (real === null) throw new NotFoundError('VDISK_BACKING_MISSING', `the backing file ${path} does not exist`, { hint: `put it back where ${chain[chain.length - 1]} expects it, or name its new place with qemu-img rebase -u -b NEWPATH` });
  const child = chain[chain.length - 1];
  // Damage of the chain, not a safety refusal (it was 77), and no qemu-img route: it cannot rename a VHD's parent.
  if (chain.includes(real)) {
    throw new CorruptError('VDISK_CHAIN_LOOP', `the backing files form a loop at ${real}: ${child} names a disk file that leads back to it`, {
      hint: CHAIN_HINT,
    });
  }
  // A device, folder or pipe named as the parent: said as the disk file's (it was "X is a character device, not
  // a disk or an image: name the disk", exit 64, as if the user had named it).
  const kind = await stat(real).then((st) => (st.isFile() ? null : st.isDirectory() ? 'a folder' : 'a device or other special file'), () => null);
  if (kind !== null) {
    throw new CorruptError('VDISK_BACKING_NOT_FILE', `${child} names ${real} as the disk file it was made from, and that is ${kind}, not a disk file`, {
      hint: CHAIN_HINT,
    });
  }
  const file = await openFileDevice(real, { writable: false });
  try {
    return (await openContainer(file, real, chain)) ?? file;
  } catch (err) {
    await file.close().catch(() => undefined);
    throw err;
  }
}

const OVA_COPY_HINT = 'shut the VM down, make a raw copy of its disk, run the command on that copy, then convert it back (qemu-img convert -O vmdk disk.img NEW.vmdk) and attach NEW.vmdk to the VM';

/** The hint of a write refused on a container: a raw copy to write to, and how to turn it back. */
export function writableCopyHint(path: string, info: ContainerInfo): string {
  const fmt = info.format === 'vhd' ? 'vpc' : info.format === 'ova' ? 'vmdk' : info.format;
  return `shut the VM down, make a raw copy (qemu-img convert -O raw "${path}" disk.img), run the command on disk.img, then convert it back (qemu-img convert -O ${fmt} disk.img NEW-FILE) and attach NEW-FILE to the VM`;
}

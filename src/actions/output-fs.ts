// The format of the disk a copy goes to, where it limits the size of one file: FAT32 (as most USB sticks
// come) and FAT16 hold files of at most 4 GiB - 1 byte. Known before a long copy, a 32 GB card image or a
// 5 GB history database is refused or left out at the start, not after 4 GiB were read from a failing card.
// Linux: the mount of the folder's device number in /proc/self/mountinfo; macOS: `mount`'s list; Windows:
// the drive's format from .NET's DriveInfo. Not found out (a network share, a command that fails): no limit
// is assumed, and a write the disk refuses as too big still ends with that reason (output-error.ts).

import { constants } from 'node:fs';
import { access, readFile, realpath, stat, statfs } from 'node:fs/promises';
import { dirname, resolve, win32 } from 'node:path';
import { majorMinor } from '../device/folder-source.js';
import { createRunCommand } from '../disks/run-command.js';
import { mountTypes } from '../disks/mountinfo.js';
import type { RunCommand } from '../disks/types.js';
import { formatBytes } from '../units.js';

export interface FileSizeLimit {
  /** The largest file the disk can hold, in bytes. */
  maxBytes: number;
  /** The disk's format as people know it: "FAT32". */
  format: string;
}

export const FAT_LIMIT: FileSizeLimit = { maxBytes: 2 ** 32 - 1, format: 'FAT32' };
/** Names of FAT file systems in the mount tables (Linux, FUSE's fusefat, macOS) and in Windows' DriveInfo. */
const FAT_NAMES = new Set(['vfat', 'msdos', 'fat', 'umsdos', 'fuse.fusefat', 'fat12', 'fat16', 'fat32']);

export interface OutputFsOptions {
  platform?: NodeJS.Platform;
  run?: RunCommand;
  /** Text of /proc/self/mountinfo (default: read it). */
  mountinfo?: string;
}

/**
 * Which files are too big for the disk at `path`: a function giving that disk's limit for a size over it,
 * else null. The disk is asked once, and only about a file over 4 GiB (on Windows the question starts
 * PowerShell, about a second).
 */
export function sizeChecker(path: string, opts: OutputFsOptions = {}): (bytes: number) => Promise<FileSizeLimit | null> {
  let limit: Promise<FileSizeLimit | null> | null = null;
  return async (bytes) => {
    if (bytes <= FAT_LIMIT.maxBytes) return null;
    limit ??= fileSizeLimit(path, opts);
    const found = await limit;
    return found !== null && bytes > found.maxBytes ? found : null;
  };
}

/** The file size limit of the disk that holds `path` (or would: the nearest folder that exists), or null. */
export async function fileSizeLimit(path: string, opts: OutputFsOptions = {}): Promise<FileSizeLimit | null> {
  const platform = opts.platform ?? process.platform;
  try {
    const format =
      platform === 'win32' ? await windowsFormat(win32.resolve(path), opts.run)
      : platform === 'linux' ? await linuxFormat(await existingAncestor(resolve(path)), opts.mountinfo)
      : platform === 'darwin' ? await macFormat(await existingAncestor(resolve(path)), opts.run)
      : null;
    return format !== null && FAT_NAMES.has(format.toLowerCase()) ? FAT_LIMIT : null;
  } catch {
    return null;
  }
}

/**
 * The bytes this user may still write on the disk that holds `path` (or would: the nearest folder that
 * exists), or null when the disk does not say: a file system reporting no size at all (some FUSE ones), or
 * statfs failing (a network share).
 */
export async function freeBytes(path: string): Promise<number | null> {
  try {
    const folder = await existingAncestor(resolve(path));
    const info = await statfs(folder);
    // A folder that takes no writes (a read-only disk, no rights): its room is beside the point, and the
    // write says why (a small read-only disk was said to lack room).
    if (!(await access(folder, constants.W_OK).then(() => true, () => false))) return null;
    return info.blocks === 0 ? null : info.bavail * info.bsize;
  } catch {
    return null;
  }
}

/** The nearest folder of `path` that exists (itself when it does), its real path. */
export async function existingAncestor(path: string): Promise<string> {
  for (let p = path; ; p = dirname(p)) {
    // A path that is there but has no real path (/dev/stdout on a pipe: /proc/self/fd/1 -> "pipe:[…]") as it is.
    if (await stat(p).then(() => true, () => false)) return realpath(p).catch(() => p);
    if (dirname(p) === p) return p;
  }
}

/** The file system type of the mount with the folder's device number ("vfat", "fuse.fusefat", ...). */
async function linuxFormat(folder: string, mountinfo?: string): Promise<string | null> {
  const dev = majorMinor((await stat(folder, { bigint: true })).dev);
  return mountTypes(mountinfo ?? (await readFile('/proc/self/mountinfo', 'utf8'))).get(dev) ?? null;
}

/** `mount` on macOS: "/dev/disk4s1 on /Volumes/NO NAME (msdos, local, nodev, nosuid, noowners)". */
export function macMountFormat(mountText: string, folder: string): string | null {
  let best: { at: string; format: string } | null = null;
  for (const line of mountText.split('\n')) {
    const m = / on (.+) \(([^,)]+)/.exec(line);
    if (!m) continue;
    const at = m[1]!;
    const inside = folder === at || folder.startsWith(at.endsWith('/') ? at : `${at}/`);
    if (inside && (best === null || at.length > best.at.length)) best = { at, format: m[2]!.trim() };
  }
  return best?.format ?? null;
}

async function macFormat(folder: string, run: RunCommand = createRunCommand(10_000)): Promise<string | null> {
  return macMountFormat(await run('/sbin/mount', []), folder);
}

/** The drive's format ("FAT32", "NTFS", "exFAT"); null for a network share (\\server\share). */
async function windowsFormat(folder: string, run: RunCommand = createRunCommand(20_000)): Promise<string | null> {
  const drive = /^([A-Za-z]):/.exec(folder)?.[1];
  if (!drive) return null;
  const out = await run('powershell.exe', ['-NoProfile', '-NonInteractive', '-Command', `([System.IO.DriveInfo]'${drive.toUpperCase()}:').DriveFormat`]);
  return out.trim() || null;
}

/** "X is 5.2 GiB; OUT is on a FAT32 disk, which holds files of at most 4 GiB". */
export function tooBigText(what: string, bytes: number, out: string, limit: FileSizeLimit): string {
  return `${what} is ${formatBytes(bytes)}; ${out} is on a ${limit.format} disk, which holds files of at most 4 GiB`;
}

/** Where such a file can go. */
export const FORMATS_WITHOUT_LIMIT = 'choose a folder on a disk formatted NTFS, exFAT, APFS or ext4';
/** What to do instead: the disk formats without that limit. */
export const TOO_BIG_HINT = `${FORMATS_WITHOUT_LIMIT} (this computer's own disk is one), or reformat the USB stick as exFAT`;

/**
 * This computer's umask. Read by setting it, so set to the strictest for that instant (a file another thread
 * makes meanwhile gets fewer rights, never more), then put back.
 */
export function currentUmask(): number {
  const mask = process.umask(0o077);
  process.umask(mask);
  return mask;
}

// Is the source in use by this computer? A write to a mounted filesystem would race the kernel's own
// cache and journal, so every write command refuses then (exit 77). Linux: /proc/self/mountinfo lists the
// device number of every mount; the source is in use when it, one of its partitions, or (for an image
// file or a loop device) any loop device backed by the same file or one of its partitions is mounted.

import type { BigIntStats } from 'node:fs';
import { readFile, readdir, realpath, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { mapOsError } from '../device/map-os-error.js';
import { existingAncestor } from './output-fs.js';
import { RefusedError, UsageError } from '../errors.js';
import type { RunCommand } from '../disks/types.js';
import { parseMountinfo } from '../disks/mountinfo.js';
import { checkMountsOther } from './host-mounts-other.js';

export { parseMountinfo };

interface DevNumber {
  major: number;
  minor: number;
}

const key = (d: DevNumber): string => `${d.major}:${d.minor}`;

function splitRdev(rdev: bigint): DevNumber {
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return { major, minor };
}

/** The device itself and its partitions (from /sys/dev/block/MAJ:MIN/<child>/dev). */
async function withPartitions(dev: DevNumber, sysfs: string): Promise<string[]> {
  const keys = [key(dev)];
  const dir = `${sysfs}/dev/block/${key(dev)}`;
  try {
    for (const child of await readdir(dir)) {
      const devFile = await readFile(`${dir}/${child}/dev`, 'utf8').catch(() => null);
      if (devFile) keys.push(devFile.trim());
    }
  } catch {
    // No sysfs entry: only the device itself can be checked.
  }
  return withHolders(keys, sysfs);
}

/**
 * `keys` and every device stacked on them (sysfs holders, followed down): an LVM logical volume or a LUKS
 * mapping that this computer activated over a partition is mounted as its own device (dm-N).
 */
async function withHolders(keys: string[], sysfs: string): Promise<string[]> {
  const all = new Set(keys);
  const todo = [...keys];
  while (todo.length > 0 && all.size < 1024) {
    const k = todo.pop()!;
    const holders = await readdir(`${sysfs}/dev/block/${k}/holders`).catch(() => [] as string[]);
    for (const h of holders) {
      const devFile = await readFile(`${sysfs}/class/block/${h}/dev`, 'utf8').catch(() => null);
      const held = devFile?.trim();
      if (held && !all.has(held)) {
        all.add(held);
        todo.push(held);
      }
    }
  }
  return [...all];
}

/** The disk a partition belongs to (sysfs: the partition's folder lies inside its disk's), or null. */
async function diskOf(dev: DevNumber, sysfs: string): Promise<DevNumber | null> {
  try {
    const dir = await realpath(`${sysfs}/dev/block/${key(dev)}`);
    if ((await stat(`${dir}/partition`).catch(() => null)) === null) return null;
    const [major, minor] = (await readFile(`${dirname(dir)}/dev`, 'utf8')).trim().split(':').map(Number) as [number, number];
    return { major, minor };
  } catch {
    return null;
  }
}

/** The file a loop device reads (as the kernel names it), or null for another device. */
async function loopBacking(dev: DevNumber, sysfs: string): Promise<string | null> {
  return (await readFile(`${sysfs}/dev/block/${key(dev)}/loop/backing_file`, 'utf8').catch(() => null))?.trim() ?? null;
}

/** A file's device and inode, one key for every name it has (hard links, bind mounts, symlinks). */
const fileKey = (st: { dev: bigint; ino: bigint }): string => `file ${st.dev}:${st.ino}`;

/**
 * What `path` is in the end, so that two names of one thing compare equal: a file's device and inode, a
 * loop device's backing file's, another block device's number; null when nothing is there.
 */
async function identity(path: string, sysfs: string): Promise<string | null> {
  const st = await stat(path, { bigint: true }).catch(() => null);
  if (st === null) return null;
  if (!st.isBlockDevice()) return fileKey(st);
  const backing = await loopBacking(splitRdev(st.rdev), sysfs);
  const file = backing === null ? null : await stat(backing, { bigint: true }).catch(() => null);
  return file?.isFile() ? fileKey(file) : `block ${st.rdev}`;
}

/** Loop devices whose backing file is `file` (by any of its names). */
async function loopDevicesBackedBy(file: string, sysfs: string): Promise<string[]> {
  const out: string[] = [];
  let names: string[] = [];
  try {
    names = (await readdir(`${sysfs}/block`)).filter((n) => n.startsWith('loop'));
  } catch {
    return out;
  }
  const wanted = await stat(file, { bigint: true }).then(fileKey, () => null);
  for (const name of names) {
    const backing = (await readFile(`${sysfs}/block/${name}/loop/backing_file`, 'utf8').catch(() => null))?.trim() ?? null;
    if (backing === null) continue;
    const same = backing === file || (wanted !== null && (await stat(backing, { bigint: true }).then(fileKey, () => null)) === wanted);
    if (same) {
      const dev = await readFile(`${sysfs}/block/${name}/dev`, 'utf8').catch(() => null);
      if (dev) out.push(dev.trim());
    }
  }
  return out;
}

export interface MountCheckOptions {
  sysfs?: string;
  mountinfo?: string;
  /** Partition number of the data filesystem (used on Windows); null when the source is the filesystem. */
  dataPartition?: number | null;
  platform?: NodeJS.Platform;
  /** Runs diskutil / PowerShell on macOS and Windows; replaced by tests. */
  run?: RunCommand;
}

/**
 * Throws RefusedError HOST_MOUNTED when any part of `source` is in use on this computer. Resolves with
 * what was done on the way (macOS unmounts the card's volumes first), for the user to read.
 */
export async function assertNotMounted(source: string, opts: MountCheckOptions = {}): Promise<string[]> {
  const platform = opts.platform ?? process.platform;
  if (platform === 'darwin' || platform === 'win32') {
    return checkMountsOther(source, { platform, dataPartition: opts.dataPartition ?? null, ...(opts.run ? { run: opts.run } : {}) });
  }
  if (platform !== 'linux') {
    if ((await statSource(source)).isFile()) return [];
    throw new RefusedError('MOUNT_CHECK_UNAVAILABLE', `haos-rescue cannot check whether ${source} is in use on ${platform}, so it does not write to it`, {
      hint: 'save an image of the card, change the image, and write it back; or run haos-rescue on Linux, macOS or Windows. Nothing was written',
    });
  }
  const sysfs = opts.sysfs ?? '/sys';
  const mounts = parseMountinfo(opts.mountinfo ?? (await readFile('/proc/self/mountinfo', 'utf8')));
  for (const d of await sourceDevices(source, sysfs)) {
    const where = mounts.get(d);
    if (where) {
      throw new RefusedError('HOST_MOUNTED', `${source} is in use: device ${d} is mounted at ${where} on this computer`, {
        details: { device: d, mountPoint: where },
        hint: `unmount it first (sudo umount ${where}); nothing was written`,
      });
    }
  }
  return [];
}

/** The source's kind and device number; one gone since it was opened (a card pulled) said as such, not a crash. */
async function statSource(source: string): Promise<BigIntStats> {
  try {
    return await stat(source, { bigint: true });
  } catch (err) {
    throw mapOsError(err, { op: 'stat', path: source });
  }
}

/**
 * Linux: the device numbers ("major:minor") through which `source` can be mounted: the device and its
 * partitions, and (for an image file or a loop device) every loop device backed by the same file, with theirs.
 * With `wholeDisk`, a partition brings its disk and the disk's other partitions (the card's boot partition).
 */
async function sourceDevices(source: string, sysfs: string, wholeDisk = false): Promise<string[]> {
  const st = await statSource(source);
  const devices: string[] = [];
  let backingFile: string | null = null;
  if (st.isBlockDevice()) {
    const dev = splitRdev(st.rdev);
    devices.push(...(await withPartitions((wholeDisk ? await diskOf(dev, sysfs) : null) ?? dev, sysfs)));
    // A loop device: the same file may also be attached (and mounted) through another loop device.
    backingFile = await loopBacking(dev, sysfs);
  } else if (st.isFile()) {
    backingFile = await realpath(source);
  }
  if (backingFile) {
    for (const loop of await loopDevicesBackedBy(backingFile, sysfs)) {
      const [major, minor] = loop.split(':').map(Number) as [number, number];
      devices.push(...(await withPartitions({ major, minor }, sysfs)));
    }
  }
  return devices;
}

/**
 * Refuses (exit 64) an output that is the image being read (even with --force: it is the only copy), or
 * that lies on the card being read, mounted by this computer (a Linux desktop mounts an inserted card's
 * partitions by itself): it would write to the card. The second check is Linux only; elsewhere, and when
 * the check cannot be made, nothing is refused.
 */
export async function assertOutputOffSource(source: string, outs: string[], opts: { sysfs?: string; platform?: NodeJS.Platform } = {}): Promise<void> {
  const sysfs = opts.sysfs ?? '/sys';
  const src = await identity(source, sysfs);
  const isFile = (await stat(source).catch(() => null))?.isFile() === true;
  for (const out of outs) {
    if (src === null || (await identity(out, sysfs)) !== src) continue;
    // A loop device and the image file behind it are one card by two names, either way round.
    const what = resolve(out) === resolve(source) ? 'the image being read' : isFile ? `${source}, the image being read` : `what ${source} reads, the card being read`;
    throw new UsageError('OUTPUT_IS_SOURCE', `the output ${out} is ${what}`, { hint: 'give the output another name; nothing was written' });
  }
  if ((opts.platform ?? process.platform) !== 'linux') return;
  let devices: string[] | null = null;
  for (const out of outs) {
    const outDev = key(splitRdev((await stat(await existingAncestor(resolve(out)), { bigint: true })).dev));
    devices ??= await sourceDevices(source, sysfs, true).catch(() => [] as string[]);
    if (!devices.includes(outDev)) continue;
    const where = parseMountinfo(await readFile('/proc/self/mountinfo', 'utf8').catch(() => '')).get(outDev);
    throw new UsageError('OUTPUT_ON_SOURCE', `${out} is on ${source}, the card being read${where ? ` (this computer has it mounted at ${where})` : ''}: copying there would write to the card`, {
      hint: 'choose a folder on this computer\'s own disk, e.g. in your home folder; nothing was copied',
    });
  }
}


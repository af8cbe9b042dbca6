// A folder given as SOURCE. The commonest reason: the computer showed one partition of the card (the boot
// partition, or on Linux the data partition itself) as a folder or drive letter, and that is what the owner
// passes. The error then names the partition and the disk it is on, so the next command is plain. On Linux
// the folder's device number leads through /sys/dev/block to the partition and its disk; a Windows drive
// letter and a macOS /Volumes folder get the way to find the disk.

import { readFile, realpath, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { UsageError } from '../errors.js';

const LISTS_DISKS = 'the list of disks shows which hold Home Assistant data';

/** Linux dev_t (glibc's encoding, as stat gives it) as "major:minor". */
export function majorMinor(dev: bigint): string {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

/** The block device behind a folder on Linux: its name, and the partition number and disk when it is a partition. */
export async function deviceOfFolder(path: string, sysRoot = '/sys'): Promise<{ device: string; disk: string | null; partition: number | null } | null> {
  try {
    const st = await stat(path, { bigint: true });
    const real = await realpath(`${sysRoot}/dev/block/${majorMinor(st.dev)}`);
    const part = await readFile(`${real}/partition`, 'utf8').catch(() => null);
    const n = part === null ? NaN : Number(part.trim());
    return Number.isInteger(n) && n > 0 ? { device: `/dev/${basename(real)}`, disk: `/dev/${basename(dirname(real))}`, partition: n } : { device: `/dev/${basename(real)}`, disk: null, partition: null };
  } catch {
    return null;
  }
}

/** The error for a folder given as SOURCE, naming the disk behind it where this system can tell. */
export async function folderSourceError(path: string, platform: NodeJS.Platform = process.platform): Promise<UsageError> {
  if (platform === 'win32' && /^[a-z]:[\\/]?$/i.test(path)) {
    return new UsageError('SOURCE_IS_DIRECTORY', `${path} is a drive letter: Windows shows one partition of a disk there, not the disk`, {
      hint: `give the whole disk, \\\\.\\PhysicalDriveN (Disk Management shows the number N): ${LISTS_DISKS}`,
      remedy: 'list-disks',
    });
  }
  if (platform === 'darwin' && path.startsWith('/Volumes/')) {
    return new UsageError('SOURCE_IS_DIRECTORY', `${path} is a folder: macOS shows one partition of a disk there, not the disk`, {
      hint: `give the whole disk, /dev/rdiskN (diskutil info "${path}" names it as "Part of Whole"): ${LISTS_DISKS}`,
      remedy: 'list-disks',
    });
  }
  const behind = platform === 'linux' ? await deviceOfFolder(path) : null;
  if (behind === null) {
    return new UsageError('SOURCE_IS_DIRECTORY', `${path} is a folder, not an image or disk`, { hint: `give the image file or the disk itself, e.g. /dev/sdb: ${LISTS_DISKS}`, remedy: 'list-disks' });
  }
  const target = behind.disk ?? behind.device;
  const shown = behind.disk ? `partition ${behind.partition} of the disk ${behind.disk} (${behind.device})` : behind.device;
  const system = await deviceOfFolder('/');
  if (system !== null && (system.disk ?? system.device) === target) {
    return new UsageError('SOURCE_IS_DIRECTORY', `${path} is a folder on this computer's own disk (${shown}), not an image or disk`, {
      hint: `give the image file or the card's disk itself, e.g. /dev/sdb: ${LISTS_DISKS}`,
      remedy: 'list-disks',
    });
  }
  return new UsageError('SOURCE_IS_DIRECTORY', `${path} is a folder: this computer shows ${shown} there`, {
    hint: `give the disk itself, not a folder: if ${target} is the Home Assistant card, give ${target}; ${LISTS_DISKS}`,
    remedy: 'list-disks',
    details: { device: behind.device, disk: behind.disk, partition: behind.partition },
  });
}

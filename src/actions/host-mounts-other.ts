// The in-use check before a write on macOS and Windows (Linux: host-mounts.ts). Both ask the OS's disk
// listing (src/disks) about the disk behind SOURCE.
// macOS auto-mounts the card's FAT boot partition, and refuses writes to a disk with mounted volumes: the
// whole disk is unmounted with `diskutil unmountDisk` first (said so in the result), then checked again.
// Windows cannot mount ext4 by itself; a third-party ext4 driver can. It blocks raw writes only inside
// mounted volumes, so the data partition itself must not be a mounted volume; the FAT boot partition's
// drive letter does not matter.

import { stat } from 'node:fs/promises';
import { refusedWrite } from '../errors.js';
import { listDisks } from '../disks/list.js';
import { runCommand } from '../disks/run-command.js';
import type { DiskInfo, RunCommand } from '../disks/types.js';

export interface OtherMountOptions {
  platform: 'darwin' | 'win32';
  /** Partition number of the data filesystem the write goes to (null: the whole device is the filesystem). */
  dataPartition: number | null;
  run?: RunCommand;
}

/** The whole disk SOURCE names: "disk4" for /dev/rdisk4 or /dev/disk4s8, "2" for \\.\PhysicalDrive2. */
export function diskIdOf(source: string, platform: 'darwin' | 'win32'): string | null {
  if (platform === 'darwin') return /^\/dev\/r?(disk\d+)(s\d+)?$/.exec(source)?.[1] ?? null;
  return /^\\\\[.?]\\PhysicalDrive(\d+)$/i.exec(source)?.[1] ?? null;
}

/** The listed disk whose SOURCE path names whole disk `id` (as diskIdOf gives it). */
export function findDisk(disks: DiskInfo[], id: string, platform: 'darwin' | 'win32'): DiskInfo | null {
  return disks.find((d) => diskIdOf(d.path, platform) === id) ?? null;
}

/**
 * Throws RefusedError when the disk cannot be written safely; resolves with what was done on the way
 * (macOS: the unmount) for the user to read. Image files pass: nothing mounts them behind our back.
 */
export async function checkMountsOther(source: string, opts: OtherMountOptions): Promise<string[]> {
  const st = await stat(source).catch(() => null);
  if (st?.isFile()) return [];
  const id = diskIdOf(source, opts.platform);
  if (id === null) {
    throw refusedWrite('MOUNT_CHECK_UNAVAILABLE', `${source} is not a disk name haos-rescue can check for mounted volumes`,
      `${opts.platform === 'darwin' ? 'name the whole disk, /dev/rdiskN' : 'name the whole disk, \\\\.\\PhysicalDriveN'}, as the list of disks shows it`, 'list-disks');
  }
  const run = opts.run ?? runCommand;
  const disk = findDisk(await listDisks({ platform: opts.platform, run }), id, opts.platform);
  if (disk === null) throw refusedWrite('MOUNT_CHECK_UNAVAILABLE', `the disk list of this computer has no ${source}`, 'check the name against the list of disks', 'list-disks');
  if (opts.platform === 'win32') {
    const data = disk.partitions.find((p) => p.number === opts.dataPartition);
    if (data && data.mountpoints.length > 0) {
      throw refusedWrite('HOST_MOUNTED', `the data partition ${opts.dataPartition} of ${source} is mounted as ${data.mountpoints.join(', ')} (an ext4 driver is installed)`,
        'remove its drive letter in Disk Management, or stop the ext4 driver, then run the command again');
    }
    return [];
  }
  if (disk.mounted.length === 0) return [];
  const whole = `/dev/${id}`;
  try {
    await run('/usr/sbin/diskutil', ['unmountDisk', whole]);
  } catch (err) {
    throw refusedWrite('HOST_MOUNTED', `${whole} has mounted volumes (${disk.mounted.join(', ')}) and diskutil could not unmount them: ${(err as Error).message}`,
      'close any window showing the card and eject its volumes in Finder, then run the command again');
  }
  const again = findDisk(await listDisks({ platform: 'darwin', run }), id, 'darwin');
  if (again && again.mounted.length > 0) {
    throw refusedWrite('HOST_MOUNTED', `${whole} still has mounted volumes after diskutil unmountDisk: ${again.mounted.join(', ')}`, 'eject the volumes in Finder, then run the command again');
  }
  return [`Unmounted the volumes of ${whole} (diskutil unmountDisk) so macOS cannot use the card during the write; eject it in Finder when done.`];
}

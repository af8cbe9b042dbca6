// The in-use check before a write on macOS and Windows, and the listed size of a raw disk, driven by the recorded disk listings in
// fixtures/disks through a scripted diskutil / PowerShell (this machine runs neither).

import { describe, expect, it } from 'vitest';
import { assertNotMounted } from '../../src/actions/host-mounts.js';
import { diskIdOf } from '../../src/actions/host-mounts-other.js';
import { listedDiskSize } from '../../src/actions/listed-size.js';
import { failure, fixture, scriptedRun } from '../disks/helpers.js';

const MOUNTED_FAT = /<key>MountPoint<\/key>\s*<string>\/Volumes\/NO NAME<\/string>/;

/** diskutil as the fixture Mac answers it; `unmountDisk` unmounts disk7's FAT volume unless `stuck`. */
function mac(opts: { unmountFails?: boolean; stuck?: boolean } = {}) {
  let unmounted = false;
  return scriptedRun(({ args }) => {
    if (args[0] === 'list') return unmounted ? fixture('macos-list.plist').replace(MOUNTED_FAT, '') : fixture('macos-list.plist');
    if (args[0] === 'info') return args[2] === 'disk8' ? failure(1, 'Could not find disk: disk8') : fixture(`macos-info-${args[2]}.plist`);
    if (args[0] === 'unmountDisk') {
      if (opts.unmountFails) return failure(1, 'Unmount of disk7 failed: at least one volume could not be unmounted');
      unmounted = !opts.stuck;
      return 'Unmount of all volumes on disk7 was successful';
    }
    throw new Error(`unexpected diskutil ${args.join(' ')}`);
  });
}

describe('disk names', () => {
  it('finds the whole disk behind raw, buffered and partition names', () => {
    expect(diskIdOf('/dev/rdisk4', 'darwin')).toBe('disk4');
    expect(diskIdOf('/dev/disk4s8', 'darwin')).toBe('disk4');
    expect(diskIdOf('/dev/sdb', 'darwin')).toBeNull();
    expect(diskIdOf('\\\\.\\PhysicalDrive2', 'win32')).toBe('2');
    expect(diskIdOf('\\\\.\\physicaldrive12', 'win32')).toBe('12');
    expect(diskIdOf('E:', 'win32')).toBeNull();
  });
});

describe('macOS', () => {
  it('a card with nothing mounted is written without unmounting anything', async () => {
    const m = mac();
    await expect(assertNotMounted('/dev/rdisk4', { platform: 'darwin', dataPartition: 8, run: m.run })).resolves.toEqual([]);
    expect(m.calls.some((c) => c.args[0] === 'unmountDisk')).toBe(false);
  });

  it('a card with a mounted volume is unmounted with diskutil unmountDisk first, and the user is told', async () => {
    const m = mac();
    const notes = await assertNotMounted('/dev/rdisk7', { platform: 'darwin', dataPartition: 2, run: m.run });
    expect(m.calls.filter((c) => c.args[0] === 'unmountDisk').map((c) => c.args)).toEqual([['unmountDisk', '/dev/disk7']]);
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatch(/Unmounted the volumes of \/dev\/disk7 \(diskutil unmountDisk\)/);
  });

  it('refuses (77) when diskutil cannot unmount, or a volume stays mounted', async () => {
    for (const opts of [{ unmountFails: true }, { stuck: true }]) {
      const err = await assertNotMounted('/dev/rdisk7', { platform: 'darwin', dataPartition: 2, run: mac(opts).run }).catch((e) => e);
      expect(err.code).toBe('HOST_MOUNTED');
      expect(err.exitCode).toBe(77);
      expect(err.hint).toMatch(/nothing was written$/);
    }
  });

  it('refuses a name that is not a disk, and a disk the listing does not have', async () => {
    const notDisk = await assertNotMounted('/dev/sdb', { platform: 'darwin', dataPartition: 8, run: mac().run }).catch((e) => e);
    expect(notDisk.code).toBe('MOUNT_CHECK_UNAVAILABLE');
    const missing = await assertNotMounted('/dev/rdisk42', { platform: 'darwin', dataPartition: 8, run: mac().run }).catch((e) => e);
    expect(missing.code).toBe('MOUNT_CHECK_UNAVAILABLE');
  });
});

describe('Windows', () => {
  const laptop = fixture('windows-laptop.json');
  const ps = (text: string) => scriptedRun(() => text);

  it('the HAOS card passes: its FAT boot volume may have a letter, the data partition has none', async () => {
    await expect(assertNotMounted('\\\\.\\PhysicalDrive1', { platform: 'win32', dataPartition: 8, run: ps(laptop).run })).resolves.toEqual([]);
    // The built-in SD card's boot volume is E:, the data partition (2) is not a volume.
    await expect(assertNotMounted('\\\\.\\PhysicalDrive3', { platform: 'win32', dataPartition: 2, run: ps(laptop).run })).resolves.toEqual([]);
  });

  it('refuses (77) when an ext4 driver has mounted the data partition', async () => {
    const doc = JSON.parse(laptop);
    const data = doc.Partitions.find((p: { DiskNumber: number; PartitionNumber: number }) => p.DiskNumber === 1 && p.PartitionNumber === 8);
    data.DriveLetter = 'F';
    data.AccessPaths = ['F:\\', '\\\\?\\Volume{00000000-0000-0000-0000-000000000008}\\'];
    const err = await assertNotMounted('\\\\.\\PhysicalDrive1', { platform: 'win32', dataPartition: 8, run: ps(JSON.stringify(doc)).run }).catch((e) => e);
    expect(err.code).toBe('HOST_MOUNTED');
    expect(err.message).toMatch(/F:/);
  });
});

describe('the size of a raw disk from the OS listing', () => {
  it('macOS: /dev/rdisk4 has the size diskutil reports; partitions and other names have none', async () => {
    const sizes = await Promise.all(['/dev/rdisk4', '/dev/disk4', '/dev/rdisk4s8', '/dev/sdb'].map((p) => listedDiskSize(p, { platform: 'darwin', run: mac().run })));
    expect(sizes[0]).toBeGreaterThan(0);
    expect(sizes[1]).toBe(sizes[0]);
    expect(sizes.slice(2)).toEqual([null, null]);
  });

  it('Windows: \\\\.\\PhysicalDrive1 has Get-Disk\'s size; a failing listing gives none (the device is probed)', async () => {
    expect(await listedDiskSize('\\\\.\\PhysicalDrive1', { platform: 'win32', run: scriptedRun(() => fixture('windows-laptop.json')).run })).toBe(31914983424);
    expect(await listedDiskSize('\\\\.\\PhysicalDrive1', { platform: 'win32', run: scriptedRun(() => failure(1, 'Access is denied.')).run })).toBeNull();
    expect(await listedDiskSize('/dev/sdb', { platform: 'linux' })).toBeNull();
  });
});

// Which output disks limit a file to 4 GiB: the format found through each system's own table. Linux's is
// read for real in test/integration/output-fat32.test.ts (a fusefat stick); here the same lookup on
// mountinfo lines naming this folder's device, and the macOS and Windows answers as those systems print them.

import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FAT_LIMIT, fileSizeLimit, macMountFormat, sizeChecker } from '../../src/actions/output-fs.js';
import { majorMinor } from '../../src/device/folder-source.js';

const dir = mkdtempSync(join(tmpdir(), 'output-fs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('fileSizeLimit', () => {
  const dev = majorMinor(statSync(dir, { bigint: true }).dev);
  const table = (type: string): string => `22 1 0:21 / /proc rw - proc proc rw\n97 29 ${dev} / /media/stick rw,relatime - ${type} /dev/sdc1 rw\n`;

  it('Linux: the mount with the folder\'s device number; vfat and fusefat are FAT32, ext4 and exFAT are not', async () => {
    expect(await fileSizeLimit(dir, { platform: 'linux', mountinfo: table('vfat') })).toEqual(FAT_LIMIT);
    expect(await fileSizeLimit(join(dir, 'not', 'made', 'yet'), { platform: 'linux', mountinfo: table('fuse.fusefat') })).toEqual(FAT_LIMIT);
    expect(await fileSizeLimit(dir, { platform: 'linux', mountinfo: table('ext4') })).toBeNull();
    expect(await fileSizeLimit(dir, { platform: 'linux', mountinfo: table('exfat') })).toBeNull();
    expect(await fileSizeLimit(dir, { platform: 'linux', mountinfo: '' })).toBeNull();
  });

  it('macOS: the longest mount point holding the folder, from `mount`', () => {
    const mount = ['/dev/disk3s1s1 on / (apfs, sealed, local, read-only, journaled)', '/dev/disk4s1 on /Volumes/NO NAME (msdos, local, nodev, nosuid, noowners)', '/dev/disk5s1 on /Volumes/NO NAME 1 (exfat, local, nodev, nosuid, noowners)'].join('\n');
    expect(macMountFormat(mount, '/Volumes/NO NAME/backups')).toBe('msdos');
    expect(macMountFormat(mount, '/Volumes/NO NAME 1/backups')).toBe('exfat');
    expect(macMountFormat(mount, '/Users/me/Desktop')).toBe('apfs');
  });

  it('Windows: the drive\'s format as DriveInfo names it; a command that fails means no known limit', async () => {
    const asked: string[][] = [];
    const run = (answer: string) => async (cmd: string, args: string[]): Promise<string> => {
      asked.push([cmd, ...args]);
      return answer;
    };
    expect(await fileSizeLimit('E:\\rescue', { platform: 'win32', run: run('FAT32\r\n') })).toEqual(FAT_LIMIT);
    expect(asked[0]!.at(-1)).toBe("([System.IO.DriveInfo]'E:').DriveFormat");
    expect(await fileSizeLimit('E:\\rescue', { platform: 'win32', run: run('NTFS\r\n') })).toBeNull();
    expect(await fileSizeLimit('E:\\rescue', { platform: 'win32', run: async () => { throw new Error('no PowerShell'); } })).toBeNull();
  });

  it('sizeChecker asks the disk only about a file over 4 GiB, and once', async () => {
    let asked = 0;
    const tooBig = sizeChecker('E:\\rescue', { platform: 'win32', run: async () => (asked++, 'FAT32') });
    expect(await tooBig(2 ** 32 - 1)).toBeNull();
    expect(asked).toBe(0);
    expect(await tooBig(2 ** 32)).toEqual(FAT_LIMIT);
    expect(await tooBig(5 * 2 ** 30)).toEqual(FAT_LIMIT);
    expect(asked).toBe(1);
  });
});

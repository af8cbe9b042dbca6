// A folder given as SOURCE: the error names what the computer shows there. The device number of a folder is
// checked against GNU stat's (%Hd:%Ld); the Windows drive letter and macOS /Volumes wordings are pure text.
// The Linux partition-and-disk case on a real loop device is in test/integration/loop-disk.test.ts.

import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { folderSourceError, majorMinor } from '../../src/device/folder-source.js';
import { ExitCode } from '../../src/errors.js';

describe('a folder as SOURCE', () => {
  it.skipIf(process.platform !== 'linux')("decodes a folder's device number as GNU stat does", () => {
    for (const folder of ['/', tmpdir(), '/proc', '/dev/shm']) {
      const expected = execFileSync('stat', ['-c', '%Hd:%Ld', folder], { encoding: 'utf8' }).trim();
      expect(majorMinor(statSync(folder, { bigint: true }).dev), folder).toBe(expected);
    }
    // Large numbers use the split fields of glibc's dev_t: major 0x123 and minor 0x45678.
    expect(majorMinor((0x123n << 8n) | 0x78n | (0x456n << 20n))).toBe(`${0x123}:${0x45678}`);
  });

  it('a Windows drive letter: the whole disk is \\\\.\\PhysicalDriveN', async () => {
    for (const letter of ['E:', 'e:\\', 'E:/']) {
      const err = await folderSourceError(letter, 'win32');
      expect(err.code).toBe('SOURCE_IS_DIRECTORY');
      expect(err.exitCode).toBe(ExitCode.USAGE);
      expect(err.message).toBe(`${letter} is a drive letter: Windows shows one partition of a disk there, not the disk`);
      expect(err.hint).toMatch(/^give the whole disk, \\\\\.\\PhysicalDriveN \(Disk Management shows the number N\): the list of disks shows/);
    }
    expect((await folderSourceError('C:\\Users\\me', 'win32')).message).toBe('C:\\Users\\me is a folder, not an image or disk');
  });

  it('a macOS volume: the whole disk is /dev/rdiskN, and diskutil names it', async () => {
    const err = await folderSourceError('/Volumes/hassos-boot', 'darwin');
    expect(err.message).toBe('/Volumes/hassos-boot is a folder: macOS shows one partition of a disk there, not the disk');
    expect(err.hint).toContain('diskutil info "/Volumes/hassos-boot"');
  });

  it('a folder that no block device holds (proc) gets the plain wording', async () => {
    const err = await folderSourceError('/proc', 'linux');
    expect(err.message).toBe('/proc is a folder, not an image or disk');
    expect(err.hint).toMatch(/^give the image file or the disk itself, e\.g\. \/dev\/sdb/);
  });
});

// The mounted-here check every write makes: mountinfo parsing, and a real loop-mounted image (as root).

import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { assertNotMounted, parseMountinfo } from '../../src/actions/host-mounts.js';
import { mkfs, tempDir } from '../helpers/images.js';

const work = tempDir('mounts-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('parseMountinfo', () => {
  it('maps device numbers to mount points, with escaped spaces', () => {
    const text = [
      '36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue',
      '40 36 7:3 / /mnt/my\\040card ro,relatime shared:5 - ext4 /dev/loop3 ro',
    ].join('\n');
    const m = parseMountinfo(text);
    expect(m.get('98:0')).toBe('/mnt/parent');
    expect(m.get('7:3')).toBe('/mnt/my card');
    expect(m.size).toBe(2);
  });

  it('an image nothing has mounted passes', async () => {
    const img = join(work, 'free.img');
    mkfs(img, null, { sizeMiB: 8 });
    await expect(assertNotMounted(img)).resolves.toEqual([]);
  });
});

// An LVM logical volume (or a LUKS mapping) activated over the image's loop device is mounted as its own
// device (dm-0): the check looked at the loop device and its partitions only. sysfs as the kernel lays it out.
describe('a source gone since it was opened (a card pulled, an image file deleted)', () => {
  it('is said as gone (66), not a crash with a stack trace (the guided flow ended there)', async () => {
    const gone = join(work, 'gone.img');
    for (const platform of ['linux', 'freebsd'] as const) {
      await expect(assertNotMounted(gone, { platform, mountinfo: '' })).rejects.toMatchObject({ code: 'SOURCE_NOT_FOUND', exitCode: 66, message: `${gone} does not exist` });
    }
  });
});

describe('a device stacked on the image (LVM, LUKS)', () => {
  it('mounted, it refuses the write: holders are followed down', async () => {
    const img = join(work, 'stacked.img');
    mkfs(img, null, { sizeMiB: 8 });
    const sysfs = join(work, 'sys');
    const put = (path: string, text: string): void => {
      mkdirSync(join(sysfs, path, '..'), { recursive: true });
      writeFileSync(join(sysfs, path), text);
    };
    put('block/loop7/loop/backing_file', `${img}\n`);
    put('block/loop7/dev', '7:7\n');
    mkdirSync(join(sysfs, 'dev/block/7:7/holders/dm-0'), { recursive: true });
    put('class/block/dm-0/dev', '253:0\n');
    mkdirSync(join(sysfs, 'dev/block/253:0/holders'), { recursive: true });
    const mountinfo = '40 36 253:0 / /mnt/root rw,relatime shared:5 - ext4 /dev/mapper/vg-root rw';
    await expect(assertNotMounted(img, { sysfs, mountinfo, platform: 'linux' })).rejects.toMatchObject({ code: 'HOST_MOUNTED', details: { device: '253:0', mountPoint: '/mnt/root' } });
    await expect(assertNotMounted(img, { sysfs, mountinfo: '', platform: 'linux' })).resolves.toEqual([]);
  });
});

const root = process.getuid?.() === 0;

describe.skipIf(!root)('a loop-mounted image (needs root)', () => {
  it('is refused with exit 77 while mounted, accepted after unmounting', async () => {
    const img = join(work, 'mounted.img');
    const mnt = join(work, 'mnt');
    mkdirSync(mnt);
    mkfs(img, null, { sizeMiB: 8 });
    const loop = spawnSync('losetup', ['-f', '--show', img]);
    if (loop.status !== 0) {
      console.warn(`skipped: losetup failed: ${loop.stderr.toString().trim()}`);
      return;
    }
    const dev = loop.stdout.toString().trim();
    try {
      const mounted = spawnSync('mount', ['-o', 'ro,noload', dev, mnt]);
      if (mounted.status !== 0) {
        console.warn(`skipped: mount failed: ${mounted.stderr.toString().trim()}`);
        return;
      }
      try {
        await expect(assertNotMounted(img)).rejects.toMatchObject({ code: 'HOST_MOUNTED', exitCode: 77 });
        await expect(assertNotMounted(dev)).rejects.toMatchObject({ code: 'HOST_MOUNTED' });
      } finally {
        spawnSync('umount', [mnt]);
      }
      await expect(assertNotMounted(img)).resolves.toEqual([]);
    } finally {
      spawnSync('losetup', ['-d', dev]);
    }
  });
});

// Allocating from block groups whose bitmap was never initialised (BLOCK_UNINIT: on a card mke2fs made or
// the OS grew, most of the free space): a file larger than the initialised groups hold goes into them, each
// initialised as the kernel's ext4_init_block_bitmap would. e2fsck -fn clean, the bytes, fewer uninitialised
// groups; the kernel reads the file, writes more, and e2fsck is still clean.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { withFileDevice } from '../../src/device/file-device.js';
import { commitWrites } from '../../src/ext4/commit.js';
import { BlockEdits } from '../../src/ext4/create-file.js';
import { putFile } from '../../src/ext4/put-file.js';
import { Ext4Volume } from '../../src/ext4/volume.js';
import { type MkfsOptions, mkfs, prng, tempDir } from '../helpers/images.js';
import { kernelCanMount, withKernelMount } from '../helpers/kernel.js';

const work = tempDir('group-init-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

const dumpe2fs = (img: string): string => execFileSync('dumpe2fs', [img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 26 });
const uninitGroups = (img: string): number => (dumpe2fs(img).match(/BLOCK_UNINIT/g) ?? []).length;
const freeBlocks = (img: string): number => Number(/Free blocks:\s+(\d+)/.exec(dumpe2fs(img))![1]);

async function put(img: string, bytes: Buffer): Promise<void> {
  await withFileDevice(img, { writable: true }, async (dev) => {
    const vol = await Ext4Volume.open(dev);
    const edits = new BlockEdits(vol);
    await putFile(edits, await vol.lookup('/data'), 'big.bin', bytes, Date.now());
    await commitWrites(vol, dev, edits.writes());
  });
}

describe('groups not initialised yet', () => {
  it.each([
    ['1 KiB blocks, metadata_csum', { blockSize: 1024, sizeMiB: 96 }],
    ['4 KiB blocks, metadata_csum, 32 MiB groups', { blockSize: 4096, sizeMiB: 192, extra: ['-g', '8192'] }],
    ['no metadata_csum (uninit_bg, crc16)', { blockSize: 1024, sizeMiB: 96, features: '^metadata_csum,uninit_bg' }],
    ['no flex_bg (each group holds its own bitmaps and inode table)', { blockSize: 1024, sizeMiB: 96, features: '^flex_bg' }],
    ['no resize_inode, sparse_super2', { blockSize: 1024, sizeMiB: 96, features: '^resize_inode,sparse_super2' }],
    ['meta_bg, 1 MiB groups (six meta groups, descriptor blocks in their first, second and last group)', { blockSize: 1024, sizeMiB: 96, features: '^resize_inode,meta_bg', extra: ['-g', '1024'] }],
  ] as Array<[string, MkfsOptions]>)('%s: a file larger than the initialised groups hold; e2fsck clean, the kernel agrees', async (label, options) => {
    const stage = join(work, 'stage');
    rmSync(stage, { recursive: true, force: true });
    mkdirSync(join(stage, 'data'), { recursive: true });
    writeFileSync(join(stage, 'data/small'), 'x');
    const img = join(work, `${label.replace(/\W+/g, '_')}.img`);
    mkfs(img, stage, options);
    const before = uninitGroups(img);
    expect(before, 'mke2fs left groups uninitialised').toBeGreaterThan(2);
    const free = freeBlocks(img);
    const bs = options.blockSize!;
    const bytes = prng(7, Math.floor(free * 0.6) * bs);
    await put(img, bytes);
    const check = spawnSync('e2fsck', ['-fn', img], { encoding: 'utf8' });
    expect(check.status, check.stdout).toBe(0);
    expect(uninitGroups(img)).toBeLessThan(before);
    expect(execFileSync('debugfs', ['-R', 'cat /data/big.bin', img], { maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] }).equals(bytes)).toBe(true);
    if (!kernelCanMount()) return;
    withKernelMount(img, (mnt) => {
      expect(readFileSync(join(mnt, 'data/big.bin')).equals(bytes)).toBe(true);
      for (let i = 0; i < 20; i++) writeFileSync(join(mnt, 'data', `k${i}`), prng(i, Math.floor(free * 0.01) * bs));
    });
    expect(spawnSync('e2fsck', ['-fn', img]).status).toBe(0);
  }, 120_000);
});

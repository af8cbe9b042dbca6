// The used blocks `image` copies before the free ones, from the block bitmaps: a group whose bitmap or
// descriptor no longer matches its checksum (a bit flipped on the card) counts as wholly used, so a file's
// block that a damaged bitmap calls free is still copied. Real images from mkfs.ext4, bytes changed by hand.

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { withFileDevice } from '../../src/device/file-device.js';
import { type BlockRun, metadataRuns, usedRuns } from '../../src/ext4/allocation.js';
import { Ext4Volume } from '../../src/ext4/volume.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('allocation-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

const stage = join(work, 'stage');
mkdirSync(stage);
writeFileSync(join(stage, 'a.bin'), Buffer.alloc(64 * 1024, 1));
const pristine = join(work, 'pristine.img');
// 256 MiB of 4 KiB blocks: two groups of 32,768 blocks, with flex_bg (the bitmaps both in group 0).
writeFileSync(pristine, Buffer.alloc(0));
execFileSync('mkfs.ext4', ['-q', '-F', '-b', '4096', '-d', stage, pristine, '256M']);

const dumpe2fs = (img: string): string => execFileSync('dumpe2fs', [img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
const fileBlock = Number(execFileSync('debugfs', ['-R', 'bmap /a.bin 0', pristine], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
const bitmapBlock = Number(/Group 0:[\s\S]*?Block bitmap at (\d+)/.exec(dumpe2fs(pristine))![1]);
const covers = (runs: BlockRun[], block: number): boolean => runs.some((r) => block >= r.block && block < r.block + r.count);
const total = (runs: BlockRun[]): number => runs.reduce((n, r) => n + r.count, 0);

function changed(name: string, at: number, change: (byte: number) => number): string {
  const img = join(work, `${name}.img`);
  const bytes = readFileSync(pristine);
  bytes[at] = change(bytes[at]!);
  writeFileSync(img, bytes);
  return img;
}

const runsOf = (img: string): Promise<{ used: BlockRun[]; meta: BlockRun[] }> =>
  withFileDevice(img, {}, async (dev) => {
    const vol = await Ext4Volume.open(dev);
    return { used: await usedRuns(vol), meta: await metadataRuns(vol) };
  });

describe('usedRuns', () => {
  it('a healthy card: the file\'s blocks are used, most of the card is not', async () => {
    const { used } = await runsOf(pristine);
    expect(covers(used, fileBlock)).toBe(true);
    expect(total(used)).toBeLessThan(32768);
  });

  it('the file\'s bit cleared in the bitmap (its checksum no longer matches): the whole group counts as used', async () => {
    const img = changed('flipped', bitmapBlock * 4096 + (fileBlock >> 3), (b) => {
      expect(b & (1 << (fileBlock & 7))).not.toBe(0);
      return b & ~(1 << (fileBlock & 7));
    });
    const { used } = await runsOf(img);
    expect(covers(used, fileBlock)).toBe(true);
    expect(covers(used, 0) && covers(used, 32767)).toBe(true);
    expect(covers(used, 65535 - 100)).toBe(false); // group 1 is still read from its own bitmap
  });

  it('group 0 flagged BLOCK_UNINIT on the card (the descriptor\'s checksum no longer matches): still wholly used, its table whole', async () => {
    const img = changed('uninit', 4096 + 0x12, (b) => b | 0x02);
    const { used, meta } = await runsOf(img);
    expect(covers(used, fileBlock)).toBe(true);
    const table = Number(/Group 0:[\s\S]*?Inode table at (\d+)/.exec(dumpe2fs(pristine))![1]);
    const perGroup = Number(/Inodes per group:\s+(\d+)/.exec(dumpe2fs(pristine))![1]);
    const tableBlocks = (perGroup * 256) / 4096;
    expect(covers(meta, table + tableBlocks - 1)).toBe(true);
  });
});

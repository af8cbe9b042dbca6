// Removing files (the freeing side of the writer: blocks back to their bitmaps across groups, extent tree
// blocks too, the inode back, the entry out of its folder) against e2fsck and dumpe2fs on the feature
// sets the data partition has been seen with; a hard-linked file keeps its data; a power cut after any
// write recovers to the file there or gone.

import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, linkSync, mkdirSync, openSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BlockDevice } from '../../src/device/block-device.js';
import { withFileDevice } from '../../src/device/file-device.js';
import { type FaultyDevice, faultyDevice } from '../../src/device/faulty-device.js';
import { commitWrites } from '../../src/ext4/commit.js';
import { BlockEdits, removeFile } from '../../src/ext4/create-file.js';
import { Ext4Volume } from '../../src/ext4/volume.js';
import { type MkfsOptions, mkfs, prng, tempDir } from '../helpers/images.js';
import { debugfsManifest } from '../helpers/manifest.js';
import { replayAfterCut } from '../helpers/replay.js';

const work = tempDir('remove-file-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A config folder with a 6 MiB "database", a file of 40 separate extents (a tree block), links. */
function stage(): string {
  const dir = join(work, 'stage');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'config/.storage'), { recursive: true });
  writeFileSync(join(dir, 'config/home-assistant_v2.db'), prng(7, 6 << 20));
  const fd = openSync(join(dir, 'config/fragmented.bin'), 'w');
  for (let i = 0; i < 40; i++) writeSync(fd, prng(i, 4096), 0, 4096, i * 3 * 4096);
  closeSync(fd);
  writeFileSync(join(dir, 'config/linked.yaml'), 'a: 1\n'.repeat(2000));
  linkSync(join(dir, 'config/linked.yaml'), join(dir, 'config/linked-too.yaml'));
  symlinkSync('x'.repeat(200), join(dir, 'config/long-link'));
  for (let i = 0; i < 10; i++) writeFileSync(join(dir, `config/other-${i}.yaml`), `value: ${i}\n`.repeat(i * 50 + 1));
  return dir;
}

const fsck = (args: string[], img: string) => spawnSync('e2fsck', [...args, img], { encoding: 'utf8' });
const dumpe2fs = (img: string): string => execFileSync('dumpe2fs', ['-h', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
const free = (img: string, what: 'blocks' | 'inodes'): number => Number(new RegExp(`Free ${what}:\\s+(\\d+)`).exec(dumpe2fs(img))![1]);
const blockcount = (img: string, path: string): number => Number(/Blockcount: (\d+)/.exec(execFileSync('debugfs', ['-R', `stat ${path}`, img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))![1]);

async function remove(img: string, names: string[], wrap: (d: BlockDevice) => BlockDevice = (d) => d) {
  return withFileDevice(img, { writable: true }, async (raw) => {
    const dev = wrap(raw);
    const vol = await Ext4Volume.open(dev);
    const edits = new BlockEdits(vol);
    for (const name of names) await removeFile(edits, await vol.lookup('/config'), name, Date.now());
    return commitWrites(vol, dev, edits.writes());
  });
}

const SETS: Array<[string, MkfsOptions]> = [
  ['default (metadata_csum, 64bit, 4 KiB)', { blockSize: 4096 }],
  ['HAOS 1.46 defaults', { blockSize: 4096, features: '^orphan_file,^metadata_csum_seed' }],
  ['no metadata_csum (uninit_bg crc16)', { features: '^metadata_csum' }],
  ['32-bit (^64bit)', { features: '^64bit' }],
  ['1 KiB blocks (the database spans groups)', { blockSize: 1024 }],
  ['no flex_bg', { features: '^flex_bg' }],
  ['no journal', { features: '^has_journal' }],
  ['ext3 (block maps: single and double indirect blocks)', { type: 'ext3', blockSize: 4096 }],
  ['ext3, 1 KiB blocks', { type: 'ext3', blockSize: 1024 }],
];

describe('remove files', () => {
  it.each(SETS)('%s: e2fsck clean, free counts back exactly, other files identical', async (name, options) => {
    const img = join(work, `${name.replace(/\W+/g, '_')}.img`);
    mkfs(img, stage(), { sizeMiB: 32, ...options });
    const bs = Number(/Block size:\s+(\d+)/.exec(dumpe2fs(img))![1]);
    const gone = ['home-assistant_v2.db', 'fragmented.bin', 'long-link', 'linked.yaml'];
    const blocks512 = ['home-assistant_v2.db', 'fragmented.bin', 'long-link'].reduce((n, f) => n + blockcount(img, `/config/${f}`), 0);
    expect(blockcount(img, '/config/fragmented.bin') * 512).toBeGreaterThan(40 * 4096); // the tree block counts too
    const keep = (m: string[]): string[] => m.filter((l) => !gone.some((g) => l.startsWith(`config/${g}\t`)) && !l.startsWith('config/\t') && !l.startsWith('config/linked-too.yaml\t'));
    const before = keep(debugfsManifest(img));
    const freeBlocks = free(img, 'blocks');
    const freeInodes = free(img, 'inodes');
    await remove(img, gone);
    const check = fsck(['-fn'], img);
    expect(check.stdout + check.stderr).not.toMatch(/Fix\?|journal|recover/i);
    expect(check.status).toBe(0);
    expect(free(img, 'blocks')).toBe(freeBlocks + (blocks512 * 512) / bs);
    expect(free(img, 'inodes')).toBe(freeInodes + 3);
    expect(keep(debugfsManifest(img))).toEqual(before);
    const stat = execFileSync('debugfs', ['-R', 'stat /config/linked-too.yaml', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(stat).toMatch(/Links: 1 /);
  });
});

describe('power cut at every write of a removal', () => {
  it('4 KiB, metadata_csum: after journal replay, e2fsck -fn is clean and the database is there or gone', async () => {
    const pristine = join(work, 'cut-pristine.img');
    mkfs(pristine, stage(), { sizeMiB: 32, blockSize: 4096 });
    const probe = join(work, 'cut-probe.img');
    copyFileSync(pristine, probe);
    let counter: FaultyDevice | null = null;
    await remove(probe, ['home-assistant_v2.db'], (d) => (counter = faultyDevice(d, {})));
    const steps = (counter as FaultyDevice | null)?.writeCount ?? 0;
    const seen = new Set<boolean>();
    for (let n = 0; n <= steps + 1; n++) {
      const img = join(work, `cut-${n}.img`);
      copyFileSync(pristine, img);
      await remove(img, ['home-assistant_v2.db'], (d) => faultyDevice(d, { dropWritesAfter: n }));
      expect(replayAfterCut(img, `cut after write ${n}`)).toBeLessThan(4);
      const check = fsck(['-fn'], img);
      expect(check.status, `cut after write ${n}: ${check.stdout}`).toBe(0);
      seen.add(execFileSync('debugfs', ['-R', 'ls /config', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).includes('home-assistant_v2.db'));
      rmSync(img);
    }
    expect(seen).toEqual(new Set([true, false]));
  });
});

describe('remove a folder tree', () => {
  it.each([
    ['4 KiB, metadata_csum', { blockSize: 4096 } as MkfsOptions],
    ['1 KiB, no metadata_csum, 32-bit', { blockSize: 1024, features: '^metadata_csum,^64bit' } as MkfsOptions],
  ])('%s: nested folders, links inside and out; e2fsck clean, the counts back', async (_name, options) => {
    const dir = stage();
    mkdirSync(join(dir, 'config/tree/a/b/c'), { recursive: true });
    for (const sub of ['tree', 'tree/a', 'tree/a/b', 'tree/a/b/c']) writeFileSync(join(dir, `config/${sub}/file.bin`), prng(sub.length, 9000));
    linkSync(join(dir, 'config/tree/a/file.bin'), join(dir, 'config/tree/a/b/same.bin')); // two names inside
    linkSync(join(dir, 'config/tree/file.bin'), join(dir, 'config/outside.bin')); // one inside, one outside
    symlinkSync('../file.bin', join(dir, 'config/tree/a/up'));
    const img = join(work, 'tree.img');
    mkfs(img, dir, { sizeMiB: 32, ...options });
    const inodesBefore = free(img, 'inodes');
    const dirsBefore = Number(/Links: (\d+)/.exec(execFileSync('debugfs', ['-R', 'stat /config', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))![1]);
    const { removeTree } = await import('../../src/ext4/remove-tree.js');
    const r = await withFileDevice(img, { writable: true }, async (dev) => {
      const vol = await Ext4Volume.open(dev);
      const edits = new BlockEdits(vol);
      const out = await removeTree(edits, await vol.lookup('/config'), 'tree', Date.now());
      await commitWrites(vol, dev, edits.writes());
      return out;
    });
    expect(r).toMatchObject({ folders: 4, files: 6 });
    const check = fsck(['-fn'], img);
    expect(check.stdout + check.stderr).not.toMatch(/Fix\?/);
    expect(check.status).toBe(0);
    // 4 folders, 4 file inodes of which the one linked from outside stays, and the symlink: 8 back.
    expect(free(img, 'inodes')).toBe(inodesBefore + 8);
    const stat = execFileSync('debugfs', ['-R', 'stat /config', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(Number(/Links: (\d+)/.exec(stat)![1])).toBe(dirsBefore - 1);
    expect(execFileSync('debugfs', ['-R', 'stat /config/outside.bin', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })).toMatch(/Links: 1 /);
  });
});

// Folders that grow: a full linear folder gets new blocks (its extents moving down into a leaf when the
// inode's four are used), and a hash-indexed folder takes entries through its index, splitting full
// leaves. Oracles: e2fsck -fn (which checks every leaf's hashes against the index), debugfs, and the
// kernel, whose lookups go through the index: a name in the wrong leaf is not found. A power cut at every
// write of a batch that splits leaves leaves all of the batch or none.

import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BlockDevice } from '../../src/device/block-device.js';
import { withFileDevice } from '../../src/device/file-device.js';
import { type FaultyDevice, faultyDevice } from '../../src/device/faulty-device.js';
import { commitWrites } from '../../src/ext4/commit.js';
import { BlockEdits, createEmptyFile, removeFile } from '../../src/ext4/create-file.js';
import { putFile } from '../../src/ext4/put-file.js';
import { Ext4Volume } from '../../src/ext4/volume.js';
import { type MkfsOptions, mkfs, prng, tempDir } from '../helpers/images.js';
import { kernelCanMount, withKernelMount } from '../helpers/kernel.js';
import { replayAfterCut } from '../helpers/replay.js';

const work = tempDir('dir-index-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

const fsck = (img: string) => spawnSync('e2fsck', ['-fn', img], { encoding: 'utf8' });
const debugfs = (img: string, cmd: string): string => execFileSync('debugfs', ['-R', cmd, img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 28 });

function expectClean(img: string, what = ''): void {
  const check = fsck(img);
  expect(check.status, `${what}\n${check.stdout}`).toBe(0);
}

/** A folder /d with `count` empty files named `prefix` + number. */
function stage(count: number, prefix: string): string {
  const dir = join(work, 'stage');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'd'), { recursive: true });
  mkdirSync(join(dir, 'data'));
  for (let i = 0; i < count; i++) writeFileSync(join(dir, 'd', `${prefix}${i}`), '');
  return dir;
}

/** Names of varied length, some with bytes above 0x7f (é, ü, 漢). */
function names(seed: number, count: number): string[] {
  const r = prng(seed, count * 2);
  return Array.from({ length: count }, (_, i) => `${['n', 'é', 'ü漢', 'x'][r[i * 2]! % 4]}${i}-${'k'.repeat(r[i * 2 + 1]! % 90)}`);
}

/** Adds empty files `list` to /d, `perCommit` to a transaction; after each name's add, a file of data elsewhere. */
async function addAll(img: string, list: string[], perCommit: number, spread = false, wrap: (d: BlockDevice) => BlockDevice = (d) => d): Promise<void> {
  for (let i = 0; i < list.length; i += perCommit) {
    await withFileDevice(img, { writable: true }, async (raw) => {
      const dev = wrap(raw);
      const vol = await Ext4Volume.open(dev);
      const edits = new BlockEdits(vol);
      const d = await vol.lookup('/d');
      for (const [k, name] of list.slice(i, i + perCommit).entries()) {
        await createEmptyFile(edits, d, name, 0o644, Date.now());
        if (spread) await putFile(edits, await vol.lookup('/data'), `x${i + k}`, prng(i + k, 1500), Date.now());
      }
      await commitWrites(vol, dev, edits.writes());
    });
  }
}

/** The kernel finds every name by lookup, lists the folder as expected, then writes more; e2fsck stays clean. */
function kernelAgrees(img: string, expected: string[]): void {
  if (!kernelCanMount()) return;
  withKernelMount(img, (mnt) => {
    for (const name of expected) expect(statSync(join(mnt, 'd', name)).isFile(), name).toBe(true);
    expect(readdirSync(join(mnt, 'd')).sort()).toEqual([...expected].sort());
    for (let i = 0; i < 40; i++) writeFileSync(join(mnt, 'd', `kernel-${i}-${'z'.repeat(i)}`), 'k');
    for (const name of expected.slice(0, 20)) rmSync(join(mnt, 'd', name));
  });
  expectClean(img, 'after the kernel wrote');
}

const LINEAR_SETS: Array<[string, MkfsOptions]> = [
  ['4 KiB, metadata_csum', { blockSize: 4096 }],
  ['1 KiB blocks', { blockSize: 1024 }],
  ['no metadata_csum', { blockSize: 1024, features: '^metadata_csum' }],
  ['32-bit, no journal', { blockSize: 1024, features: '^64bit,^has_journal' }],
];

describe('a full linear folder grows', () => {
  it.each(LINEAR_SETS)('%s: new blocks, the extents moved into a leaf; e2fsck, debugfs and the kernel agree', async (label, options) => {
    const img = join(work, `linear-${label.replace(/\W+/g, '_')}.img`);
    mkfs(img, stage(40, 'seed-'), { sizeMiB: 24, ...options });
    const before = Number(/Size:\s+(\d+)/.exec(debugfs(img, 'stat /d'))![1]);
    const added = names(1, options.blockSize === 4096 ? 700 : 250);
    await addAll(img, added, 50, true);
    expectClean(img);
    const stat = debugfs(img, 'stat /d');
    expect(Number(/Size:\s+(\d+)/.exec(stat)![1])).toBeGreaterThan(before * 5);
    expect(stat, 'the folder is in more pieces than the inode holds').toMatch(/\(ETB0\)/);
    const listed = debugfs(img, 'ls -p /d').split('\n').filter((l) => l.startsWith('/')).map((l) => l.split('/')[5]!);
    const all = [...Array.from({ length: 40 }, (_, i) => `seed-${i}`), ...added];
    expect(listed.filter((n) => n !== '.' && n !== '..').sort()).toEqual([...all].sort());
    kernelAgrees(img, all);
  });
});

describe('a linear folder in more pieces than an extent leaf holds', () => {
  // 1 KiB blocks: 4 extents in the inode, 84 to a tree block. The free space is made of single blocks (every
  // other file of /fill removed), so each new folder block is an extent of its own, and names of 240 bytes
  // fill a block with four. 1,800 names: ~450 folder blocks in ~400 pieces, more than four full leaves hold, so an index level
  // between them and the inode, as the kernel grows it (new leaves under the root, then a level deeper).
  it('1 KiB blocks: the tree grows new leaves, then a level; e2fsck, debugfs and the kernel agree', async () => {
    const img = join(work, 'linear-deep.img');
    const dir = stage(4, 'seed-');
    mkdirSync(join(dir, 'fill'));
    for (let i = 0; i < 2000; i++) writeFileSync(join(dir, 'fill', `f${i}`), prng(i, 1024));
    mkfs(img, dir, { sizeMiB: 16, blockSize: 1024 });
    await withFileDevice(img, { writable: true }, async (dev) => {
      const vol = await Ext4Volume.open(dev);
      const edits = new BlockEdits(vol);
      for (let i = 0; i < 2000; i += 2) await removeFile(edits, await vol.lookup('/fill'), `f${i}`, Date.now());
      await commitWrites(vol, dev, edits.writes());
    });
    const added = Array.from({ length: 1800 }, (_, i) => `${String(i).padStart(5, '0')}-${'w'.repeat(234)}`);
    await addAll(img, added, 200);
    expectClean(img);
    const tree = debugfs(img, 'ex /d');
    expect(tree, tree.slice(0, 2000)).toMatch(/^\s*0\/\s*2\s/m);
    expect((tree.match(/^\s*2\/\s*2\s/gm) ?? []).length).toBeGreaterThan(336);
    const all = [...Array.from({ length: 4 }, (_, i) => `seed-${i}`), ...added];
    const listed = debugfs(img, 'ls -p /d').split('\n').filter((l) => l.startsWith('/')).map((l) => l.split('/')[5]!);
    expect(listed.filter((n) => n !== '.' && n !== '..').sort()).toEqual([...all].sort());
    kernelAgrees(img, all);
  });
});

async function indexed(label: string, count: number, prefix: string, unsigned = false): Promise<string> {
  const img = join(work, `${label}.img`);
  mkfs(img, stage(count, prefix), { sizeMiB: 32, blockSize: 1024 });
  if (unsigned) execFileSync('debugfs', ['-w', '-R', 'ssv flags 2', img], { stdio: 'ignore' });
  expect(spawnSync('e2fsck', ['-fyD', img]).status).toBeLessThan(4); // builds the index
  expect(debugfs(img, 'stat /d')).toMatch(/Flags: 0x81000/);
  return img;
}

describe('a hash-indexed folder takes entries through its index', () => {
  it.each([
    ['half-MD4, signed', false],
    ['half-MD4, unsigned (the superblock says so)', true],
  ])('%s: leaves split, e2fsck checks every hash range, the kernel finds every name', async (label, unsigned) => {
    const img = await indexed(`htree-${unsigned ? 'u' : 's'}`, 600, 'file-with-a-longish-name-', unsigned as boolean);
    const blocks = () => Number(/Size:\s+(\d+)/.exec(debugfs(img, 'stat /d'))![1]) / 1024;
    const before = blocks();
    const added = names(2, unsigned ? 500 : 1500);
    await addAll(img, added, 100);
    expectClean(img);
    const dump = debugfs(img, 'htree_dump /d');
    expect(blocks()).toBeGreaterThan(before + 10);
    // 1,500 more names fill the root (123 leaves with 1 KiB blocks): it moves down a level.
    expect(dump).toMatch(unsigned ? /Indirect levels: 0/ : /Indirect levels: 1/);
    kernelAgrees(img, [...Array.from({ length: 600 }, (_, i) => `file-with-a-longish-name-${i}`), ...added]);
  });

  it('two index levels, full nodes (as e2fsck -D leaves them): nodes split, the root takes the new node', async () => {
    const prefix = `a-name-long-enough-to-fill-the-leaves-quickly-${'q'.repeat(50)}-`;
    const img = await indexed('htree-2', 2600, prefix);
    expect(debugfs(img, 'htree_dump /d')).toMatch(/Indirect levels: 1/);
    const added = names(3, 300);
    await addAll(img, added, 100);
    expectClean(img);
    kernelAgrees(img, [...Array.from({ length: 2600 }, (_, i) => `${prefix}${i}`), ...added]);
  });

  it('full nodes, one name per change (as `put` adds them): each node split leaves every node with its checksum', async () => {
    // A split whose new name goes to the left half never touched the new right-hand node again: it kept no
    // checksum (e2fsck "internal node fails checksum", the kernel refusing the folder). Batches hid it.
    const prefix = `a-name-long-enough-to-fill-the-leaves-quickly-${'q'.repeat(50)}-`;
    const img = await indexed('htree-one-by-one', 2600, prefix);
    const added = names(4, 60);
    for (const [i, name] of added.entries()) {
      await addAll(img, [name], 1);
      expectClean(img, `after name ${i}`);
    }
    kernelAgrees(img, [...Array.from({ length: 2600 }, (_, i) => `${prefix}${i}`), ...added]);
  });

  it('removing one name far into a large folder writes the blocks it changes, not every block searched', async () => {
    // Every folder block read while looking for the name was journaled: one removal in a folder of 2,500
    // names needed 1,275 journal blocks, more than a small journal has, and was refused.
    const prefix = 'file-with-a-longish-name-';
    for (const img of [await indexed('htree-rm-one', 2500, prefix), join(work, 'linear-rm-one.img')]) {
      if (img.includes('linear')) mkfs(img, stage(2500, prefix), { sizeMiB: 32, blockSize: 1024, features: '^dir_index' });
      await withFileDevice(img, { writable: true }, async (dev) => {
        const vol = await Ext4Volume.open(dev);
        const edits = new BlockEdits(vol);
        const last = debugfs(img, 'ls -p /d').split('\n').filter((l) => l.startsWith('/')).map((l) => l.split('/')[5]!).filter((n) => n.startsWith(prefix)).pop()!;
        await removeFile(edits, await vol.lookup('/d'), last, Date.now());
        const writes = edits.writes();
        expect(writes.length, `${img}: ${writes.length} blocks written`).toBeLessThan(12);
        await commitWrites(vol, dev, writes);
      });
      expectClean(img);
      expect(debugfs(img, 'ls -p /d').split('\n').filter((l) => l.startsWith('/')).length).toBe(2 + 2499);
    }
  });

  it('a power cut at every write of a batch that splits leaves: all of the batch or none of it', async () => {
    const pristine = await indexed('htree-cut', 300, 'file-with-a-longish-name-');
    const batch = names(4, 40);
    const probe = join(work, 'cut-probe.img');
    copyFileSync(pristine, probe);
    let counter: FaultyDevice | null = null;
    await addAll(probe, batch, 40, false, (d) => (counter = faultyDevice(d, {})));
    const writes = (counter as FaultyDevice | null)?.writeCount ?? 0;
    expect(Number(/Size:\s+(\d+)/.exec(debugfs(probe, 'stat /d'))![1])).toBeGreaterThan(Number(/Size:\s+(\d+)/.exec(debugfs(pristine, 'stat /d'))![1]));
    const seen = new Set<string>();
    for (let n = 0; n <= writes + 1; n += Math.max(1, Math.floor(writes / 12))) {
      const img = join(work, `cut-${n}.img`);
      copyFileSync(pristine, img);
      await addAll(img, batch, 40, false, (d) => faultyDevice(d, { dropWritesAfter: n }));
      expect(replayAfterCut(img, `cut after write ${n}`)).toBeLessThan(4);
      expectClean(img, `cut after write ${n}`);
      const listed = debugfs(img, 'ls -p /d');
      const present = batch.filter((name) => listed.includes(`/${name}/`)).length;
      expect([0, batch.length], `cut after write ${n}: ${present} of the batch`).toContain(present);
      seen.add(present === 0 ? 'none' : 'all');
      rmSync(img);
    }
    expect(seen).toEqual(new Set(['none', 'all']));
  });
});

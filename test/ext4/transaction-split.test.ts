// A change larger than the journal: a folder of 5,000 files on a card whose journal holds 1,024 blocks is
// removed in several transactions, each consistent. After all of them e2fsck -fn is clean and the folder is
// gone; a power cut at any write leaves, after journal replay, a clean filesystem holding a part of the
// folder that earlier transactions did not remove. A small folder still goes in one transaction. New data
// never lands, before its commit, on blocks freed in the same transaction.

import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { folderContentSteps } from '../../src/actions/repair/rm-steps.js';
import type { BlockDevice } from '../../src/device/block-device.js';
import { CowDevice } from '../../src/device/cow-device.js';
import { withFileDevice } from '../../src/device/file-device.js';
import { type FaultyDevice, faultyDevice } from '../../src/device/faulty-device.js';
import { commitWrites } from '../../src/ext4/commit.js';
import { BlockEdits, removeFile } from '../../src/ext4/create-file.js';
import { putFile } from '../../src/ext4/put-file.js';
import { removeNames, removeTree } from '../../src/ext4/remove-tree.js';
import type { BlockWrite } from '../../src/ext4/rewrite.js';
import { TransactionSplitter } from '../../src/ext4/transaction-split.js';
import { Ext4Volume } from '../../src/ext4/volume.js';
import { mkfs, prng, tempDir } from '../helpers/images.js';
import { replayAfterCut } from '../helpers/replay.js';

const work = tempDir('tx-split-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

const fsck = (img: string) => spawnSync('e2fsck', ['-fn', img], { encoding: 'utf8' });
const debugfs = (img: string, cmd: string): string => execFileSync('debugfs', ['-R', cmd, img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 28 });

function stage(folders: number, files: number): string {
  const dir = join(work, 'stage');
  rmSync(dir, { recursive: true, force: true });
  for (let f = 0; f < folders; f++) {
    mkdirSync(join(dir, 'big', `sub${f}`), { recursive: true });
    for (let i = 0; i < files; i++) writeFileSync(join(dir, 'big', `sub${f}`, `file-${i}`), i % 3 === 0 ? prng(i, 1500) : 'x');
  }
  writeFileSync(join(dir, 'keep'), 'kept');
  return dir;
}

/** Plans removing /big step by step on an overlay of `dev`; returns the transactions. */
async function plan(dev: BlockDevice): Promise<BlockWrite[][]> {
  const overlay = new CowDevice(dev, { description: 'plan' });
  const vol0 = await Ext4Volume.open(overlay);
  const steps = await folderContentSteps(vol0, '/big');
  const splitter = await TransactionSplitter.create(overlay, vol0);
  for (const s of steps) await splitter.add(await s.plan(await Ext4Volume.open(overlay), 1_700_000_000_000));
  const vol = await Ext4Volume.open(overlay);
  const edits = new BlockEdits(vol);
  await removeTree(edits, await vol.lookup('/'), 'big', 1_700_000_000_000);
  await splitter.add(edits.writes());
  return splitter.finish();
}

async function removeBig(img: string, wrap: (d: BlockDevice) => BlockDevice = (d) => d): Promise<number> {
  return withFileDevice(img, { writable: true }, async (raw) => {
    const dev = wrap(raw);
    const transactions = await plan(raw);
    for (const t of transactions) await commitWrites(await Ext4Volume.open(dev), dev, t);
    return transactions.length;
  });
}

describe('a change larger than the journal', () => {
  it('a 5,000-file folder with a 1,024-block journal: several transactions, e2fsck clean, the folder gone', async () => {
    const img = join(work, 'big.img');
    mkfs(img, stage(4, 1250), { sizeMiB: 64, blockSize: 1024, extra: ['-J', 'size=1', '-N', '8192'] });
    expect(execFileSync('dumpe2fs', ['-h', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })).toMatch(/Total journal blocks:\s+1024\b/);
    const count = await removeBig(img);
    expect(count).toBeGreaterThan(1);
    const check = fsck(img);
    expect(check.status, check.stdout).toBe(0);
    expect(debugfs(img, 'ls -p /')).not.toContain('/big/');
    expect(debugfs(img, 'cat /keep')).toBe('kept');
  });

  // Each step searched the folder from its first block: a folder of 300,000 names read every block before its
  // names again at each of its 1,172 steps (103 s of CPU for the plan; 26 s now).
  it('a step looks for its names from the block a listing saw them in: a few folder blocks read, not all; a wrong block still finds them', async () => {
    const img = join(work, 'hint.img');
    mkfs(img, stage(1, 5000), { sizeMiB: 64, blockSize: 1024, extra: ['-N', '8192'] });
    await withFileDevice(img, {}, async (raw) => {
      const vol = await Ext4Volume.open(new CowDevice(raw, { description: 'plan' }));
      const dir = await vol.lookup('/big/sub0');
      const listing = (await vol.listDir(dir)).entries.filter((e) => e.name.toString() !== '.' && e.name.toString() !== '..');
      const last = listing.slice(-256);
      const folderBlocks = Math.max(...listing.map((e) => e.block!)) + 1;
      expect(folderBlocks).toBeGreaterThan(50);
      const blocksRead = async (from: number): Promise<number> => {
        const edits = new BlockEdits(vol);
        await removeNames(edits, dir.ino, last.map((e) => e.name), 1_700_000_000_000, from);
        return (edits as unknown as { read: Map<number, Buffer> }).read.size;
      };
      const hinted = await blocksRead(last[0]!.block!);
      const unhinted = await blocksRead(0);
      expect(unhinted - hinted).toBeGreaterThan(folderBlocks / 2);
      // Past them: the search wraps round and finds them all the same.
      expect(await blocksRead(folderBlocks - 1)).toBeGreaterThan(0);
      expect(await blocksRead(10 ** 9)).toBeGreaterThan(0);
    });
  });

  it('a small folder still goes in one transaction', async () => {
    const img = join(work, 'small.img');
    mkfs(img, stage(2, 20), { sizeMiB: 16, blockSize: 1024 });
    expect(await removeBig(img)).toBe(1);
    expect(fsck(img).status).toBe(0);
  });

  it('a power cut at any write: after replay e2fsck is clean and what is left of the folder is whole', async () => {
    const pristine = join(work, 'cut-pristine.img');
    mkfs(pristine, stage(4, 1250), { sizeMiB: 64, blockSize: 1024, extra: ['-J', 'size=1', '-N', '8192'] });
    const probe = join(work, 'cut-probe.img');
    copyFileSync(pristine, probe);
    let counter: FaultyDevice | null = null;
    await removeBig(probe, (d) => (counter = faultyDevice(d, {})));
    const writes = (counter as FaultyDevice | null)?.writeCount ?? 0;
    const left = new Set<string>();
    for (let n = 1; n < writes; n += Math.ceil(writes / 9)) {
      const img = join(work, `cut-${n}.img`);
      copyFileSync(pristine, img);
      // The power is gone from write n on: what the program does after that (it may notice the journal
      // it could not empty) no longer reaches the card.
      await removeBig(img, (d) => faultyDevice(d, { dropWritesAfter: n })).catch(() => 0);
      expect(replayAfterCut(img, `cut after write ${n}`)).toBeLessThan(4);
      const check = fsck(img);
      expect(check.status, `cut after write ${n}: ${check.stdout}`).toBe(0);
      const listed = debugfs(img, 'ls -p /');
      left.add(listed.includes('/big/') ? 'part' : 'gone');
      rmSync(img);
    }
    expect(left.has('part')).toBe(true);
  }, 120_000);

  it('new data never lands on blocks freed earlier in the same transaction', async () => {
    const img = join(work, 'reuse.img');
    const dir = join(work, 'reuse-stage');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    writeFileSync(join(dir, 'old.db'), prng(1, 200 * 1024));
    mkfs(img, dir, { sizeMiB: 1, blockSize: 1024, features: '^has_journal,^resize_inode' });
    await withFileDevice(img, { writable: true }, async (dev) => {
      const overlay = new CowDevice(dev, { description: 'plan' });
      const vol0 = await Ext4Volume.open(overlay);
      const splitter = await TransactionSplitter.create(overlay, vol0);
      const rm = new BlockEdits(vol0);
      await removeFile(rm, await vol0.lookup('/'), 'old.db', 0);
      await splitter.add(rm.writes());
      // Little room is left but what old.db had: the new file takes its blocks.
      const vol1 = await Ext4Volume.open(overlay);
      const put = new BlockEdits(vol1);
      await putFile(put, await vol1.lookup('/'), 'new.db', prng(2, 150 * 1024), 0);
      await splitter.add(put.writes());
      expect((await splitter.finish()).length).toBe(2);
    });
  });
});

// Journal replay by reference (issue 16): a filesystem whose 32 MiB journal is full of committed
// transactions (debugfs jo -c / jw / jc), with blocks rewritten by later transactions, blocks JBD2 had to
// escape (their first 4 bytes are the journal magic) and revoked blocks, some written again after the
// revoke. Oracle: after `e2fsck -E journal_only` on a copy, every block of the filesystem equals what the
// replayed view reads, and what applying the replay onto a copy leaves. The view holds a small map and a
// bounded cache, never the replayed blocks.

import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CowDevice } from '../../src/device/cow-device.js';
import { withFileDevice } from '../../src/device/file-device.js';
import { crc32cUpdate } from '../../src/ext4/checksum.js';
import { applyJournalReplay } from '../../src/ext4/journal/apply.js';
import { crc32cWords } from '../../src/ext4/journal/crc32c-words.js';
import { openJournal } from '../../src/ext4/journal/locate.js';
import { JournalOverlayDevice, OVERLAY_CACHE_BYTES } from '../../src/ext4/journal/overlay-device.js';
import { mapJournal } from '../../src/ext4/journal/replay.js';
import { ReplayMap } from '../../src/ext4/journal/replay-map.js';
import { Ext4Volume } from '../../src/ext4/volume.js';
import { tempDir } from '../helpers/images.js';

const BS = 4096;
const FS_BLOCKS = 32768;
const PER_TRANSACTION = 400;
const MAGIC = Buffer.from([0xc0, 0x3b, 0x39, 0x98]);
const work = tempDir('journal-ref-');
const img = join(work, 'full.img');
const oracle = join(work, 'oracle.img');
let journalBlocks: number[] = [];
let revokedOnly: number[] = [];

function debugfs(image: string, cmds: string[]): void {
  const file = join(work, 'cmds');
  writeFileSync(file, cmds.join('\n') + '\n');
  execFileSync('debugfs', ['-w', '-f', file, image], { stdio: 'ignore' });
}

/** Fills the journal: overlapping transactions, escaped blocks, revokes (some blocks written again later). */
function build(): void {
  execFileSync('mkfs.ext4', ['-q', '-F', '-b', String(BS), '-J', 'size=32', img, `${(FS_BLOCKS * BS) / 1048576}M`], { stdio: 'ignore' });
  journalBlocks = execFileSync('debugfs', ['-R', 'blocks <8>', img], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().split(/\s+/).filter(Boolean).map(Number);
  const inJournal = new Set(journalBlocks);
  let x = 2024;
  const rand = (n: number): number => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) % n;
  const cmds = ['jo -c'];
  const revoked = new Set<number>();
  const written = new Set<number>();
  for (let t = 0; t < 18; t++) {
    const blocks = new Set<number>();
    while (blocks.size < PER_TRANSACTION) {
      const b = 4096 + rand(FS_BLOCKS - 4096);
      if (!inJournal.has(b)) blocks.add(b);
    }
    const data = Buffer.alloc(PER_TRANSACTION * BS);
    for (let i = 0; i < PER_TRANSACTION; i++) {
      data.fill(t * 7 + i, i * BS, (i + 1) * BS);
      data.writeUInt32BE(t * 100000 + i, i * BS + 8);
      if (i % 9 === 0) MAGIC.copy(data, i * BS); // JBD2 must escape these
    }
    const file = join(work, `t${t}.bin`);
    writeFileSync(file, data);
    cmds.push(`jw -b ${[...blocks].join(',')} ${file}`);
    for (const b of blocks) {
      written.add(b);
      revoked.delete(b);
    }
    if (t % 4 === 3) {
      const victims = [...blocks].slice(0, 25);
      cmds.push(`jw -r ${victims.join(',')} /dev/null`);
      for (const b of victims) revoked.add(b);
    }
  }
  cmds.push('jc');
  debugfs(img, cmds);
  revokedOnly = [...revoked];
  copyFileSync(img, oracle);
  const r = spawnSync('e2fsck', ['-fy', '-E', 'journal_only', oracle], { encoding: 'utf8' });
  if (r.status !== 0 && r.status !== 1) throw new Error(`e2fsck failed: ${r.stdout}${r.stderr}`);
}

beforeAll(build, 120_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Blocks e2fsck also changes besides the replay: the superblock (needs_recovery) and the journal's own. */
const bookkeeping = (): Set<number> => new Set([0, journalBlocks[0]!]);

function differingBlocks(a: Buffer, b: Buffer, skip: Set<number>): number[] {
  const out: number[] = [];
  for (let blk = 0; blk < FS_BLOCKS; blk++) {
    if (skip.has(blk)) continue;
    if (!a.subarray(blk * BS, (blk + 1) * BS).equals(b.subarray(blk * BS, (blk + 1) * BS))) out.push(blk);
  }
  return out;
}

describe('journal replay by reference', () => {
  it('maps every replayed block to the journal, with escaped blocks and revokes, and little memory', async () => {
    await withFileDevice(img, {}, async (dev) => {
      const vol = await Ext4Volume.open(dev);
      const { state, map } = await mapJournal(vol);
      expect(state.replayed).toBe(true);
      expect(state.report).toMatchObject({ error: null, problems: [], failedCommit: null });
      expect(state.report!.revokeHits).toBeGreaterThan(0);
      const mapped = map!.sorted();
      expect(mapped.length).toBe(map!.size);
      expect(mapped.some((b) => b.escaped)).toBe(true);
      for (const b of revokedOnly) expect(map!.has(b)).toBe(false);
      const journal = await openJournal(vol);
      const inJournal = new Set(journalBlocks);
      for (const b of mapped) expect(inJournal.has(b.sourceBlock)).toBe(true);
      expect(journal!.blocks).toBe(8192);
      // ~16 bytes a slot: a few hundred KiB for thousands of blocks, not the blocks' 4 KiB each.
      expect(map!.tableBytes).toBeLessThan(map!.size * 64);
      expect(map!.tableBytes).toBeLessThan((map!.size * BS) / 32);
    });
  });

  it('reads exactly what e2fsck -E journal_only leaves, in any shape of read, with a bounded cache', async () => {
    const expected = readFileSync(oracle);
    await withFileDevice(img, {}, async (dev) => {
      const vol = await Ext4Volume.open(dev);
      const { map } = await mapJournal(vol);
      const view = new JournalOverlayDevice(dev, map!);
      expect(view.writable).toBe(false);
      const whole = Buffer.alloc(FS_BLOCKS * BS);
      for (let at = 0; at < whole.length; at += 1 << 20) (await view.read(at, 1 << 20)).copy(whole, at);
      expect(differingBlocks(whole, expected, bookkeeping())).toEqual([]);
      // Odd ranges across mapped blocks, block by block (through the cache), and into a caller's buffer.
      let x = 7;
      const rand = (n: number): number => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) % n;
      for (let i = 0; i < 400; i++) {
        const at = 4096 * BS + rand((FS_BLOCKS - 4200) * BS);
        const len = 1 + rand(5 * BS);
        const got = await view.read(at, len, i % 2 === 0 ? Buffer.alloc(len + 3) : undefined);
        expect(got.equals(expected.subarray(at, at + len))).toBe(true);
      }
      for (const b of map!.sorted().slice(0, 3000)) {
        expect((await view.read(b.fsBlock * BS, BS)).equals(expected.subarray(b.fsBlock * BS, (b.fsBlock + 1) * BS))).toBe(true);
      }
      expect(view.cachedBytes).toBeGreaterThan(0);
      expect(view.cachedBytes).toBeLessThanOrEqual(OVERLAY_CACHE_BYTES);
      await expect(view.write(0, Buffer.alloc(1))).rejects.toMatchObject({ code: 'READ_ONLY' });
    });
  });

  it('a copy-on-write overlay on top (what writers plan on) sees its writes over the replayed view', async () => {
    const expected = readFileSync(oracle);
    await withFileDevice(img, {}, async (dev) => {
      const { map } = await mapJournal(await Ext4Volume.open(dev));
      const cow = new CowDevice(new JournalOverlayDevice(dev, map!));
      const target = map!.sorted()[100]!.fsBlock;
      await cow.write(target * BS + 10, Buffer.from('planned'));
      const got = await cow.read((target - 2) * BS, 5 * BS);
      const want = Buffer.from(expected.subarray((target - 2) * BS, (target + 3) * BS));
      want.write('planned', 2 * BS + 10);
      expect(got.equals(want)).toBe(true);
    });
  });

  it('applying the replay onto a copy leaves the blocks e2fsck leaves', async () => {
    const ours = join(work, 'applied.img');
    copyFileSync(img, ours);
    const result = await withFileDevice(ours, { writable: true }, (dev) => applyJournalReplay(dev));
    expect(result.applied).toBe(true);
    expect(differingBlocks(readFileSync(ours), readFileSync(oracle), bookkeeping())).toEqual([]);
    const check = spawnSync('e2fsck', ['-fn', ours], { encoding: 'utf8' });
    expect(check.stdout).not.toMatch(/recover/i);
    rmSync(ours);
  });
});

describe('ReplayMap', () => {
  it('keeps the newest copy per block, grows past its first size, and lists blocks in order', () => {
    const map = new ReplayMap(BS);
    const big = 2 ** 40 + 5;
    map.set(0, 7, false);
    map.set(big, 9, true);
    for (let b = 1; b <= 10_000; b++) map.set(b * 3, b, b % 2 === 0);
    for (let b = 1; b <= 10_000; b += 2) map.set(b * 3, b + 1_000_000, false);
    expect(map.size).toBe(10_002);
    expect(map.get(0)).toEqual({ fsBlock: 0, sourceBlock: 7, escaped: false });
    expect(map.get(big)).toEqual({ fsBlock: big, sourceBlock: 9, escaped: true });
    expect(map.get(3)).toEqual({ fsBlock: 3, sourceBlock: 1_000_001, escaped: false });
    expect(map.get(6)).toEqual({ fsBlock: 6, sourceBlock: 2, escaped: true });
    expect(map.get(1)).toBeNull();
    expect(map.has(big - 2 ** 32)).toBe(false);
    const order = map.sorted().map((b) => b.fsBlock);
    expect(order[0]).toBe(0);
    expect(order.at(-1)).toBe(big);
    expect(order.every((b, i) => i === 0 || b > order[i - 1]!)).toBe(true);
  });
});

describe('crc32cWords', () => {
  it('equals crc32cUpdate at every alignment and length', () => {
    const data = Buffer.alloc(3 * BS + 64);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919) >>> 3;
    for (const start of [0, 1, 2, 3, 4, 16, BS]) {
      for (const len of [0, 1, 15, 16, 64, BS, 2 * BS + 4]) {
        expect(crc32cWords(0x12345678, data, start, start + len)).toBe(crc32cUpdate(0x12345678, data, start, start + len));
      }
    }
  });
});

// Pure unit tests for the ext4 parsers (style.md "Tests": bytes in, value or error code out): a valid input
// taken from a real mke2fs image (located with debugfs/dumpe2fs, never with our own reader), targeted
// corruptions that must give one specific error code, truncated prefixes, and seeded garbage that must
// end in an AppError or a sane value, never a RangeError/TypeError. Regression tests for bugs found while
// writing them are named after what they guard. Shared images and helpers: parsers-setup.ts.
// This file: mapBlockMap (ext2/ext3 indirect block maps).

import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { mapBlockMap } from '../../src/ext4/block-map.js';
import type { Extent, ExtentContext } from '../../src/ext4/extent.js';
import { parseInode } from '../../src/ext4/inode.js';
import { codeOfAsync, debugfsBlockMapRuns } from './fixtures-debugfs.js';
import { block, ext2, fakeCtx, forSeedsAsync, inodeBytes, rng, useParserImages } from './parsers-setup.js';

useParserImages();

// ---------------------------------------------------------------------------------------------------
function iBlockOf(pointers: number[]): Buffer {
  const b = Buffer.alloc(60);
  pointers.forEach((p, i) => b.writeUInt32LE(p >>> 0, i * 4));
  return b;
}

function pointerBlock(pointers: number[], blockSize = 1024): Buffer {
  const b = Buffer.alloc(blockSize);
  pointers.forEach((p, i) => b.writeUInt32LE(p >>> 0, i * 4));
  return b;
}

describe('mapBlockMap', () => {
  const runsOf = (runs: Extent[]): Array<[number, number, number]> => runs.map((r) => [r.logical, r.physical, r.length]);

  it('maps a real ext2 file (direct, single and double indirect) as debugfs stat shows it', async () => {
    const { ino, raw } = inodeBytes(ext2, '/big');
    const inode = parseInode(raw, ino, ext2.geo.inodeSize);
    const ctx: ExtentContext = { ino, blockSize: 1024, blocksCount: ext2.geo.blocksCount, readBlock: async (n) => block(ext2, n) };
    const runs = await mapBlockMap(inode.blockArea, Math.ceil(inode.sizeBytes / 1024), Math.ceil((inode.blocks * 512) / 1024), ctx);
    expect(runsOf(runs)).toEqual(debugfsBlockMapRuns(ext2.path, '/big'));
    expect(runs.reduce((n, r) => n + r.length, 0)).toBe(300);
  });

  it('merges contiguous blocks, leaves zero pointers as holes, reads one indirect block', async () => {
    const ctx = fakeCtx({ 50: pointerBlock([300, 301, 0, 303]) });
    const direct = [100, 101, 102, 0, 200, 201, 202, 203, 204, 205, 206, 207];
    const runs = await mapBlockMap(iBlockOf([...direct, 50]), 16, 20, ctx);
    expect(runsOf(runs)).toEqual([[0, 100, 3], [4, 200, 8], [12, 300, 2], [15, 303, 1]]);
    expect(ctx.reads).toEqual([50]);
  });

  it('ignores damaged pointers past the end of the file', async () => {
    const ctx = fakeCtx({});
    const runs = await mapBlockMap(iBlockOf([100, 101, 102, 0xffffffff, 0, 0, 0, 0, 0, 0, 0, 0, 0xffffffff]), 3, 3, ctx);
    expect(runsOf(runs)).toEqual([[0, 100, 3]]);
    expect(ctx.reads).toEqual([]);
  });

  it('a direct, indirect or data pointer past the end gives BAD_BLOCK_POINTER', async () => {
    expect(await codeOfAsync(() => mapBlockMap(iBlockOf([100, 5000]), 2, 10, fakeCtx({}, 1000)))).toBe('BAD_BLOCK_POINTER');
    const ctx = fakeCtx({}, 1000);
    const ptrs = [...Array.from({ length: 12 }, (_, i) => 100 + i), 1000];
    expect(await codeOfAsync(() => mapBlockMap(iBlockOf(ptrs), 13, 20, ctx))).toBe('BAD_BLOCK_POINTER');
    expect(ctx.reads).toEqual([]);
    const withData = [...ptrs.slice(0, 12), 50];
    expect(await codeOfAsync(() => mapBlockMap(iBlockOf(withData), 14, 20, fakeCtx({ 50: pointerBlock([300, 0xfffffff0]) }, 1000)))).toBe(
      'BAD_BLOCK_POINTER',
    );
  });

  it('every pointer repeating one block with a huge size gives BAD_BLOCK_MAP quickly (budget from i_blocks)', async () => {
    const ctx = fakeCtx({ 7: pointerBlock(Array.from({ length: 256 }, () => 7)) }, 1000);
    const started = Date.now();
    const err = await mapBlockMap(iBlockOf(Array.from({ length: 15 }, () => 7)), 2 ** 32, 16, ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'BAD_BLOCK_MAP', details: { allocatedBlocks: 16 } });
    expect(ctx.reads.length).toBeLessThanOrEqual(2);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  // BUG (block-map.ts mapBlockMap, `let budget = allocatedBlocks + 4`; volume.ts layout() passes
  // allocated = ceil(i_blocks * 512 / blockSize) from the same untrusted inode): the budget is never bounded
  // by the filesystem size, so an inode whose i_blocks is also crafted (l_i_blocks_high 0xffff: ~2^47 blocks)
  // lifts it. With every pointer repeating one block and i_size huge, the triple-indirect walk makes
  // perBlock^3 checks (2^30 with 4 KiB blocks) and pushes one run per block: a hang that ends in
  // out-of-memory. Here the fake readBlock throws a plain Error after 5000 reads to end the runaway.
  it('a crafted i_blocks cannot lift the block-map budget past the filesystem size', async () => {
    const blocks = { 7: pointerBlock(Array.from({ length: 256 }, () => 7)) };
    const ctx: ExtentContext = {
      ino: 12,
      blockSize: 1024,
      blocksCount: 1000,
      reads: 0,
      async readBlock(n: number) {
        if (++(ctx as unknown as { reads: number }).reads > 5000) throw new Error('runaway: more than 5000 indirect-block reads');
        return blocks[n as 7] ?? Buffer.alloc(1024);
      },
    } as ExtentContext;
    const err = await mapBlockMap(iBlockOf(Array.from({ length: 15 }, () => 7)), 2 ** 40, 2 ** 40, ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'BAD_BLOCK_MAP' });
  });

  // BUG (block-map.ts, the local `u32(b, i)` helper at the top of the file): it does not bounds-check, so
  // reading past the end of a short i_block (or a short indirect block) gives `undefined` bytes and NaN
  // block numbers; `NaN >= blocksCount` is false, so check() lets them through and mapBlockMap returns runs
  // with physical NaN (and would call readBlock(NaN)) instead of throwing TRUNCATED_STRUCTURE.
  it('every truncated i_block prefix gives TRUNCATED_STRUCTURE, never NaN block numbers', async () => {
    const full = iBlockOf([...Array.from({ length: 12 }, (_, i) => 100 + i), 50, 51, 52]);
    for (let len = 0; len < 60; len++) {
      const code = await codeOfAsync(async () => {
        const runs = await mapBlockMap(full.subarray(0, len), 2 ** 20, 2 ** 20, fakeCtx({}, 1000));
        const bad = runs.find((r) => !Number.isInteger(r.physical));
        if (bad) throw new Error(`prefix ${len}: run with physical ${bad.physical}`);
      });
      expect(code, `prefix ${len}`).toBe('TRUNCATED_STRUCTURE');
    }
  });

  it('garbage: 3000 random maps end in a block-map error or sorted runs inside the filesystem', async () => {
    const codes = new Set<string>();
    const blocksCount = 5000;
    await forSeedsAsync(3000, async (seed) => {
      const next = rng(seed);
      const scale = (v: number): number => (v % 4 === 0 ? 0 : v % Math.floor(blocksCount * 1.02));
      const iBlock = iBlockOf(Array.from({ length: 15 }, () => scale(next())));
      let reads = 0;
      const ctx: ExtentContext = {
        ino: seed,
        blockSize: 1024,
        blocksCount,
        async readBlock(n) {
          if (++reads > 100_000) throw new Error('runaway');
          const r = rng((seed * 31 + n) >>> 0);
          return pointerBlock(Array.from({ length: 256 }, () => scale(r())));
        },
      };
      codes.add(await codeOfAsync(async () => {
        const runs = await mapBlockMap(iBlock, next() % 70_000, next() % 20_000, ctx);
        for (let i = 0; i < runs.length; i++) {
          const x = runs[i]!;
          expect(Number.isInteger(x.physical) && x.physical >= 1 && x.physical + x.length <= blocksCount).toBe(true);
          if (i > 0) expect(x.logical).toBeGreaterThanOrEqual(runs[i - 1]!.logical + runs[i - 1]!.length);
        }
      }));
    });
    // SHARED_FILE_BLOCKS: random pointers that give a block to two places of the file.
    for (const c of codes) expect(['NO_ERROR', 'BAD_BLOCK_POINTER', 'BAD_BLOCK_MAP', 'SHARED_FILE_BLOCKS']).toContain(c);
    expect(codes.size).toBe(4);
  });
});

// Pure unit tests for the ext4 parsers (style.md "Tests": bytes in, value or error code out): a valid input
// taken from a real mke2fs image (located with debugfs/dumpe2fs, never with our own reader), targeted
// corruptions that must give one specific error code, truncated prefixes, and seeded garbage that must
// end in an AppError or a sane value, never a RangeError/TypeError. Regression tests for bugs found while
// writing them are named after what they guard. Shared images and helpers: parsers-setup.ts.
// This file: mapExtents (extent trees).

import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { type Extent, type ExtentContext, mapExtents } from '../../src/ext4/extent.js';
import { inodeCsumSeed } from '../../src/ext4/inode-csum.js';
import { parseSuperblock } from '../../src/ext4/superblock.js';
import { prng } from '../helpers/images.js';
import { codeOfAsync, debugfsExtents } from './fixtures-debugfs.js';
import { SPARSE_ISLANDS, type TestImage, block, ext4, fakeCtx, forSeedsAsync, inodeBytes, useParserImages } from './parsers-setup.js';

useParserImages();

// ---------------------------------------------------------------------------------------------------
type LeafSpec = [logical: number, length: number, physical: number];
type IndexSpec = [logical: number, child: number];

function extentNode(size: number, depth: number, entries: Array<LeafSpec | IndexSpec>, o: { max?: number; count?: number; magic?: number } = {}): Buffer {
  const b = Buffer.alloc(size);
  b.writeUInt16LE(o.magic ?? 0xf30a, 0);
  b.writeUInt16LE(o.count ?? entries.length, 2);
  b.writeUInt16LE(o.max ?? Math.floor((size - 12) / 12), 4);
  b.writeUInt16LE(depth, 6);
  entries.forEach((e, i) => {
    const at = 12 + i * 12;
    b.writeUInt32LE(e[0], at);
    if (depth === 0) {
      const [, length, physical] = e as LeafSpec;
      b.writeUInt16LE(length, at + 4); // ee_len
      b.writeUInt16LE(Math.floor(physical / 0x100000000), at + 6); // ee_start_hi
      b.writeUInt32LE(physical % 0x100000000, at + 8); // ee_start_lo
    } else {
      const [, child] = e as IndexSpec;
      b.writeUInt32LE(child % 0x100000000, at + 4); // ei_leaf_lo
      b.writeUInt16LE(Math.floor(child / 0x100000000), at + 8); // ei_leaf_hi
    }
  });
  return b;
}

const root = (depth: number, entries: Array<LeafSpec | IndexSpec>, o: { max?: number; count?: number; magic?: number } = {}): Buffer =>
  extentNode(60, depth, entries, { max: 4, ...o });

async function extentCode(rootArea: Uint8Array, ctx: ExtentContext): Promise<string> {
  return codeOfAsync(() => mapExtents(rootArea, ctx));
}

describe('mapExtents', () => {
  const imageCtx = (img: TestImage): ExtentContext => ({
    ino: 0,
    blockSize: img.geo.blockSize,
    blocksCount: img.geo.blocksCount,
    readBlock: async (n) => block(img, n),
  });
  const asTriples = (runs: Extent[]): Array<[number, number, number]> => runs.map((r) => [r.logical, r.physical, r.length]);

  it('maps a real depth-0 extent root as debugfs ex shows it', async () => {
    const { raw } = inodeBytes(ext4, '/f');
    const runs = await mapExtents(raw.subarray(40, 100), imageCtx(ext4));
    expect(asTriples(runs)).toEqual(debugfsExtents(ext4.path, '/f'));
    expect(runs.every((r) => !r.uninit)).toBe(true);
  });

  it('maps a real depth-1 tree (index block) as debugfs ex shows it', async () => {
    const { raw } = inodeBytes(ext4, '/sparse');
    expect(raw.readUInt16LE(40 + 6)).toBe(1); // eh_depth of the root: an index node
    const runs = await mapExtents(raw.subarray(40, 100), imageCtx(ext4));
    expect(asTriples(runs)).toEqual(debugfsExtents(ext4.path, '/sparse'));
    expect(runs.map((r) => r.logical)).toEqual(SPARSE_ISLANDS);
  });

  it('metadata_csum: the real tree block verifies with the inode seed; one changed byte gives BAD_EXTENT_CHECKSUM', async () => {
    const { ino, raw } = inodeBytes(ext4, '/sparse');
    const sb = parseSuperblock(ext4.bytes.subarray(1024, 2048));
    const csumSeed = inodeCsumSeed(sb, ino, raw.readUInt32LE(100));
    const ctx = { ...imageCtx(ext4), ino, csumSeed };
    expect(asTriples(await mapExtents(raw.subarray(40, 100), ctx))).toEqual(debugfsExtents(ext4.path, '/sparse'));
    const leafBlock = raw.readUInt32LE(40 + 12 + 4); // ei_leaf_lo of the root's one index entry
    const damaged = { ...ctx, readBlock: async (n: number) => {
      const b = block(ext4, n);
      if (n === leafBlock) b.writeUInt8(b.readUInt8(12 + 8) ^ 0x01, 12 + 8); // ee_start_lo of the first leaf extent
      return b;
    } };
    expect(await extentCode(raw.subarray(40, 100), damaged)).toBe('BAD_EXTENT_CHECKSUM');
    // Without a seed (no metadata_csum) the same bytes are taken as they are.
    expect(await extentCode(raw.subarray(40, 100), { ...damaged, csumSeed: null })).toBe('NO_ERROR');
  });

  it('decodes uninitialised extents, 32768-block extents, 48-bit starts', async () => {
    const r = root(0, [[0, 32768 + 5, 1000], [5, 32768, 2000], [40000, 1, 0x100000007]]);
    const runs = await mapExtents(r, fakeCtx({}, 0x200000000));
    expect(runs).toEqual([
      { logical: 0, physical: 1000, length: 5, uninit: true },
      { logical: 5, physical: 2000, length: 32768, uninit: false },
      { logical: 40000, physical: 0x100000007, length: 1, uninit: false },
    ]);
  });

  // The kernel's ext4_valid_extent refuses both; a length of 0 was skipped, and the file read zeros there.
  it('an extent of length 0, and one past the last logical block, are BAD_EXTENT_LENGTH', async () => {
    expect(await extentCode(root(0, [[0, 1, 1000], [40000, 0, 0x7fff00001000]]), fakeCtx({}, 0x200000000))).toBe('BAD_EXTENT_LENGTH');
    expect(await extentCode(root(0, [[0xffffffff, 2, 1000]]), fakeCtx({}, 0x200000000))).toBe('BAD_EXTENT_LENGTH');
  });

  it('walks index nodes down to their leaves in order', async () => {
    const ctx = fakeCtx({ 500: extentNode(1024, 0, [[0, 10, 2000]]), 501: extentNode(1024, 0, [[100, 5, 3000]]) });
    expect(asTriples(await mapExtents(root(1, [[0, 500], [100, 501]]), ctx))).toEqual([[0, 2000, 10], [100, 3000, 5]]);
    expect(ctx.reads).toEqual([500, 501]);
  });

  it('a depth-5 chain is accepted, depth 6 is BAD_EXTENT_HEADER', async () => {
    const blocks: Record<number, Buffer> = {};
    for (let d = 4; d >= 1; d--) blocks[14 - d] = extentNode(1024, d, [[0, 15 - d]]);
    blocks[14] = extentNode(1024, 0, [[0, 1, 9000]]);
    expect(asTriples(await mapExtents(root(5, [[0, 10]]), fakeCtx(blocks)))).toEqual([[0, 9000, 1]]);
    expect(await extentCode(root(6, [[0, 10]]), fakeCtx(blocks))).toBe('BAD_EXTENT_HEADER');
  });

  it.each<[string, Buffer]>([
    ['bad magic', root(0, [[0, 1, 1000]], { magic: 0x0000 })],
    ['entries > max', root(0, [[0, 1, 1000], [1, 1, 1001], [2, 1, 1002]], { max: 2 })],
    ['max > room in i_block', root(0, [[0, 1, 1000]], { max: 5 })],
    ['depth 6', root(6, [[0, 10]])],
  ])('root with %s gives BAD_EXTENT_HEADER', async (_n, r) => {
    const ctx = fakeCtx({});
    expect(await extentCode(r, ctx)).toBe('BAD_EXTENT_HEADER');
    expect(ctx.reads).toEqual([]);
  });

  it('a child block with a bad magic gives BAD_EXTENT_HEADER', async () => {
    expect(await extentCode(root(1, [[0, 500]]), fakeCtx({ 500: Buffer.alloc(1024) }))).toBe('BAD_EXTENT_HEADER');
  });

  it('a child whose depth is not one less than its parent gives BAD_EXTENT_DEPTH', async () => {
    const err = await mapExtents(root(2, [[0, 500]]), fakeCtx({ 500: extentNode(1024, 0, [[0, 1, 1000]]) })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'BAD_EXTENT_DEPTH', details: { depth: 0, expectedDepth: 1 } });
  });

  it.each<[string, Buffer, Record<number, Buffer>]>([
    ['overlapping extents in a leaf', root(0, [[0, 10, 1000], [5, 2, 2000]]), {}],
    ['extents out of order in a leaf', root(0, [[10, 1, 1000], [0, 1, 2000]]), {}],
    ['sibling leaves that overlap', root(1, [[0, 500], [5, 501]]), {
      500: extentNode(1024, 0, [[0, 10, 1000]]),
      501: extentNode(1024, 0, [[5, 1, 2000]]),
    }],
    ['a child starting before its index key', root(1, [[0, 500], [100, 501]]), {
      500: extentNode(1024, 0, [[0, 10, 1000]]),
      501: extentNode(1024, 0, [[60, 1, 2000]]),
    }],
  ])('%s gives BAD_EXTENT_ORDER', async (_n, r, blocks) => {
    expect(await extentCode(r, fakeCtx(blocks))).toBe('BAD_EXTENT_ORDER');
  });

  it('extents and index pointers outside the filesystem give BAD_EXTENT_BLOCK', async () => {
    expect(await extentCode(root(0, [[0, 1, 0]]), fakeCtx({}, 1000))).toBe('BAD_EXTENT_BLOCK');
    expect(await extentCode(root(0, [[0, 1, 1000]]), fakeCtx({}, 1000))).toBe('BAD_EXTENT_BLOCK');
    expect(await extentCode(root(0, [[0, 10, 995]]), fakeCtx({}, 1000))).toBe('BAD_EXTENT_BLOCK');
    expect(await extentCode(root(0, [[0, 1, 0x1000000000]]), fakeCtx({}, 1000))).toBe('BAD_EXTENT_BLOCK');
    const ctx = fakeCtx({}, 1000);
    expect(await extentCode(root(1, [[0, 0]]), ctx)).toBe('BAD_EXTENT_BLOCK');
    expect(await extentCode(root(1, [[0, 5000]]), ctx)).toBe('BAD_EXTENT_BLOCK');
    expect(ctx.reads).toEqual([]);
    // The last blocks of the filesystem are fine.
    expect(asTriples(await mapExtents(root(0, [[0, 3, 997]]), fakeCtx({}, 1000)))).toEqual([[0, 997, 3]]);
  });

  it('an index block pointing to itself ends with BAD_EXTENT_DEPTH (depth must fall at each level)', async () => {
    const ctx = fakeCtx({ 500: extentNode(1024, 1, [[0, 500]]) });
    expect(await extentCode(root(1, [[0, 500]]), ctx)).toBe('BAD_EXTENT_DEPTH');
    expect(ctx.reads).toEqual([500]);
    // Under a depth-2 root the self-pointing depth-1 node is valid once, then its child (itself) is not.
    const ctx2 = fakeCtx({ 500: extentNode(1024, 1, [[0, 500]]) });
    expect(await extentCode(root(2, [[0, 500]]), ctx2)).toBe('BAD_EXTENT_DEPTH');
    expect(ctx2.reads).toEqual([500, 500]);
  });

  // With empty extents (skipped then) the walk went on to the entry budget (EXTENT_TREE_TOO_LARGE); empty
  // extents are refused now, and a leaf met twice overlaps itself.
  it('a diamond of index entries all sharing one child ends with BAD_EXTENT_ORDER, quickly', async () => {
    const max = Math.floor((1024 - 12) / 12);
    const fan = (child: number): IndexSpec[] => Array.from({ length: max }, () => [0, child] as IndexSpec);
    const ctx = fakeCtx({
      500: extentNode(1024, 2, fan(501)),
      501: extentNode(1024, 1, fan(502)),
      502: extentNode(1024, 0, Array.from({ length: max }, (_, i): LeafSpec => [i, 1, 9000 + i])),
    });
    const started = Date.now();
    expect(await extentCode(root(3, [[0, 500], [0, 500], [0, 500], [0, 500]]), ctx)).toBe('BAD_EXTENT_ORDER');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('every truncated prefix of a real root gives TRUNCATED_STRUCTURE (< 8 bytes) or BAD_EXTENT_HEADER', async () => {
    const { raw } = inodeBytes(ext4, '/f');
    const area = raw.subarray(40, 100);
    for (let len = 0; len < 60; len++) {
      expect(await extentCode(area.subarray(0, len), imageCtx(ext4)), `prefix ${len}`).toBe(len < 8 ? 'TRUNCATED_STRUCTURE' : 'BAD_EXTENT_HEADER');
    }
  });

  it('truncated child blocks give TRUNCATED_STRUCTURE or BAD_EXTENT_HEADER', async () => {
    const child = extentNode(1024, 0, [[0, 1, 1000], [1, 1, 2000]]);
    const codes = new Set<string>();
    for (let len = 0; len < 40; len++) {
      codes.add(await extentCode(root(1, [[0, 500]]), fakeCtx({ 500: child.subarray(0, len) })));
    }
    expect([...codes].sort()).toEqual(['BAD_EXTENT_HEADER', 'TRUNCATED_STRUCTURE']);
  });

  it('garbage: 2000 random trees end in an extent error or sorted, disjoint runs inside the filesystem', async () => {
    const codes = new Set<string>();
    const blocksCount = 2 ** 40;
    await forSeedsAsync(2000, async (seed) => {
      const r = prng(seed, 60);
      if (seed % 2 === 0) {
        r.writeUInt16LE(0xf30a, 0);
        r.writeUInt16LE(seed % 5, 2);
        r.writeUInt16LE(4, 4);
        r.writeUInt16LE(seed % 3, 6);
      }
      const ctx: ExtentContext = {
        ino: seed,
        blockSize: 1024,
        blocksCount,
        async readBlock(n) {
          const b = prng((seed * 7919 + n) >>> 0, 1024);
          if (n % 3 !== 0) {
            b.writeUInt16LE(0xf30a, 0);
            b.writeUInt16LE(n % 85, 2);
            b.writeUInt16LE(84, 4);
            b.writeUInt16LE(n % 2, 6);
          }
          return b;
        },
      };
      codes.add(await codeOfAsync(async () => {
        const runs = await mapExtents(r, ctx);
        for (let i = 0; i < runs.length; i++) {
          const x = runs[i]!;
          expect(x.length >= 1 && x.physical >= 1 && x.physical + x.length <= blocksCount).toBe(true);
          if (i > 0) expect(x.logical).toBeGreaterThanOrEqual(runs[i - 1]!.logical + runs[i - 1]!.length);
        }
      }));
    });
    for (const c of codes) {
      expect(['NO_ERROR', 'BAD_EXTENT_HEADER', 'BAD_EXTENT_DEPTH', 'BAD_EXTENT_ORDER', 'BAD_EXTENT_BLOCK', 'TRUNCATED_STRUCTURE']).toContain(c);
    }
    expect(codes).toContain('BAD_EXTENT_HEADER');
  });
});

// Shared setup for the ext4 parser unit tests (parse-*.test.ts): the three small mke2fs images the tests
// take their valid inputs from (built in beforeAll, removed in afterAll), byte helpers to cut a block or an
// inode out of them, seeded-garbage drivers (forSeeds/forSeedsAsync, rng) and a fake block reader for the
// extent and block-map walkers. Structures are located with debugfs/dumpe2fs (fixtures-debugfs.ts), never
// with our own reader.

import { closeSync, mkdirSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { AppError } from '../../src/errors.js';
import type { ExtentContext } from '../../src/ext4/extent.js';
import { mkfs, prng, tempDir } from '../helpers/images.js';
import { type FsGeometry, debugfs, dumpe2fs, inodeLocation } from './fixtures-debugfs.js';

export interface TestImage {
  path: string;
  bytes: Buffer;
  geo: FsGeometry;
}

const F_CONTENT = prng(15, 3000);
export const INLINE_CONTENT = Buffer.from('inline data longer than the sixty bytes of i_block, so the rest sits in system.data!!'.padEnd(100, '#'));
/** Logical blocks (1 KiB) of /sparse that hold data: eight islands, so the extent tree needs depth 1. */
export const SPARSE_ISLANDS = [0, 20, 40, 60, 80, 100, 120, 140];

export let ext4: TestImage; // ext4, default features (metadata_csum, 64bit, extents), 1 KiB blocks
export let ext2: TestImage; // ext2 with indirect block maps
export let inline: TestImage; // ext4 with inline_data

function loadImage(path: string): TestImage {
  return { path, bytes: readFileSync(path), geo: dumpe2fs(path) };
}

/**
 * Registers, for the calling test file, the beforeAll that builds `ext4`, `ext2` and `inline` in a fresh
 * temporary directory and the afterAll that removes it. Call once at the top level of the file.
 */
export function useParserImages(): void {
  const work = tempDir('haos-parsers-');
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  beforeAll(() => buildImages(work));
}

function buildImages(work: string): void {
  const stageA = join(work, 'a');
  mkdirSync(join(stageA, 'dir-a'), { recursive: true });
  writeFileSync(join(stageA, 'dir-a/a1.txt'), 'a1');
  writeFileSync(join(stageA, 'dir-a/a2.txt'), 'a2');
  writeFileSync(join(stageA, 'f'), F_CONTENT);
  symlinkSync('target/' + 'x'.repeat(100), join(stageA, 'slow-link'));
  const fd = openSync(join(stageA, 'sparse'), 'w');
  for (const [i, logical] of SPARSE_ISLANDS.entries()) writeSync(fd, Buffer.alloc(1024, 0x41 + i), 0, 1024, logical * 1024);
  closeSync(fd);
  const a = join(work, 'ext4.img');
  mkfs(a, stageA, { blockSize: 1024, sizeMiB: 16 });
  debugfs(a, 'ea_set /f user.note hello', true);
  ext4 = loadImage(a);

  const stageB = join(work, 'b');
  mkdirSync(stageB);
  writeFileSync(join(stageB, 'big'), prng(3, 300 * 1024));
  const b = join(work, 'ext2.img');
  mkfs(b, stageB, { type: 'ext2', blockSize: 1024, sizeMiB: 16 });
  ext2 = loadImage(b);

  const stageC = join(work, 'c');
  mkdirSync(join(stageC, 'small'), { recursive: true });
  writeFileSync(join(stageC, 'small/x'), 'x');
  writeFileSync(join(stageC, 'small/yy'), 'yy');
  writeFileSync(join(stageC, 'inl.txt'), INLINE_CONTENT);
  const c = join(work, 'inline.img');
  mkfs(c, stageC, { blockSize: 1024, sizeMiB: 16, features: 'inline_data' });
  inline = loadImage(c);
}

export function block(img: TestImage, n: number): Buffer {
  const bs = img.geo.blockSize;
  return Buffer.from(img.bytes.subarray(n * bs, (n + 1) * bs));
}

export function inodeBytes(img: TestImage, spec: string): { ino: number; raw: Buffer } {
  const loc = inodeLocation(img.path, spec, img.geo.blockSize);
  return { ino: loc.ino, raw: Buffer.from(img.bytes.subarray(loc.byteOffset, loc.byteOffset + img.geo.inodeSize)) };
}

/** Runs `fn` for every seed; reports the first seed whose outcome is not an AppError or a returned value. */
export function forSeeds(count: number, fn: (seed: number) => void): void {
  for (let seed = 1; seed <= count; seed++) {
    try {
      fn(seed);
    } catch (err) {
      if (err instanceof AppError) continue;
      throw new Error(`seed ${seed}: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`, { cause: err });
    }
  }
}

export async function forSeedsAsync(count: number, fn: (seed: number) => Promise<void>): Promise<void> {
  for (let seed = 1; seed <= count; seed++) {
    try {
      await fn(seed);
    } catch (err) {
      if (err instanceof AppError) continue;
      throw new Error(`seed ${seed}: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`, { cause: err });
    }
  }
}

/** A small deterministic random-number source for choosing mutations. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
}

/** A fake block reader for the extent and block-map walkers: serves `blocks` (zeros elsewhere), records every read. */
export function fakeCtx(blocks: Record<number, Buffer>, blocksCount = 100_000, blockSize = 1024): ExtentContext & { reads: number[] } {
  const reads: number[] = [];
  return {
    ino: 12,
    blockSize,
    blocksCount,
    reads,
    async readBlock(n: number) {
      reads.push(n);
      if (reads.length > 100_000) throw new Error(`runaway: ${reads.length} block reads`);
      return blocks[n] ?? Buffer.alloc(blockSize);
    },
  };
}

// Indirect block maps of ext2/ext3 files (kernel Documentation/filesystems/ext4/ifork.rst, "Direct/
// Indirect Block Addressing"): i_block[0..11] direct, [12] single, [13] double, [14] triple indirect.
// mapBlockMap turns them into the same sorted runs as an extent tree, merging physically contiguous blocks;
// zero pointers are holes. Only the blocks below the file size are mapped, so a damaged pointer past EOF
// does not matter, and a crafted map cannot make us read more indirect blocks than the file needs.

import { CorruptError } from '../errors.js';
import { type Extent, type ExtentContext, assertNoSharedBlocks } from './extent.js';

function u32(b: Uint8Array, i: number): number {
  const o = i * 4;
  if (o + 4 > b.length) throw new CorruptError('TRUNCATED_STRUCTURE', `block map is truncated: pointer ${i} is beyond its ${b.length} bytes`);
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16)) + b[o + 3]! * 0x1000000;
}

class RunBuilder {
  readonly runs: Extent[] = [];

  add(logical: number, physical: number): void {
    const last = this.runs[this.runs.length - 1];
    if (last && last.physical !== 0 && physical !== 0 && last.logical + last.length === logical && last.physical + last.length === physical) {
      last.length++;
    } else if (physical !== 0) {
      this.runs.push({ logical, physical, length: 1, uninit: false });
    }
  }
}

/**
 * `allocatedBlocks` (from i_blocks) bounds the work: a legitimate map never points to more blocks than the
 * inode owns, so a crafted map whose pointers all repeat one block is refused instead of looping.
 */
export async function mapBlockMap(iBlock: Uint8Array, blockCountNeeded: number, allocatedBlocks: number, ctx: ExtentContext): Promise<Extent[]> {
  if (iBlock.length < 60) throw new CorruptError('TRUNCATED_STRUCTURE', `block map of inode ${ctx.ino} is truncated (${iBlock.length} bytes)`);
  const perBlock = ctx.blockSize / 4;
  const runs = new RunBuilder();
  // i_blocks is untrusted too: no map can own more blocks than the filesystem has.
  let budget = Math.min(allocatedBlocks, ctx.blocksCount) + 4;
  const seenIndirect = new Set<number>();
  const check = (block: number): void => {
    if (--budget < 0) {
      throw new CorruptError('BAD_BLOCK_MAP', `corrupt block map in inode ${ctx.ino}: it points to more blocks than the inode owns (${allocatedBlocks})`, {
        details: { ino: ctx.ino, allocatedBlocks },
      });
    }
    if (block >= ctx.blocksCount) {
      throw new CorruptError('BAD_BLOCK_POINTER', `corrupt block map in inode ${ctx.ino}: block ${block} is outside the filesystem (${ctx.blocksCount} blocks)`, {
        details: { ino: ctx.ino, block },
      });
    }
  };
  let logical = 0;
  for (let i = 0; i < 12 && logical < blockCountNeeded; i++, logical++) {
    const b = u32(iBlock, i);
    if (b !== 0) check(b);
    runs.add(logical, b);
  }
  const spans = [perBlock, perBlock * perBlock, perBlock * perBlock * perBlock];
  for (let level = 0; level < 3 && logical < blockCountNeeded; level++) {
    const ptr = u32(iBlock, 12 + level);
    const span = spans[level]!;
    if (ptr !== 0) {
      check(ptr);
      await walkIndirect(ptr, level, logical, blockCountNeeded, ctx, runs, check, seenIndirect);
    }
    logical += span;
  }
  if (!ctx.sharedBlocks) assertNoSharedBlocks(runs.runs, ctx.ino);
  return runs.runs;
}

async function walkIndirect(
  block: number,
  level: number,
  firstLogical: number,
  limit: number,
  ctx: ExtentContext,
  runs: RunBuilder,
  check: (b: number) => void,
  seenIndirect: Set<number>,
): Promise<void> {
  // Indirect blocks are never shared in a real map; a repeat is a loop that would multiply the work.
  if (seenIndirect.has(block)) {
    throw new CorruptError('BAD_BLOCK_MAP', `corrupt block map in inode ${ctx.ino}: indirect block ${block} is used twice`, { details: { ino: ctx.ino, block } });
  }
  seenIndirect.add(block);
  ctx.treeBlocks?.push(block);
  const perBlock = ctx.blockSize / 4;
  const data = await ctx.readBlock(block);
  if (data.length < ctx.blockSize) throw new CorruptError('TRUNCATED_STRUCTURE', `indirect block ${block} of inode ${ctx.ino} is truncated`);
  const childSpan = perBlock ** level;
  for (let i = 0; i < perBlock; i++) {
    const logical = firstLogical + i * childSpan;
    if (logical >= limit) break;
    const ptr = u32(data, i);
    if (ptr === 0) continue;
    check(ptr);
    if (level === 0) runs.add(logical, ptr);
    else await walkIndirect(ptr, level - 1, logical, limit, ctx, runs, check, seenIndirect);
  }
}

// Freeing blocks (kernel ext4_free_blocks, without the deferred discard): each run's bits cleared in its
// group's block bitmap, the group's free count and bitmap checksum (crc32c over clusters_per_group/8
// bytes, kernel ext4_block_bitmap_csum_set) and descriptor checksum, and the superblock's free count. A
// bit already clear means the filesystem and this file disagree: refused, nothing written.

import { formatBytes } from '../units.js';
import { RefusedError, REPAIR, UnsupportedError } from '../errors.js';
import { assertBitmapIntact, sealBitmap } from './group-csum.js';
import { BG_BLOCK_UNINIT, groupBlockCount, groupFirstBlock } from './group-desc.js';
import { initGroupBitmap } from './group-init.js';
import { type BlockEdits, GD, adjustSuperblockFree, descriptor, getCount, setCount, setDescriptorChecksum } from './group-edit.js';
import { assertFreeable, assertNotSystemBlocks } from './system-zone.js';
import type { Ext4Volume } from './volume.js';

/** The block bitmap's checksum (kernel ext4_block_bitmap_csum_set), then the descriptor's. */
function sealGroup(vol: Ext4Volume, group: number, desc: Buffer, bitmap: Buffer): void {
  sealBitmap(vol, 'block', desc, bitmap);
  setDescriptorChecksum(vol, group, desc);
}

export interface BlockRange {
  start: number;
  length: number;
}

/** Clears bits [from, to) of a bitmap, a byte at a time where it can; false if one was clear already. */
function clearBits(bitmap: Buffer, from: number, to: number): boolean {
  let i = from;
  for (; i < to && (i & 7) !== 0; i++) {
    if ((bitmap[i >> 3]! & (1 << (i & 7))) === 0) return false;
    bitmap[i >> 3]! &= ~(1 << (i & 7));
  }
  for (; i + 8 <= to; i += 8) {
    if (bitmap[i >> 3] !== 0xff) return false;
    bitmap[i >> 3] = 0;
  }
  for (; i < to; i++) {
    if ((bitmap[i >> 3]! & (1 << (i & 7))) === 0) return false;
    bitmap[i >> 3]! &= ~(1 << (i & 7));
  }
  return true;
}

/** Gives the blocks of `ranges` back to the filesystem; returns how many were freed. */
export async function freeBlocks(edits: BlockEdits, ranges: BlockRange[]): Promise<number> {
  const vol = edits.vol;
  const { sb } = vol;
  if (sb.clusterSize !== sb.blockSize) throw new UnsupportedError('BIGALLOC', 'bigalloc filesystems are not written', { hint: 'nothing was written' });
  // Each range cut at group boundaries: [group, first index, end index].
  const pieces: Array<[number, number, number]> = [];
  for (const r of ranges) {
    if (r.start < sb.firstDataBlock || r.start + r.length > sb.blocksCount || r.length < 0) {
      throw new RefusedError('BAD_BLOCK', `blocks ${r.start}-${r.start + r.length - 1} lie outside the filesystem`, { ...REPAIR });
    }
    await assertFreeable(vol, r.start, r.length);
    for (let b = r.start; b < r.start + r.length; ) {
      const group = Math.floor((b - sb.firstDataBlock) / sb.blocksPerGroup);
      const index = (b - sb.firstDataBlock) % sb.blocksPerGroup;
      const take = Math.min(sb.blocksPerGroup - index, r.start + r.length - b);
      pieces.push([group, index, index + take]);
      b += take;
    }
  }
  pieces.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let total = 0;
  for (let k = 0; k < pieces.length; ) {
    const group = pieces[k]![0];
    const gd = await vol.groupDesc(group);
    if (((await descriptor(edits, group)).readUInt16LE(GD.flags) & BG_BLOCK_UNINIT) !== 0) throw new RefusedError('BLOCK_GROUP_UNINIT', `group ${group} is marked unused but holds blocks of the file`, { ...REPAIR });
    const bitmap = await edits.block(gd.blockBitmap);
    assertBitmapIntact(vol, 'block', group, await descriptor(edits, group), bitmap);
    let freed = 0;
    for (; k < pieces.length && pieces[k]![0] === group; k++) {
      const [, from, to] = pieces[k]!;
      if (!clearBits(bitmap, from, to)) {
        throw new RefusedError('BLOCK_NOT_IN_USE', `a block of the file in ${groupFirstBlock(sb, group) + from}-${groupFirstBlock(sb, group) + to - 1} is marked free`, { ...REPAIR });
      }
      freed += to - from;
    }
    const desc = await descriptor(edits, group);
    setCount(vol, desc, GD.freeBlocksLo, GD.freeBlocksHi, getCount(vol, desc, GD.freeBlocksLo, GD.freeBlocksHi) + freed);
    sealGroup(vol, group, desc, bitmap);
    total += freed;
  }
  await adjustSuperblockFree(edits, 0, total);
  return total;
}

/** Groups to look in for new blocks: the goal's group first, then the following ones, wrapping round. */
function groupOrder(count: number, first: number): number[] {
  return Array.from({ length: count }, (_, i) => (first + i) % count);
}

/** Free runs of a group's bitmap, in order: [index, length]. */
function freeRuns(bitmap: Buffer, blocksInGroup: number): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  let start = -1;
  for (let i = 0; i <= blocksInGroup; i++) {
    const free = i < blocksInGroup && (bitmap[i >> 3]! & (1 << (i & 7))) === 0;
    if (free && start < 0) start = i;
    if (!free && start >= 0) {
      runs.push([start, i - start]);
      start = -1;
    }
  }
  return runs;
}

/**
 * Takes up to `left` blocks from `group` (its bitmap `bitmap`, `fresh` when made in this transaction): one
 * run long enough for all of them if it has one, else its runs in order. Returns the ranges taken, the
 * group's counts and checksums updated.
 */
async function takeFromGroup(edits: BlockEdits, group: number, bitmap: Buffer, left: number, fresh = false): Promise<BlockRange[]> {
  const vol = edits.vol;
  const { sb } = vol;
  const desc = await descriptor(edits, group);
  if (getCount(vol, desc, GD.freeBlocksLo, GD.freeBlocksHi) === 0) return [];
  if (!fresh) assertBitmapIntact(vol, 'block', group, desc, bitmap);
  const base = groupFirstBlock(sb, group);
  const runs = freeRuns(bitmap, groupBlockCount(sb, group));
  const whole = runs.find(([, length]) => length >= left);
  const taken: BlockRange[] = [];
  let got = 0;
  for (const [index, length] of whole ? [whole] : runs) {
    const take = Math.min(length, left - got);
    for (let i = index; i < index + take; i++) bitmap[i >> 3]! |= 1 << (i & 7);
    taken.push({ start: base + index, length: take });
    got += take;
    if (got === left) break;
  }
  if (got === 0) return [];
  for (const r of taken) await assertNotSystemBlocks(vol, r.start, r.length);
  setCount(vol, desc, GD.freeBlocksLo, GD.freeBlocksHi, getCount(vol, desc, GD.freeBlocksLo, GD.freeBlocksHi) - got);
  sealGroup(vol, group, desc, bitmap);
  return taken;
}

/**
 * Takes `count` free blocks, as few runs as possible, starting in the group of block `goal` (the kernel's
 * mballoc prefers the inode's group too): a run long enough for everything if the group has one, else
 * the runs of the group in order, then the next groups. Groups whose bitmap is not initialised yet
 * (BLOCK_UNINIT) come last, each initialised when it is needed (group-init.ts). Returns the ranges taken.
 */
export async function allocateBlocks(edits: BlockEdits, goal: number, count: number): Promise<BlockRange[]> {
  const vol = edits.vol;
  const { sb } = vol;
  if (sb.clusterSize !== sb.blockSize) throw new UnsupportedError('BIGALLOC', 'bigalloc filesystems are not written', { hint: 'nothing was written' });
  const taken: BlockRange[] = [];
  let left = count;
  const firstGroup = Math.floor((Math.max(goal, sb.firstDataBlock) - sb.firstDataBlock) / sb.blocksPerGroup) % sb.groupCount;
  const uninit: number[] = [];
  for (const group of groupOrder(sb.groupCount, firstGroup)) {
    if (left === 0) break;
    // The descriptor as this transaction has it: a group initialised earlier in it counts as initialised.
    if (((await descriptor(edits, group)).readUInt16LE(GD.flags) & BG_BLOCK_UNINIT) !== 0) {
      uninit.push(group);
      continue;
    }
    const got = await takeFromGroup(edits, group, await edits.block((await vol.groupDesc(group)).blockBitmap), left);
    taken.push(...got);
    left -= got.reduce((n, r) => n + r.length, 0);
  }
  for (const group of uninit) {
    if (left === 0) break;
    const bitmap = await initGroupBitmap(edits, group);
    if (!bitmap) continue;
    const got = await takeFromGroup(edits, group, bitmap, left, true);
    if (got.length === 0) sealGroup(vol, group, await descriptor(edits, group), bitmap); // the cleared flag
    taken.push(...got);
    left -= got.reduce((n, r) => n + r.length, 0);
  }
  if (left > 0) {
    // The room kept for the system is free here (Home Assistant runs as root, which takes it too), but `df` and
    // haos-rescue's own df leave it out of what is available: said, as the two numbers differed without a word.
    const free = (count - left) * sb.blockSize;
    const kept = Math.min(sb.reservedBlocksCount * sb.blockSize, free);
    const also = kept > 0 ? ` (${formatBytes(kept)} of it the room kept for the system, which df leaves out of what is available)` : '';
    throw new RefusedError('NO_SPACE', `the filesystem is too full for this: it needs ${formatBytes(count * sb.blockSize)} more and ${formatBytes(free)} is free${also}`, { hint: 'free some space first (see what fills the card); nothing was written', remedy: 'show-usage' });
  }
  await adjustSuperblockFree(edits, 0, -count);
  return taken;
}

/** allocateBlocks for tree blocks, which need not be contiguous: the numbers of the `count` blocks taken. */
export async function allocateBlockList(edits: BlockEdits, goal: number, count: number): Promise<number[]> {
  return (await allocateBlocks(edits, goal, count)).flatMap((r) => Array.from({ length: r.length }, (_, i) => r.start + i));
}

// Writing the indirect block maps of ext2/ext3 inodes (filesystems without the extent feature, and old
// block-mapped folders on ext4): i_block[0..11] point at data blocks, [12] at a block of pointers, [13]
// at a block of such blocks, [14] one level more (kernel Documentation/filesystems/ext4/ifork.rst).
// As ext4_alloc_branch does, the mapping blocks a block needs are taken just before it from the same
// allocation, so a file written at once lies as [12 data][map][data...][map][map][data...]. Mapping
// blocks carry no checksum; they are metadata, journaled with the rest of the transaction.

import { CorruptError, REPAIR, UnsupportedError } from '../errors.js';
import { type BlockRange, allocateBlocks } from './alloc-block.js';
import type { BlockEdits } from './group-edit.js';

const DIRECT = 12;

/** Where logical block `logical` hangs: the i_block slot, then the index in each mapping block below it. */
function pathOf(logical: number, perBlock: number): { slot: number; indices: number[] } {
  if (logical < DIRECT) return { slot: logical, indices: [] };
  let rel = logical - DIRECT;
  for (let depth = 1; depth <= 3; depth++) {
    const span = perBlock ** depth;
    if (rel < span) {
      const indices: number[] = [];
      for (let d = depth - 1; d >= 0; d--) indices.push(Math.floor(rel / perBlock ** d) % perBlock);
      return { slot: DIRECT + depth - 1, indices };
    }
    rel -= span;
  }
  throw new UnsupportedError('FILE_TOO_LARGE_FOR_BLOCK_MAP', `block ${logical} is beyond what an indirect block map reaches`, { hint: 'nothing was written' });
}

/** The most blocks a block map reaches with `perBlock` pointers to a mapping block. */
export function blockMapReach(perBlock: number): number {
  return DIRECT + perBlock + perBlock ** 2 + perBlock ** 3;
}

/** The mapping blocks a fresh map of `count` data blocks needs. */
export function mapBlocksFor(count: number, perBlock: number): number {
  let n = 0;
  let rel = count - DIRECT;
  for (let depth = 1; depth <= 3 && rel > 0; depth++) {
    const covered = Math.min(rel, perBlock ** depth);
    for (let d = 1; d <= depth; d++) n += Math.ceil(covered / perBlock ** d);
    rel -= covered;
  }
  return n;
}

async function mapBlock(edits: BlockEdits, ino: number, ptr: number): Promise<Buffer> {
  const { sb } = edits.vol;
  if (ptr < sb.firstDataBlock || ptr >= sb.blocksCount) {
    throw new CorruptError('BAD_BLOCK_POINTER', `the block map of inode ${ino} points at block ${ptr}, outside the filesystem`, { ...REPAIR });
  }
  return edits.block(ptr);
}

/** The new mapping blocks that giving logical block `logical` a place in map `iBlock` would take. */
export async function missingMapBlocks(edits: BlockEdits, ino: number, iBlock: Buffer, logical: number): Promise<number> {
  const { slot, indices } = pathOf(logical, edits.vol.sb.blockSize / 4);
  let ptr = iBlock.readUInt32LE(slot * 4);
  for (let level = 0; level < indices.length; level++) {
    if (ptr === 0) return indices.length - level;
    ptr = (await mapBlock(edits, ino, ptr)).readUInt32LE(indices[level]! * 4);
  }
  if (ptr !== 0) throw new CorruptError('BAD_BLOCK_MAP', `the block map of inode ${ino} already has a block at ${logical}, past the end of the file`, { ...REPAIR });
  return 0;
}

/**
 * Gives logical block `logical` of map `iBlock` (the inode's 60 bytes, changed in place) a data block,
 * making the mapping blocks on its way that are missing; `take` hands out blocks already allocated, in the
 * order they are used (mapping blocks first). Returns the data block.
 */
export async function mapLogical(edits: BlockEdits, ino: number, iBlock: Buffer, logical: number, take: () => number): Promise<number> {
  const { slot, indices } = pathOf(logical, edits.vol.sb.blockSize / 4);
  let holder: Buffer = iBlock;
  let at = slot;
  for (const index of indices) {
    let ptr = holder.readUInt32LE(at * 4);
    let node: Buffer;
    if (ptr === 0) {
      ptr = take();
      node = await edits.block(ptr);
      node.fill(0);
      holder.writeUInt32LE(ptr, at * 4);
    } else node = await mapBlock(edits, ino, ptr);
    holder = node;
    at = index;
  }
  const data = take();
  holder.writeUInt32LE(data, at * 4);
  return data;
}

/** A cursor over allocated ranges, one block at a time; block numbers past 32 bits are refused. */
function blockCursor(ranges: BlockRange[]): () => number {
  let r = 0;
  let k = 0;
  return () => {
    while (ranges[r] && k >= ranges[r]!.length) {
      r++;
      k = 0;
    }
    const range = ranges[r];
    if (!range) throw new Error('block map: more blocks used than allocated');
    const block = range.start + k++;
    if (block > 0xffffffff) throw new UnsupportedError('BLOCK_BEYOND_MAP', `block ${block} lies beyond what a block map can point at`, { hint: 'nothing was written' });
    return block;
  };
}

/**
 * A new block map for `count` data blocks, its blocks allocated from the group of `goal`: i_block's 60
 * bytes, the data blocks in logical order (as runs), and the number of mapping blocks (they count in i_blocks).
 */
export async function newBlockMap(edits: BlockEdits, ino: number, count: number, goal: number): Promise<{ root: Buffer; data: BlockRange[]; mapBlocks: number }> {
  const perBlock = edits.vol.sb.blockSize / 4;
  const mapBlocks = mapBlocksFor(count, perBlock);
  if (count > blockMapReach(perBlock) || ((count + mapBlocks) * edits.vol.sb.blockSize) / 512 > 0xffffffff) {
    throw new UnsupportedError('FILE_TOO_LARGE_FOR_BLOCK_MAP', `${count} blocks are more than a file without extents can hold`, { hint: 'nothing was written' });
  }
  const root = Buffer.alloc(60);
  const data: BlockRange[] = [];
  if (count === 0) return { root, data, mapBlocks };
  const take = blockCursor(await allocateBlocks(edits, goal, count + mapBlocks));
  for (let logical = 0; logical < count; logical++) {
    const block = await mapLogical(edits, ino, root, logical, take);
    const last = data[data.length - 1];
    if (last && last.start + last.length === block) last.length++;
    else data.push({ start: block, length: 1 });
  }
  return { root, data, mapBlocks };
}

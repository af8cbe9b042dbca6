// A block group whose bitmap was never initialised (BLOCK_UNINIT under uninit_bg/metadata_csum: mke2fs and
// online resize leave every group that holds no data so, which on a large card is most of its space) gets its
// bitmap the way the kernel's ext4_init_block_bitmap computes it: its superblock backup and descriptor
// blocks (meta_bg's too), any group's bitmaps or inode table that lie inside it, and the bits past the end of a
// short last group. The result must agree with the free count mke2fs recorded in the descriptor; where it does not (a
// layout this does not know, or a damaged descriptor), the group is left alone and not allocated from.

import { BG_BLOCK_UNINIT, baseMetaBlocks, groupBlockCount, groupFirstBlock } from './group-desc.js';
import { type BlockEdits, GD, descriptor, getCount } from './group-edit.js';

/** The block bitmap group `group` would have if initialised now. */
async function computedBitmap(edits: BlockEdits, group: number): Promise<Buffer> {
  const vol = edits.vol;
  const { sb } = vol;
  const base = groupFirstBlock(sb, group);
  const count = groupBlockCount(sb, group);
  const bitmap = Buffer.alloc(sb.blockSize);
  const mark = (from: number, n: number): void => {
    for (let b = Math.max(from, base); b < Math.min(from + n, base + count); b++) bitmap[(b - base) >> 3]! |= 1 << ((b - base) & 7);
  };
  mark(base, baseMetaBlocks(sb, group));
  const itableBlocks = Math.ceil((sb.inodesPerGroup * sb.inodeSize) / sb.blockSize);
  for (let g = 0; g < sb.groupCount; g++) {
    const gd = await vol.groupDesc(g);
    mark(gd.blockBitmap, 1);
    mark(gd.inodeBitmap, 1);
    mark(gd.inodeTable, itableBlocks);
  }
  for (let i = count; i < sb.blockSize * 8; i++) bitmap[i >> 3]! |= 1 << (i & 7);
  return bitmap;
}

function usedBits(bitmap: Buffer, count: number): number {
  let used = 0;
  for (let i = 0; i < count; i++) if ((bitmap[i >> 3]! & (1 << (i & 7))) !== 0) used++;
  return used;
}

/**
 * Initialises group `group`'s block bitmap in this transaction and clears its BLOCK_UNINIT flag (the caller
 * seals the group's checksums after taking blocks). Returns the bitmap, or null when the group is left alone.
 */
export async function initGroupBitmap(edits: BlockEdits, group: number): Promise<Buffer | null> {
  const vol = edits.vol;
  const { sb } = vol;
  const desc = await descriptor(edits, group);
  const flags = desc.readUInt16LE(GD.flags);
  if ((flags & BG_BLOCK_UNINIT) === 0) return null;
  const bitmap = await computedBitmap(edits, group);
  const count = groupBlockCount(sb, group);
  if (usedBits(bitmap, count) !== count - getCount(vol, desc, GD.freeBlocksLo, GD.freeBlocksHi)) return null;
  const gd = await vol.groupDesc(group);
  const block = await edits.block(gd.blockBitmap);
  bitmap.copy(block);
  desc.writeUInt16LE(flags & ~BG_BLOCK_UNINIT, GD.flags);
  return block;
}

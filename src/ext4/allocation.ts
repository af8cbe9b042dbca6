// Where a filesystem's metadata and used blocks are, as block runs, for copying a failing card in order
// of importance (kernel Documentation/filesystems/ext4/blockgroup.rst, group_descr.rst, bitmaps.rst):
// each group's superblock copy and descriptor blocks (sparse_super), its two bitmaps, and the part of its
// inode table that holds inodes (bg_itable_unused under uninit_bg/metadata_csum); then the blocks the
// block bitmaps mark used. A group whose descriptor or bitmap cannot be read, or fails its checksum, counts
// as wholly used: it is better to copy too much than to leave data behind.

import { AppError } from '../errors.js';
import { bitmapMatches, descriptorMatches, rawDescriptor } from './group-csum.js';
import { BG_BLOCK_UNINIT, BG_INODE_UNINIT, groupBlockCount, groupFirstBlock, groupHasSuper } from './group-desc.js';
import { Incompat, RoCompat } from './features.js';
import type { Ext4Volume } from './volume.js';

/** A run of filesystem blocks. */
export interface BlockRun {
  block: number;
  count: number;
}

/** Superblock copies, descriptor blocks, bitmaps and the used part of the inode tables, group by group. */
export async function metadataRuns(vol: Ext4Volume): Promise<BlockRun[]> {
  const sb = vol.sb;
  const runs: BlockRun[] = [{ block: 0, count: sb.firstDataBlock + 1 }];
  const metaBg = (sb.incompat & Incompat.META_BG) !== 0;
  const gdtBlocks = Math.ceil((sb.groupCount * sb.descSize) / sb.blockSize);
  for (const block of vol.descriptorBlocks()) runs.push({ block, count: 1 });
  for (let g = 0; g < sb.groupCount; g++) {
    if (groupHasSuper(sb, g)) {
      runs.push({ block: groupFirstBlock(sb, g), count: 1 + (metaBg ? 0 : gdtBlocks + sb.reservedGdtBlocks) });
    }
    try {
      const gd = await vol.groupDesc(g);
      runs.push({ block: gd.blockBitmap, count: 1 }, { block: gd.inodeBitmap, count: 1 });
      // A descriptor that fails its checksum may also lie about how much of the table is in use.
      const table = inodeTableUse(vol, gd);
      const count = descriptorMatches(vol, g, await rawDescriptor(vol, g)) ? table.usedBlocks : table.blocks;
      if (count > 0) runs.push({ block: gd.inodeTable, count });
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
    }
  }
  return clip(runs, sb.blocksCount);
}

/**
 * The parts of the inode tables past the inodes ever used (bg_itable_unused): marked used in the block
 * bitmaps, but zeros (mke2fs or the kernel's lazy init zeroes them), so they take no room in a sparse image.
 */
export async function unusedInodeTableRuns(vol: Ext4Volume): Promise<BlockRun[]> {
  const runs: BlockRun[] = [];
  for (let g = 0; g < vol.sb.groupCount; g++) {
    try {
      const gd = await vol.groupDesc(g);
      const table = inodeTableUse(vol, gd);
      if (table.blocks > table.usedBlocks) runs.push({ block: gd.inodeTable + table.usedBlocks, count: table.blocks - table.usedBlocks });
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
    }
  }
  return clip(runs, vol.sb.blocksCount);
}

/** A group's inode table: its size in blocks and how many of them hold inodes ever used. */
function inodeTableUse(vol: Ext4Volume, gd: { flags: number; itableUnused: number }): { blocks: number; usedBlocks: number } {
  const sb = vol.sb;
  const blocks = Math.ceil((sb.inodesPerGroup * sb.inodeSize) / sb.blockSize);
  const unusedKnown = (sb.roCompat & (RoCompat.GDT_CSUM | RoCompat.METADATA_CSUM)) !== 0;
  if (!unusedKnown) return { blocks, usedBlocks: blocks };
  if ((gd.flags & BG_INODE_UNINIT) !== 0) return { blocks, usedBlocks: 0 };
  const used = sb.inodesPerGroup - Math.min(gd.itableUnused, sb.inodesPerGroup);
  return { blocks, usedBlocks: Math.min(blocks, Math.ceil((used * sb.inodeSize) / sb.blockSize)) };
}

/**
 * Group `g`'s block bitmap; 'uninit' for a group that holds only its own metadata (which metadataRuns lists);
 * null when it cannot be read or trusted (it or its descriptor fails its checksum: one flipped bit calls a
 * file's block free), and then the whole group counts as used.
 */
async function trustedBitmap(vol: Ext4Volume, g: number): Promise<Uint8Array | 'uninit' | null> {
  const sb = vol.sb;
  try {
    const raw = await rawDescriptor(vol, g);
    if (!descriptorMatches(vol, g, raw)) return null;
    const gd = await vol.groupDesc(g);
    if ((gd.flags & BG_BLOCK_UNINIT) !== 0 && (sb.roCompat & (RoCompat.GDT_CSUM | RoCompat.METADATA_CSUM)) !== 0) return 'uninit';
    const bitmap = await vol.readMetaBlock(gd.blockBitmap);
    return bitmapMatches(vol, 'block', raw, bitmap) ? bitmap : null;
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    return null;
  }
}

/** The runs of blocks the block bitmaps mark used (clusters under bigalloc, given as their blocks). */
export async function usedRuns(vol: Ext4Volume): Promise<BlockRun[]> {
  const sb = vol.sb;
  const perCluster = sb.clusterSize / sb.blockSize;
  const runs: BlockRun[] = [];
  for (let g = 0; g < sb.groupCount; g++) {
    const start = groupFirstBlock(sb, g);
    const blocks = groupBlockCount(sb, g);
    const bitmap = await trustedBitmap(vol, g);
    if (bitmap === 'uninit') continue;
    if (bitmap === null) {
      runs.push({ block: start, count: blocks });
      continue;
    }
    const clusters = Math.ceil(blocks / perCluster);
    for (let c = 0; c < clusters; ) {
      if (!bit(bitmap, c)) {
        c++;
        continue;
      }
      const first = c;
      while (c < clusters && bit(bitmap, c)) c++;
      runs.push({ block: start + first * perCluster, count: Math.min((c - first) * perCluster, blocks - first * perCluster) });
    }
  }
  return clip(runs, sb.blocksCount);
}

function bit(bitmap: Uint8Array, n: number): boolean {
  const byte = n >>> 3;
  return byte < bitmap.length && (bitmap[byte]! & (1 << (n & 7))) !== 0;
}

/** Drops what lies outside the filesystem (a damaged descriptor can point anywhere). */
function clip(runs: BlockRun[], blocksCount: number): BlockRun[] {
  const out: BlockRun[] = [];
  for (const r of runs) {
    if (!Number.isSafeInteger(r.block) || r.block < 0 || r.block >= blocksCount || r.count <= 0) continue;
    out.push({ block: r.block, count: Math.min(r.count, blocksCount - r.block) });
  }
  return out;
}

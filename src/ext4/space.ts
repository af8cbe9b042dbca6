// How the blocks and inodes of a filesystem are used, without reading a file: the free counts summed over
// the group descriptors (kernel Documentation/filesystems/ext4/group_descr.rst), the blocks its own
// structures take (as the kernel's ext4_calculate_overhead), and what one inode has allocated (i_blocks).
// The superblock's s_free_blocks_count is written by the kernel only at mount, unmount and freeze, so on a
// card pulled from a running box it can be weeks old; the descriptors are journaled with every change, and
// the kernel itself sums them at mount (ext4_count_free_clusters) for what `df` shows.

import { AppError } from '../errors.js';
import { RoCompat } from './features.js';
import { baseMetaBlocks } from './group-desc.js';
import { type Inode, InodeFlags } from './inode.js';
import type { Superblock } from './superblock.js';
import type { Ext4Volume } from './volume.js';

export interface FreeCounts {
  freeBlocks: number;
  freeInodes: number;
  /** Where the counts come from: the group descriptors, or the superblock when one could not be read. */
  from: 'group descriptors' | 'superblock';
  /** Why the superblock's counts were used instead, or null. */
  problem: string | null;
}

/** Free blocks and inodes summed over the group descriptors; the superblock's when any cannot be read. */
export async function freeCounts(vol: Ext4Volume): Promise<FreeCounts> {
  const sb = vol.sb;
  let freeBlocks = 0;
  let freeInodes = 0;
  for (let g = 0; g < sb.groupCount; g++) {
    try {
      const gd = await vol.groupDesc(g);
      freeBlocks += gd.freeBlocksCount;
      freeInodes += gd.freeInodesCount;
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      return fromSuperblock(sb, `group descriptor ${g} cannot be read (${err.message}): the free counts are the superblock's, which may be out of date`);
    }
  }
  // A damaged descriptor can claim more free space than the group has; the sum is then not believable.
  if (freeBlocks > sb.blocksCount || freeInodes > sb.inodesCount) {
    return fromSuperblock(sb, `the group descriptors count ${freeBlocks} free blocks and ${freeInodes} free inodes, more than the filesystem has: the free counts are the superblock's`);
  }
  return { freeBlocks, freeInodes, from: 'group descriptors', problem: null };
}

function fromSuperblock(sb: Superblock, problem: string): FreeCounts {
  return { freeBlocks: Math.min(sb.freeBlocksCount, sb.blocksCount), freeInodes: Math.min(sb.freeInodesCount, sb.inodesCount), from: 'superblock', problem };
}

/**
 * Blocks taken by the filesystem's fixed structures: the blocks before the first group, each superblock
 * copy with its group descriptor blocks and the reserve kept for growing them, and every group's two
 * bitmaps and inode table (kernel ext4_num_base_meta_blocks, summed over the groups). Null with bigalloc,
 * where the counts are in clusters.
 */
export function fixedMetadataBlocks(sb: Superblock): number | null {
  if ((sb.roCompat & RoCompat.BIGALLOC) !== 0) return null;
  const itableBlocks = Math.ceil((sb.inodesPerGroup * sb.inodeSize) / sb.blockSize);
  let blocks = sb.firstDataBlock + sb.groupCount * (2 + itableBlocks);
  for (let g = 0; g < sb.groupCount; g++) blocks += baseMetaBlocks(sb, g);
  return blocks;
}

/**
 * Bytes the inode has allocated, as `du` counts them: i_blocks in 512-byte units (filesystem blocks with
 * HUGE_FILE_FL on a huge_file filesystem), which includes extent tree blocks and an extended attribute block.
 */
export function allocatedBytes(sb: Superblock, inode: Inode): number {
  const huge = (sb.roCompat & RoCompat.HUGE_FILE) !== 0 && (inode.flags & InodeFlags.HUGE_FILE) !== 0;
  return inode.blocks * (huge ? sb.blockSize : 512);
}

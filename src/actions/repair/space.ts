// How full the data filesystem is, from its block and inode counts: the totals `df` and `info` show, and
// when a partition counts as full (issue 13).

import type { Superblock } from '../../ext4/superblock.js';

/**
 * Under this much space that programs may still fill, the partition counts as full. Home Assistant needs
 * room beyond the file it is writing: SQLite grows a write-ahead log and makes temporary copies when the
 * recorder purges or repacks, Docker unpacks whole image layers when an update or add-on starts, and the
 * kernel keeps back up to 4096 more clusters (16 MiB with 4 KiB blocks) for its own metadata on top of the
 * root reserve. 64 MiB covers those on a small card; 1 % keeps the same margin on a large disk, where one
 * day of history or one image layer is bigger. On a filesystem so small that 64 MiB is most of it (test
 * images, the bundled 20 MiB sample; a real data partition is 1.25 GiB or more) the floor is a tenth of it.
 */
export const FULL_MIN_BYTES = 64 * 1024 * 1024;
export const FULL_MIN_FRACTION = 0.01;
const SMALL_FS_FRACTION = 0.1;

export interface SpaceTotals {
  blockSize: number;
  totalBytes: number;
  /** Every block not free: files, folders, the filesystem's own structures and the journal. */
  usedBytes: number;
  freeBytes: number;
  /** Free blocks minus those kept for root (s_r_blocks_count), as `df` shows "Avail". */
  availableBytes: number;
  reservedBytes: number;
  /** usedBytes of totalBytes, in percent with one decimal. */
  usedPercent: number;
  inodesTotal: number;
  inodesFree: number;
  /** Less than FULL_MIN_BYTES or FULL_MIN_FRACTION available, or no inode free. */
  full: boolean;
}

export function isFull(totalBytes: number, availableBytes: number, inodesFree: number): boolean {
  const floor = Math.min(FULL_MIN_BYTES, totalBytes * SMALL_FS_FRACTION);
  return availableBytes < floor || availableBytes < totalBytes * FULL_MIN_FRACTION || inodesFree === 0;
}

/** The totals from the block and inode counts (free counts clamped to what the filesystem has). */
export function spaceTotals(sb: Superblock, freeBlocks: number, freeInodes: number): SpaceTotals {
  const bs = sb.blockSize;
  const free = Math.min(Math.max(0, freeBlocks), sb.blocksCount);
  const reserved = Math.min(sb.reservedBlocksCount, sb.blocksCount);
  const totalBytes = sb.blocksCount * bs;
  const usedBytes = (sb.blocksCount - free) * bs;
  const availableBytes = Math.max(0, free - reserved) * bs;
  const inodesFree = Math.min(Math.max(0, freeInodes), sb.inodesCount);
  return {
    blockSize: bs,
    totalBytes,
    usedBytes,
    freeBytes: free * bs,
    availableBytes,
    reservedBytes: reserved * bs,
    usedPercent: Math.round((usedBytes * 1000) / totalBytes) / 10,
    inodesTotal: sb.inodesCount,
    inodesFree,
    full: isFull(totalBytes, availableBytes, inodesFree),
  };
}

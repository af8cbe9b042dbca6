// Block group descriptors (kernel Documentation/filesystems/ext4/group_descr.rst): 32 bytes, or
// s_desc_size (64) with the 64bit feature. Without meta_bg they follow the superblock contiguously; with
// meta_bg, descriptor block i (i >= s_first_meta_bg) lives in the first group of meta group i, after that
// group's superblock backup if it has one (as libext2fs ext2fs_descriptor_block_loc2).
// Descriptor blocks are read lazily: `info` on a 1 TiB disk must not read every one of them.

import { FieldReader } from '../bytes.js';
import type { BlockDevice } from '../device/block-device.js';
import { CorruptError } from '../errors.js';
import { Incompat, RoCompat } from './features.js';
import type { Superblock } from './superblock.js';
import { is64Bit } from './superblock.js';
import { descriptorChecksumOf } from './group-edit.js';

export interface GroupDesc {
  blockBitmap: number;
  inodeBitmap: number;
  inodeTable: number; // bg_inode_table_lo/hi
  flags: number; // bg_flags: 1 INODE_UNINIT, 2 BLOCK_UNINIT, 4 ITABLE_ZEROED
  freeBlocksCount: number; // bg_free_blocks_count_lo/hi
  freeInodesCount: number; // bg_free_inodes_count_lo/hi
  itableUnused: number;
}

export const BG_INODE_UNINIT = 0x1;
export const BG_BLOCK_UNINIT = 0x2;

export function parseGroupDesc(bytes: Uint8Array, is64: boolean, group: number): GroupDesc {
  const r = new FieldReader(bytes, `group descriptor ${group}`);
  const hi = (offset: number): number => (is64 && bytes.length >= 64 ? r.u32(offset) * 0x100000000 : 0);
  const hi16 = (offset: number): number => (is64 && bytes.length >= 64 ? r.u16(offset) * 0x10000 : 0);
  return {
    blockBitmap: r.u32(0x0) + hi(0x20),
    inodeBitmap: r.u32(0x4) + hi(0x24),
    inodeTable: r.u32(0x8) + hi(0x28),
    flags: r.u16(0x12),
    freeBlocksCount: r.u16(0xc) + hi16(0x2c),
    freeInodesCount: r.u16(0xe) + hi16(0x2e),
    itableUnused: r.u16(0x1c) + hi16(0x32),
  };
}


/** The first block of block group `group`. */
export function groupFirstBlock(sb: Superblock, group: number): number {
  return sb.firstDataBlock + group * sb.blocksPerGroup;
}

/** How many blocks block group `group` has (the last group may be short). */
export function groupBlockCount(sb: Superblock, group: number): number {
  return Math.min(sb.blocksPerGroup, sb.blocksCount - groupFirstBlock(sb, group));
}
/**
 * Blocks at the start of group `group` taken by its superblock copy and descriptor blocks (the kernel's
 * ext4_num_base_meta_clusters): without meta_bg, or before s_first_meta_bg, a copy holds every descriptor
 * block of the old layout and the reserve kept for growing them; in meta_bg groups, the first, second and last
 * group of each meta group hold its one descriptor block, after the superblock copy if there is one.
 */
export function baseMetaBlocks(sb: Superblock, group: number): number {
  const hasSuper = groupHasSuper(sb, group) ? 1 : 0;
  const descPerBlock = sb.blockSize / sb.descSize;
  const metaBg = (sb.incompat & Incompat.META_BG) !== 0;
  if (!metaBg || group < sb.firstMetaBg * descPerBlock) {
    return hasSuper === 0 ? 0 : 1 + (metaBg ? sb.firstMetaBg : Math.ceil(sb.groupCount / descPerBlock)) + sb.reservedGdtBlocks;
  }
  const first = group - (group % descPerBlock);
  return hasSuper + (group === first || group === first + 1 || group === first + descPerBlock - 1 ? 1 : 0);
}

/** Whether `group` holds a superblock backup (sparse_super: 0, 1 and powers of 3, 5, 7). */
export function groupHasSuper(sb: Superblock, group: number): boolean {
  if (group === 0) return true;
  if ((sb.compat & 0x200) !== 0) return group === sb.backupBgs[0] || group === sb.backupBgs[1];
  if (group <= 1 || (sb.roCompat & RoCompat.SPARSE_SUPER) === 0) return true;
  if (group % 2 === 0) return false;
  for (const base of [3, 5, 7]) {
    let n = base;
    while (n < group) n *= base;
    if (n === group) return true;
  }
  return false;
}

export class GroupDescTable {
  private readonly descPerBlock: number;
  private readonly blocks = new Map<number, Promise<Uint8Array>>();
  /** Parsed descriptors: a tree walk asks for the same few groups once per inode. */
  private readonly parsed = new Map<number, GroupDesc>();
  private readonly is64: boolean;

  /** Descriptor blocks read from their backup copy (their own was damaged): their UNINIT flags are not trusted. */
  private readonly fromBackup = new Set<number>();

  constructor(
    private readonly device: BlockDevice,
    private readonly sb: Superblock,
    /** Block number holding the superblock copy in use; the descriptors follow it. */
    private readonly superBlockNumber: number,
    /** Where what was found is said (the volume's warnings). */
    private readonly warnings: string[] = [],
  ) {
    this.is64 = is64Bit(sb);
    this.descPerBlock = sb.blockSize / sb.descSize;
  }

  /** Whether any descriptor in use was read from its backup copy. */
  get usesBackup(): boolean {
    return this.fromBackup.size > 0;
  }

  /** Block number of descriptor block `index` (libext2fs ext2fs_descriptor_block_loc2). */
  descBlockLocation(index: number): number {
    const sb = this.sb;
    const metaBg = (sb.incompat & Incompat.META_BG) !== 0;
    if (!metaBg || index < sb.firstMetaBg) return this.superBlockNumber + 1 + index;
    const group = index * this.descPerBlock;
    const groupFirst = groupFirstBlock(sb, group);
    // 1 KiB blocks with s_first_data_block 0 (bigalloc): the superblock still takes block 1.
    const groupZeroAdjust = sb.blockSize === 1024 && sb.firstDataBlock === 0 ? 1 : 0;
    return groupFirst + (groupHasSuper(sb, group) ? 1 : 0) + groupZeroAdjust;
  }

  private descBlock(index: number): Promise<Uint8Array> {
    let p = this.blocks.get(index);
    if (!p) {
      const block = this.descBlockLocation(index);
      if (block >= this.sb.blocksCount) {
        p = Promise.reject(
          new CorruptError('BAD_GROUP_DESC_LOCATION', `group descriptor block ${index} would be at block ${block}, past the end of the filesystem`),
        );
      } else {
        p = this.readChecked(index, block);
      }
      p.catch(() => this.blocks.delete(index));
      this.blocks.set(index, p);
    }
    return p;
  }

  /**
   * A descriptor block, checked as the kernel checks descriptors at mount (places inside the filesystem,
   * checksums). A damaged or unreadable one is read from its backup copy when that one is whole, as e2fsck
   * falls back to the backup descriptors; otherwise it is used as it is, and its groups fail when asked for.
   */
  private async readChecked(index: number, block: number): Promise<Uint8Array> {
    const own = await this.device.read(block * this.sb.blockSize, this.sb.blockSize).catch((err: unknown) => err);
    const problem = own instanceof Uint8Array ? this.problemIn(own, index) : `unreadable: ${own instanceof Error ? own.message : String(own)}`;
    if (problem === null) return own as Uint8Array;
    const backup = this.backupLocation(index);
    const copy = backup === null ? null : await this.device.read(backup * this.sb.blockSize, this.sb.blockSize).catch(() => null);
    if (copy === null || this.problemIn(copy, index) !== null) {
      if (own instanceof Uint8Array) return own;
      throw own;
    }
    this.fromBackup.add(index);
    this.warnings.push(`group descriptor block ${index} is damaged (${problem}): its backup copy at block ${backup} is used, as e2fsck does; the free counts there may be old`);
    return copy;
  }

  /** The backup of descriptor block `index` when the primary superblock is in use (group 1's, or its meta group's second group's). */
  private backupLocation(index: number): number | null {
    const sb = this.sb;
    if (this.superBlockNumber !== sb.firstDataBlock && !(sb.blockSize === 1024 && this.superBlockNumber === 1)) return null;
    const metaBg = (sb.incompat & Incompat.META_BG) !== 0 && index >= sb.firstMetaBg;
    const group = metaBg ? index * this.descPerBlock + 1 : 1;
    if (group >= sb.groupCount) return null;
    if (!metaBg && !groupHasSuper(sb, group)) return null;
    const at = metaBg ? groupFirstBlock(sb, group) + (groupHasSuper(sb, group) ? 1 : 0) : groupFirstBlock(sb, group) + 1 + index;
    return at < sb.blocksCount ? at : null;
  }

  /** The first thing wrong in a descriptor block: a place outside the filesystem, or a checksum that does not match. */
  private problemIn(block: Uint8Array, index: number): string | null {
    const sb = this.sb;
    for (let i = 0; i < this.descPerBlock; i++) {
      const group = index * this.descPerBlock + i;
      if (group >= sb.groupCount) break;
      const raw = block.subarray(i * sb.descSize, (i + 1) * sb.descSize);
      const gd = parseGroupDesc(raw, this.is64, group);
      for (const [what, at] of [['inode table', gd.inodeTable], ['block bitmap', gd.blockBitmap], ['inode bitmap', gd.inodeBitmap]] as const) {
        if (at === 0 || at >= sb.blocksCount) return `group ${group} puts its ${what} at block ${at}, outside the filesystem`;
      }
      const want = descriptorChecksumOf(sb, group, raw);
      if (want !== null && want !== (raw[0x1e]! | (raw[0x1f]! << 8))) return `the descriptor of group ${group} does not match its checksum`;
    }
    return null;
  }

  async get(group: number): Promise<GroupDesc> {
    const cached = this.parsed.get(group);
    if (cached) return cached;
    if (!Number.isInteger(group) || group < 0 || group >= this.sb.groupCount) {
      throw new CorruptError('BAD_GROUP', `block group ${group} does not exist (the filesystem has ${this.sb.groupCount})`);
    }
    const index = Math.floor(group / this.descPerBlock);
    const block = await this.descBlock(index);
    const offset = (group % this.descPerBlock) * this.sb.descSize;
    const gd = parseGroupDesc(block.subarray(offset, offset + this.sb.descSize), this.is64, group);
    // A backup copy is as old as the last resize or e2fsck: its UNINIT flags are cleared, as e2fsprogs does.
    if (this.fromBackup.has(index)) Object.assign(gd, { flags: gd.flags & ~(BG_INODE_UNINIT | BG_BLOCK_UNINIT), itableUnused: 0 });
    if (gd.inodeTable === 0 || gd.inodeTable >= this.sb.blocksCount) {
      throw new CorruptError('BAD_INODE_TABLE', `group ${group} says its inode table is at block ${gd.inodeTable}, outside the filesystem`, {
        details: { group, inodeTable: gd.inodeTable },
      });
    }
    if (this.parsed.size < 65536) this.parsed.set(group, gd);
    return gd;
  }
}

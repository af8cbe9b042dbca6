// Allocating and freeing inodes (kernel fs/ext4/ialloc.c, group descriptors in
// Documentation/filesystems/ext4/group_descr.rst). A change is a set of whole blocks (BlockEdits): the
// inode bitmap, the group descriptor (free inodes, used folders, itable_unused, the bitmap checksum and
// the descriptor checksum) and the superblock's free inode count with its checksum. Groups whose inode
// table is not initialised yet (INODE_UNINIT) are left alone: allocating there means initialising the
// bitmap and the table, which the kernel does and this writer does not need to.

import { RefusedError, UnsupportedError } from '../errors.js';
import { crc32cUpdate } from './checksum.js';
import { RoCompat } from './features.js';
import { BG_INODE_UNINIT } from './group-desc.js';
import { fsCsumSeed } from './inode-csum.js';
import type { BlockWrite } from './rewrite.js';
import { hasMetadataCsum } from './superblock.js';
import type { Ext4Volume } from './volume.js';

/** Whole filesystem blocks being changed, each read once and edited in place. */
export class BlockEdits {
  private readonly blocks = new Map<number, Buffer>();
  constructor(readonly vol: Ext4Volume) {}

  async block(fsBlock: number): Promise<Buffer> {
    let b = this.blocks.get(fsBlock);
    if (!b) {
      const bs = this.vol.sb.blockSize;
      b = Buffer.from(await this.vol.device.read(fsBlock * bs, bs));
      this.blocks.set(fsBlock, b);
    }
    return b;
  }

  writes(): BlockWrite[] {
    return [...this.blocks.entries()].sort((a, b) => a[0] - b[0]).map(([fsBlock, data]) => ({ fsBlock, data }));
  }
}

const GD = { freeInodesLo: 0x0e, usedDirsLo: 0x10, flags: 0x12, inodeBitmapCsumLo: 0x1a, itableUnusedLo: 0x1c, checksum: 0x1e, freeInodesHi: 0x2e, usedDirsHi: 0x30, itableUnusedHi: 0x32, inodeBitmapCsumHi: 0x3a };
const SB_OFFSET = 1024;
const SB_FREE_INODES = 0x10;
const SB_CHECKSUM = 0x3fc;

function le32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

/** CRC16 (polynomial 0x8005 reflected, as the kernel's crc16), for gdt_csum without metadata_csum. */
function crc16(crc: number, data: Uint8Array, start = 0, end = data.length): number {
  let c = crc & 0xffff;
  for (let i = start; i < end; i++) {
    c ^= data[i]!;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
  }
  return c;
}

/** A group descriptor's bytes inside its descriptor block, for editing. */
async function descriptor(edits: BlockEdits, group: number): Promise<Buffer> {
  const { sb } = edits.vol;
  const perBlock = sb.blockSize / sb.descSize;
  const block = await edits.block(edits.vol.descriptorBlocks()[Math.floor(group / perBlock)]!);
  const at = (group % perBlock) * sb.descSize;
  return block.subarray(at, at + sb.descSize);
}

/** The descriptor checksum (kernel ext4_group_desc_csum). */
function setDescriptorChecksum(vol: Ext4Volume, group: number, desc: Buffer): void {
  const { sb } = vol;
  if (hasMetadataCsum(sb)) {
    let c = crc32cUpdate(fsCsumSeed(sb), le32(group));
    c = crc32cUpdate(c, desc, 0, GD.checksum);
    c = crc32cUpdate(c, new Uint8Array(2));
    c = crc32cUpdate(c, desc, GD.checksum + 2, sb.descSize);
    desc.writeUInt16LE(c & 0xffff, GD.checksum);
  } else if ((sb.roCompat & RoCompat.GDT_CSUM) !== 0) {
    let c = crc16(0xffff, sb.uuid);
    c = crc16(c, le32(group));
    c = crc16(c, desc, 0, GD.checksum);
    if (sb.descSize > 32) c = crc16(c, desc, 0x20, sb.descSize);
    desc.writeUInt16LE(c, GD.checksum);
  }
}

const hiPart = (vol: Ext4Volume): boolean => vol.sb.descSize >= 64;
function getCount(vol: Ext4Volume, desc: Buffer, lo: number, hi: number): number {
  return desc.readUInt16LE(lo) + (hiPart(vol) ? desc.readUInt16LE(hi) * 0x10000 : 0);
}
function setCount(vol: Ext4Volume, desc: Buffer, lo: number, hi: number, value: number): void {
  desc.writeUInt16LE(value & 0xffff, lo);
  if (hiPart(vol)) desc.writeUInt16LE(Math.floor(value / 0x10000), hi);
}

async function setInodeBitmapChecksum(vol: Ext4Volume, desc: Buffer, bitmap: Buffer): Promise<void> {
  if (!hasMetadataCsum(vol.sb)) return;
  const c = crc32cUpdate(fsCsumSeed(vol.sb), bitmap, 0, vol.sb.inodesPerGroup / 8);
  desc.writeUInt16LE(c & 0xffff, GD.inodeBitmapCsumLo);
  if (vol.sb.descSize >= GD.inodeBitmapCsumHi + 2) desc.writeUInt16LE(c >>> 16, GD.inodeBitmapCsumHi);
}

async function adjustSuperblockFreeInodes(edits: BlockEdits, delta: number): Promise<void> {
  const { sb } = edits.vol;
  const loc = edits.vol.superblockLocation.byteOffset;
  if (loc !== SB_OFFSET) throw new RefusedError('BACKUP_SUPERBLOCK', 'the primary superblock is damaged; haos-rescue writes only through the primary one', { hint: 'run e2fsck on a copy of the card; nothing was written' });
  const block = await edits.block(Math.floor(SB_OFFSET / sb.blockSize));
  const raw = block.subarray(SB_OFFSET % sb.blockSize, (SB_OFFSET % sb.blockSize) + 1024);
  raw.writeUInt32LE(raw.readUInt32LE(SB_FREE_INODES) + delta, SB_FREE_INODES);
  if (hasMetadataCsum(sb)) raw.writeUInt32LE(crc32cUpdate(0xffffffff, raw, 0, SB_CHECKSUM), SB_CHECKSUM);
}

/** Groups to try for a new inode: the parent's first (as the kernel's find_group_other), then the others in order. */
function groupOrder(vol: Ext4Volume, parentIno: number): number[] {
  const count = vol.sb.groupCount;
  const start = Math.floor((parentIno - 1) / vol.sb.inodesPerGroup);
  return Array.from({ length: count }, (_, i) => (start + i) % count);
}

/** Takes a free inode, near the folder `parentIno`; returns its number. */
export async function allocateInode(edits: BlockEdits, parentIno: number, isDir: boolean): Promise<number> {
  const vol = edits.vol;
  const { inodesPerGroup, firstIno } = vol.sb;
  for (const group of groupOrder(vol, parentIno)) {
    const gd = await vol.groupDesc(group);
    if ((gd.flags & BG_INODE_UNINIT) !== 0) continue;
    const desc = await descriptor(edits, group);
    const free = getCount(vol, desc, GD.freeInodesLo, GD.freeInodesHi);
    if (free === 0) continue;
    const bitmap = await edits.block(gd.inodeBitmap);
    for (let index = 0; index < inodesPerGroup; index++) {
      const ino = group * inodesPerGroup + index + 1;
      if (ino < firstIno || (bitmap[index >> 3]! & (1 << (index & 7))) !== 0) continue;
      bitmap[index >> 3]! |= 1 << (index & 7);
      setCount(vol, desc, GD.freeInodesLo, GD.freeInodesHi, free - 1);
      if (isDir) setCount(vol, desc, GD.usedDirsLo, GD.usedDirsHi, getCount(vol, desc, GD.usedDirsLo, GD.usedDirsHi) + 1);
      const unused = getCount(vol, desc, GD.itableUnusedLo, GD.itableUnusedHi);
      if (index + 1 > inodesPerGroup - unused) setCount(vol, desc, GD.itableUnusedLo, GD.itableUnusedHi, inodesPerGroup - index - 1);
      await setInodeBitmapChecksum(vol, desc, bitmap);
      setDescriptorChecksum(vol, group, desc);
      await adjustSuperblockFreeInodes(edits, -1);
      return ino;
    }
  }
  throw new RefusedError('NO_FREE_INODE', 'the filesystem has no free inode in an initialised group', { hint: 'free some files first; nothing was written' });
}

/** Gives inode `ino` back (its bitmap bit, the counts). The caller has already cleared the inode itself. */
export async function freeInode(edits: BlockEdits, ino: number, isDir: boolean): Promise<void> {
  const vol = edits.vol;
  const group = Math.floor((ino - 1) / vol.sb.inodesPerGroup);
  const index = (ino - 1) % vol.sb.inodesPerGroup;
  const gd = await vol.groupDesc(group);
  if ((gd.flags & BG_INODE_UNINIT) !== 0) throw new UnsupportedError('INODE_GROUP_UNINIT', `inode ${ino} lies in a group marked unused`, { hint: 'run e2fsck on a copy of the card; nothing was written' });
  const bitmap = await edits.block(gd.inodeBitmap);
  if ((bitmap[index >> 3]! & (1 << (index & 7))) === 0) throw new RefusedError('INODE_NOT_IN_USE', `inode ${ino} is already marked free`, { hint: 'run e2fsck on a copy of the card; nothing was written' });
  bitmap[index >> 3]! &= ~(1 << (index & 7));
  const desc = await descriptor(edits, group);
  setCount(vol, desc, GD.freeInodesLo, GD.freeInodesHi, getCount(vol, desc, GD.freeInodesLo, GD.freeInodesHi) + 1);
  if (isDir) setCount(vol, desc, GD.usedDirsLo, GD.usedDirsHi, Math.max(0, getCount(vol, desc, GD.usedDirsLo, GD.usedDirsHi) - 1));
  await setInodeBitmapChecksum(vol, desc, bitmap);
  setDescriptorChecksum(vol, group, desc);
  await adjustSuperblockFreeInodes(edits, 1);
}

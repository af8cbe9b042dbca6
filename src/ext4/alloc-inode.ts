// Allocating and freeing inodes (kernel fs/ext4/ialloc.c, group descriptors in
// Documentation/filesystems/ext4/group_descr.rst): the inode bitmap, the group descriptor (free inodes,
// used folders, itable_unused, the bitmap checksum; group-edit.ts keeps the descriptor checksum) and the
// superblock's free inode count. A group whose inodes were never used (INODE_UNINIT) is taken only when
// the others are full, and brought into use as the kernel does.

import { CorruptError, RefusedError, REPAIR, UnsupportedError } from '../errors.js';
import { assertBitmapIntact, sealBitmap } from './group-csum.js';
import { BG_INODE_UNINIT } from './group-desc.js';
import { BlockEdits, GD, adjustSuperblockFree, descriptor, getCount, setCount, setDescriptorChecksum } from './group-edit.js';
import type { Ext4Volume } from './volume.js';

export { BlockEdits };

/** Groups to try for a new inode: the parent's first (as the kernel's find_group_other), then the others in order. */
function groupOrder(vol: Ext4Volume, parentIno: number): number[] {
  const count = vol.sb.groupCount;
  const start = Math.floor((parentIno - 1) / vol.sb.inodesPerGroup);
  return Array.from({ length: count }, (_, i) => (start + i) % count);
}

/**
 * A group marked INODE_UNINIT comes into use as the kernel brings it (ext4_read_inode_bitmap on such a
 * group, then ext4_new_inode): its bitmap starts all free, the bits past the group's inodes set, and the
 * flag cleared. Its inode table is not read: itable_unused says which inodes e2fsck and the kernel look at.
 */
function initInodeGroup(vol: Ext4Volume, desc: Buffer, bitmap: Buffer): void {
  const bytes = vol.sb.inodesPerGroup / 8;
  bitmap.fill(0, 0, bytes);
  bitmap.fill(0xff, bytes);
  desc.writeUInt16LE(desc.readUInt16LE(GD.flags) & ~BG_INODE_UNINIT, GD.flags);
}

/** Takes the first free inode of `group` if it has one; returns its number, or 0. */
async function takeInodeIn(edits: BlockEdits, group: number, isDir: boolean, allowUninit: boolean): Promise<number> {
  const vol = edits.vol;
  const { inodesPerGroup, firstIno } = vol.sb;
  const desc = await descriptor(edits, group);
  const uninit = (desc.readUInt16LE(GD.flags) & BG_INODE_UNINIT) !== 0;
  const free = getCount(vol, desc, GD.freeInodesLo, GD.freeInodesHi);
  if (uninit !== allowUninit || free === 0) return 0;
  // mke2fs marks a group unused with all its inodes free; one that has fewer is in use (its flag damaged).
  if (uninit && (free !== inodesPerGroup || group === 0)) throw damagedGroup(group, 'is marked unused but has inodes in use');
  const bitmap = await edits.block((await vol.groupDesc(group)).inodeBitmap);
  if (uninit) initInodeGroup(vol, desc, bitmap);
  else assertBitmapIntact(vol, 'inode', group, desc, bitmap);
  const initialised = inodesPerGroup - getCount(vol, desc, GD.itableUnusedLo, GD.itableUnusedHi);
  for (let index = 0; index < inodesPerGroup; index++) {
    const ino = group * inodesPerGroup + index + 1;
    if (ino < firstIno || (bitmap[index >> 3]! & (1 << (index & 7))) !== 0) continue;
    if (!uninit && index < initialised) await assertInodeUnused(edits, ino);
    bitmap[index >> 3]! |= 1 << (index & 7);
    setCount(vol, desc, GD.freeInodesLo, GD.freeInodesHi, free - 1);
    if (isDir) setCount(vol, desc, GD.usedDirsLo, GD.usedDirsHi, getCount(vol, desc, GD.usedDirsLo, GD.usedDirsHi) + 1);
    const unused = getCount(vol, desc, GD.itableUnusedLo, GD.itableUnusedHi);
    if (index + 1 > inodesPerGroup - unused) setCount(vol, desc, GD.itableUnusedLo, GD.itableUnusedHi, inodesPerGroup - index - 1);
    sealBitmap(vol, 'inode', desc, bitmap);
    setDescriptorChecksum(vol, group, desc);
    await adjustSuperblockFree(edits, -1, 0);
    return ino;
  }
  return 0;
}

function damagedGroup(group: number, what: string): CorruptError {
  return new CorruptError('INODE_BITMAP_WRONG', `block group ${group} ${what}: its inode bitmap or flags are damaged`, { ...REPAIR, details: { group } });
}

/**
 * Refuses an inode the bitmap calls free that is a live file (links, a type, no deletion time): taking it
 * would overwrite that file. Inodes past the group's initialised part may hold anything and are not read.
 */
async function assertInodeUnused(edits: BlockEdits, ino: number): Promise<void> {
  const { fsBlock, offset } = await edits.vol.inodeLocation(ino);
  const raw = (await edits.block(fsBlock)).subarray(offset);
  const [mode, links, dtime] = [raw.readUInt16LE(0x00), raw.readUInt16LE(0x1a), raw.readUInt32LE(0x14)];
  if (mode !== 0 && links > 0 && dtime === 0) {
    throw new CorruptError('INODE_BITMAP_WRONG', `the inode bitmap calls inode ${ino} free, but it is a file in use (${links} link(s)): the bitmap is damaged`, { ...REPAIR, details: { ino } });
  }
}

/** Takes a free inode, near the folder `parentIno` (groups in use first, then one not yet used); returns its number. */
export async function allocateInode(edits: BlockEdits, parentIno: number, isDir: boolean): Promise<number> {
  for (const allowUninit of [false, true]) {
    for (const group of groupOrder(edits.vol, parentIno)) {
      const ino = await takeInodeIn(edits, group, isDir, allowUninit);
      if (ino !== 0) return ino;
    }
  }
  throw new RefusedError('NO_FREE_INODE', 'the filesystem has no free inode left', { hint: 'free some files first; nothing was written' });
}

/** Gives inode `ino` back (its bitmap bit, the counts). The caller has already cleared the inode itself. */
export async function freeInode(edits: BlockEdits, ino: number, isDir: boolean): Promise<void> {
  const vol = edits.vol;
  const group = Math.floor((ino - 1) / vol.sb.inodesPerGroup);
  const index = (ino - 1) % vol.sb.inodesPerGroup;
  const desc = await descriptor(edits, group);
  if ((desc.readUInt16LE(GD.flags) & BG_INODE_UNINIT) !== 0) throw new UnsupportedError('INODE_GROUP_UNINIT', `inode ${ino} lies in a group marked unused`, { ...REPAIR });
  const bitmap = await edits.block((await vol.groupDesc(group)).inodeBitmap);
  assertBitmapIntact(vol, 'inode', group, desc, bitmap);
  if ((bitmap[index >> 3]! & (1 << (index & 7))) === 0) throw new RefusedError('INODE_NOT_IN_USE', `inode ${ino} is already marked free`, { ...REPAIR });
  bitmap[index >> 3]! &= ~(1 << (index & 7));
  setCount(vol, desc, GD.freeInodesLo, GD.freeInodesHi, getCount(vol, desc, GD.freeInodesLo, GD.freeInodesHi) + 1);
  if (isDir) setCount(vol, desc, GD.usedDirsLo, GD.usedDirsHi, Math.max(0, getCount(vol, desc, GD.usedDirsLo, GD.usedDirsHi) - 1));
  sealBitmap(vol, 'inode', desc, bitmap);
  setDescriptorChecksum(vol, group, desc);
  await adjustSuperblockFree(edits, 1, 0);
}

// Allocating and freeing inodes (kernel fs/ext4/ialloc.c, group descriptors in
// Documentation/filesystems/ext4/group_descr.rst): the inode bitmap, the group descriptor (free inodes,
// used folders, itable_unused, the bitmap checksum; group-edit.ts keeps the descriptor checksum) and the
// superblock's free inode count. Groups whose inode
// table is not initialised yet (INODE_UNINIT) are left alone: allocating there means initialising the
// bitmap and the table, which the kernel does and this writer does not need to.

import { RefusedError, UnsupportedError } from '../errors.js';
import { crc32cUpdate } from './checksum.js';
import { BG_INODE_UNINIT } from './group-desc.js';
import { BlockEdits, GD, adjustSuperblockFree, descriptor, getCount, setCount, setDescriptorChecksum } from './group-edit.js';
import { fsCsumSeed } from './inode-csum.js';
import { hasMetadataCsum } from './superblock.js';
import type { Ext4Volume } from './volume.js';

export { BlockEdits };

async function setInodeBitmapChecksum(vol: Ext4Volume, desc: Buffer, bitmap: Buffer): Promise<void> {
  if (!hasMetadataCsum(vol.sb)) return;
  const c = crc32cUpdate(fsCsumSeed(vol.sb), bitmap, 0, vol.sb.inodesPerGroup / 8);
  desc.writeUInt16LE(c & 0xffff, GD.inodeBitmapCsumLo);
  if (vol.sb.descSize >= GD.inodeBitmapCsumHi + 2) desc.writeUInt16LE(c >>> 16, GD.inodeBitmapCsumHi);
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
      await adjustSuperblockFree(edits, -1, 0);
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
  await adjustSuperblockFree(edits, 1, 0);
}

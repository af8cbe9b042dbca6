// Creating an empty regular file in a folder, and removing one (kernel ext4_create / ext4_unlink for a
// file without blocks): a new inode (extent header and no blocks, owner root, the folder's group first),
// its entry in the folder, the folder's mtime/ctime; on removal the entry goes, the inode gets links 0
// and a deletion time, and is given back. Only empty files: freeing blocks is a later step.

import { randomInt } from 'node:crypto';
import { RefusedError, REPAIR, UnsupportedError } from '../errors.js';
import { type BlockRange, freeBlocks } from './alloc-block.js';
import { BlockEdits, allocateInode, freeInode } from './alloc-inode.js';
import { FileType } from './dir.js';
import { addDirEntry, removeDirEntry } from './dir-edit.js';
import { Incompat } from './features.js';
import { type Inode, InodeFlags, S_IFREG, parseInode, parseInodeXattrs } from './inode.js';
import { setInodeChecksum } from './inode-csum.js';
import { leaveOrphanList } from './orphan.js';
import { eaInodeRefusal, releaseXattrBlock } from './xattr-release.js';
import { encodeTime, updatedInode } from './rewrite.js';
import { hasMetadataCsum } from './superblock.js';

export async function putInode(edits: BlockEdits, ino: number, raw: Buffer): Promise<void> {
  const { fsBlock, offset } = await edits.vol.inodeLocation(ino);
  raw.copy(await edits.block(fsBlock), offset);
}

/** Sets the mtime and ctime of folder `ino` as this transaction has it (a folder just grown keeps its new size). */
export async function touchInode(edits: BlockEdits, ino: number, nowMs: number): Promise<void> {
  const now = await currentInode(edits, ino);
  await putInode(edits, ino, updatedInode(edits.vol, now, now.sizeBytes, nowMs));
}

/** Inode `ino` as this transaction has it so far (with what putInode wrote), not as the disk has it. */
export async function currentInode(edits: BlockEdits, ino: number): Promise<Inode> {
  const { sb } = edits.vol;
  const { fsBlock, offset } = await edits.vol.inodeLocation(ino);
  const raw = Buffer.from((await edits.block(fsBlock)).subarray(offset, offset + sb.inodeSize));
  return parseInode(raw, ino, sb.inodeSize);
}

/** The on-disk bytes of a new empty regular file (what ext4_new_inode writes for one). */
function newFileInode(edits: BlockEdits, ino: number, mode: number, nowMs: number): Buffer {
  const { sb } = edits.vol;
  const raw = Buffer.alloc(sb.inodeSize);
  const t = encodeTime(nowMs);
  raw.writeUInt16LE(S_IFREG | (mode & 0o7777), 0);
  for (const at of [8, 12, 16]) raw.writeUInt32LE(t.seconds, at); // atime, ctime, mtime
  raw.writeUInt16LE(1, 26); // links
  if ((sb.incompat & Incompat.EXTENTS) !== 0) {
    raw.writeUInt32LE(InodeFlags.EXTENTS, 32);
    raw.writeUInt16LE(0xf30a, 40); // extent header: magic, 0 entries, room for 4, depth 0
    raw.writeUInt16LE(0, 42);
    raw.writeUInt16LE(4, 44);
  }
  raw.writeUInt32LE(randomInt(0, 0x100000000), 100); // i_generation
  if (sb.inodeSize > 128) {
    const extra = Math.min(sb.inodeSize - 128, Math.max(sb.wantExtraIsize, 32));
    raw.writeUInt16LE(extra, 128);
    for (const at of [132, 136, 140, 148]) if (128 + extra >= at + 4) raw.writeUInt32LE(t.extra, at); // ctime/mtime/atime/crtime extra
    if (128 + extra >= 148) raw.writeUInt32LE(t.seconds, 144); // crtime
  }
  if (hasMetadataCsum(sb)) setInodeChecksum(sb, ino, raw);
  return raw;
}

/** Plans an empty file `name` in folder `dir`; returns its inode number. */
export async function createEmptyFile(edits: BlockEdits, dir: Inode, name: string, mode: number, nowMs: number): Promise<number> {
  const vol = edits.vol;
  if (dir.kind !== 'dir') throw new UnsupportedError('NOT_A_DIRECTORY', `inode ${dir.ino} is not a folder`, { hint: 'nothing was written' });
  if (await vol.findEntry(dir, Buffer.from(name))) throw new RefusedError('EXISTS', `${name} already exists`, { hint: 'nothing was written' });
  const ino = await allocateInode(edits, dir.ino, false);
  await putInode(edits, ino, newFileInode(edits, ino, mode, nowMs));
  await addDirEntry(edits, dir.ino, Buffer.from(name), ino, FileType.REG);
  await touchInode(edits, dir.ino, nowMs);
  return ino;
}

/**
 * The blocks a file owns: its data runs and its mapping blocks (extent tree or indirect blocks). They must
 * add up, with its attribute block, to its block count: a map that disagrees (blocks past the end of the
 * file, damage) is refused rather than half freed.
 */
export async function ownedBlocks(edits: BlockEdits, inode: Inode): Promise<BlockRange[]> {
  const vol = edits.vol;
  if ((inode.flags & InodeFlags.INLINE_DATA) !== 0 || inode.blocks === 0) return [];
  // The kernel counts a value's own inode in its owner's blocks (e2fsck too): not a mismatch, not freed here.
  if ((vol.sb.incompat & Incompat.EA_INODE) !== 0 && parseInodeXattrs(inode).some((x) => x.valueInum !== 0)) throw eaInodeRefusal();
  const runs = ((await vol.layout(inode)).runs ?? []).filter((r) => r.physical !== 0);
  const owned = [...runs.map((r) => ({ start: r.physical, length: r.length })), ...(await vol.extentTreeBlocks(inode)).map((b) => ({ start: b, length: 1 }))];
  const counted = owned.reduce((n, r) => n + r.length, 0) + (inode.fileAcl !== 0 ? 1 : 0);
  if (counted !== vol.allocatedBlocks(inode)) {
    throw new RefusedError('BLOCK_COUNT_MISMATCH', `inode ${inode.ino} owns ${vol.allocatedBlocks(inode)} blocks by its count but ${counted} by its map`, { ...REPAIR });
  }
  return owned;
}

/**
 * Plans removing file (or symbolic link) `name` from folder `dir`, as the kernel's unlink and the final
 * truncate: the entry goes; the last name of an inode also gives back its blocks and the inode (size and
 * block count 0, an empty extent root, links 0, a deletion time). Returns the bytes given back.
 */
export async function removeFile(edits: BlockEdits, dir: Inode, name: string, nowMs: number): Promise<{ ino: number; freedBlocks: number }> {
  const vol = edits.vol;
  const bytes = await vol.nameInDir(dir, name);
  const entry = await vol.findEntry(dir, bytes);
  if (!entry) throw new RefusedError('NOT_FOUND', `${name} is not there`, { hint: 'nothing was written' });
  const inode = await vol.readInode(entry.ino);
  if (inode.kind === 'dir') throw new UnsupportedError('IS_A_DIRECTORY', `${name} is a folder`, { hint: 'nothing was written' });
  await removeDirEntry(edits, dir, bytes);
  const freedBlocks = await releaseInode(edits, inode, nowMs);
  await touchInode(edits, dir.ino, nowMs);
  return { ino: inode.ino, freedBlocks };
}

/**
 * One name of `inode` is gone: with others left, its link count drops; with none, its blocks, its
 * attribute block (xattr-release.ts) and the inode itself go back (size and block count 0, an empty
 * extent root, links 0, a deletion time).
 * Returns the blocks given back.
 */
export async function releaseInode(edits: BlockEdits, inode: Inode, nowMs: number): Promise<number> {
  const vol = edits.vol;
  if (inode.linksCount <= 1) await leaveOrphanList(edits, inode.ino);
  const blocks = inode.linksCount > 1 ? [] : await ownedBlocks(edits, inode);
  const raw = Buffer.from(inode.raw.subarray(0, vol.sb.inodeSize));
  const t = encodeTime(nowMs);
  raw.writeUInt32LE(t.seconds, 12); // ctime
  let freedBlocks = 0;
  if (inode.linksCount > 1) raw.writeUInt16LE(inode.linksCount - 1, 26);
  else {
    freedBlocks = (await freeBlocks(edits, blocks)) + (await releaseXattrBlock(edits, inode));
    raw.writeUInt32LE(0, 104); // i_file_acl
    raw.writeUInt16LE(0, 118);
    raw.writeUInt16LE(0, 26); // links
    raw.writeUInt32LE(t.seconds, 20); // dtime
    raw.writeUInt32LE(0, 28); // i_blocks
    raw.writeUInt16LE(0, 116);
    if (blocks.length > 0) {
      raw.writeUInt32LE(0, 4); // size
      raw.writeUInt32LE(0, 108);
      raw.fill(0, 40, 100);
      if ((inode.flags & InodeFlags.EXTENTS) !== 0) {
        raw.writeUInt16LE(0xf30a, 40); // an empty extent root, as truncate leaves it (a block map: zeros)
        raw.writeUInt16LE(4, 44);
      }
    }
  }
  if (hasMetadataCsum(vol.sb)) setInodeChecksum(vol.sb, inode.ino, raw);
  await putInode(edits, inode.ino, raw);
  if (inode.linksCount <= 1) await freeInode(edits, inode.ino, false);
  return freedBlocks;
}

/** Plans removing the empty file `name` from folder `dir` (what safe-mode --off removes). */
export async function removeEmptyFile(edits: BlockEdits, dir: Inode, name: string, nowMs: number): Promise<number> {
  const entry = await edits.vol.findEntry(dir, Buffer.from(name));
  if (!entry) throw new RefusedError('NOT_FOUND', `${name} is not there`, { hint: 'nothing was written' });
  const inode = await edits.vol.readInode(entry.ino);
  if (inode.kind !== 'file' || inode.linksCount !== 1 || inode.sizeBytes !== 0 || inode.blocks !== 0) {
    const what = inode.kind !== 'file' ? `is ${inode.kind === 'dir' ? 'a folder' : 'not a file'}` : inode.linksCount !== 1 ? `has ${inode.linksCount} names` : `holds ${inode.sizeBytes} bytes`;
    throw new UnsupportedError('NOT_AN_EMPTY_FILE', `${name} is not the empty file Home Assistant leaves as its mark: it ${what}`, {
      hint: 'look at it first; Home Assistant takes any file of that name as the mark, so remove it as any other file (it is saved as it is removed); nothing was written',
    });
  }
  return (await removeFile(edits, dir, name, nowMs)).ino;
}

export { BlockEdits };

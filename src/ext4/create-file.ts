// Creating an empty regular file in a folder, and removing one (kernel ext4_create / ext4_unlink for a
// file without blocks): a new inode (extent header and no blocks, owner root, the folder's group first),
// its entry in the folder, the folder's mtime/ctime; on removal the entry goes, the inode gets links 0
// and a deletion time, and is given back. Only empty files: freeing blocks is a later step.

import { randomInt } from 'node:crypto';
import { RefusedError, UnsupportedError } from '../errors.js';
import { BlockEdits, allocateInode, freeInode } from './alloc-inode.js';
import { FileType } from './dir.js';
import { addDirEntry, removeDirEntry } from './dir-edit.js';
import { Incompat } from './features.js';
import { type Inode, InodeFlags, S_IFREG } from './inode.js';
import { setInodeChecksum } from './inode-csum.js';
import { encodeTime, updatedInode } from './rewrite.js';
import { hasMetadataCsum } from './superblock.js';

async function putInode(edits: BlockEdits, ino: number, raw: Buffer): Promise<void> {
  const { fsBlock, offset } = await edits.vol.inodeLocation(ino);
  raw.copy(await edits.block(fsBlock), offset);
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
  await addDirEntry(edits, dir, Buffer.from(name), ino, FileType.REG);
  await putInode(edits, dir.ino, updatedInode(vol, dir, dir.sizeBytes, nowMs));
  return ino;
}

/** Plans removing the empty file `name` from folder `dir`. A file with blocks or other links is refused. */
export async function removeEmptyFile(edits: BlockEdits, dir: Inode, name: string, nowMs: number): Promise<number> {
  const vol = edits.vol;
  const entry = await vol.findEntry(dir, Buffer.from(name));
  if (!entry) throw new RefusedError('NOT_FOUND', `${name} is not there`, { hint: 'nothing was written' });
  const inode = await vol.readInode(entry.ino);
  if (inode.kind !== 'file' || inode.linksCount !== 1 || inode.sizeBytes !== 0 || inode.blocks !== 0) {
    throw new UnsupportedError('NOT_AN_EMPTY_FILE', `${name} is not an empty file with one name; haos-rescue removes only those so far`, { hint: 'nothing was written' });
  }
  await removeDirEntry(edits, dir, Buffer.from(name));
  const raw = Buffer.from(inode.raw.subarray(0, vol.sb.inodeSize));
  const t = encodeTime(nowMs);
  raw.writeUInt16LE(0, 26); // links
  raw.writeUInt32LE(t.seconds, 20); // dtime
  raw.writeUInt32LE(t.seconds, 12); // ctime
  if (hasMetadataCsum(vol.sb)) setInodeChecksum(vol.sb, inode.ino, raw);
  await putInode(edits, inode.ino, raw);
  await freeInode(edits, inode.ino, false);
  await putInode(edits, dir.ino, updatedInode(vol, dir, dir.sizeBytes, nowMs));
  return inode.ino;
}

export { BlockEdits };

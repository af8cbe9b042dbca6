// Making a folder (kernel ext4_mkdir, ext4_init_new_dir): a directory inode (two links, one block, an
// extent root, or i_block[0] without extents), its block holding "." and ".." (and the checksum tail),
// its entry in the parent, and the parent's link count one higher for the new "..". The group's
// used-folders count is kept by the inode allocator. The new block is journaled with the rest, as the
// kernel journals folder blocks.

import { randomInt } from 'node:crypto';
import { RefusedError, UnsupportedError } from '../errors.js';
import { allocateBlocks } from './alloc-block.js';
import { allocateInode } from './alloc-inode.js';
import { BlockEdits, currentInode, putInode } from './create-file.js';
import { FileType } from './dir.js';
import { insertInBlock } from './dir-block.js';
import { addDirEntry } from './dir-edit.js';
import { emptyDirBlock } from './dir-grow.js';
import { writeHeader, writeLeafEntry } from './extent-write.js';
import { Incompat, RoCompat } from './features.js';
import { type Inode, InodeFlags, S_IFDIR, parseInode } from './inode.js';
import { groupFirstBlock } from './group-desc.js';
import { setInodeChecksum } from './inode-csum.js';
import { type FileOwner, newInode } from './put-file.js';
import { updatedInode } from './rewrite.js';
import { hasMetadataCsum } from './superblock.js';

/** The most links a folder counts before "many" (dir_nlink's 1), as the kernel's EXT4_LINK_MAX. */
const LINK_MAX = 65000;

/**
 * A folder gains (+1) or loses (-1) a link for a subfolder's ".." and gets new times. Under dir_nlink a
 * count at the limit becomes 1, "many", and stays so; a folder never drops below its own two links.
 */
export async function changeFolderLinks(edits: BlockEdits, ino: number, delta: 1 | -1, nowMs: number): Promise<void> {
  const vol = edits.vol;
  const dir = await currentInode(edits, ino);
  const raw = updatedInode(vol, dir, dir.sizeBytes, nowMs);
  const links = dir.linksCount;
  if (links !== 1 && delta > 0) raw.writeUInt16LE(links + 1 >= LINK_MAX ? 1 : links + 1, 26);
  if (links > 2 && delta < 0) raw.writeUInt16LE(links - 1, 26);
  if (hasMetadataCsum(vol.sb)) setInodeChecksum(vol.sb, ino, raw);
  await putInode(edits, ino, raw);
}

/** Plans folder `name` in folder `parent` (owner root, mode 0755 unless given); returns its inode number. */
export async function makeDirectory(edits: BlockEdits, parent: Inode, name: string, nowMs: number, owner: FileOwner = { mode: 0o755, uid: 0, gid: 0 }): Promise<number> {
  const vol = edits.vol;
  const { sb } = vol;
  if (parent.kind !== 'dir') throw new UnsupportedError('NOT_A_DIRECTORY', `inode ${parent.ino} is not a folder`, { hint: 'nothing was written' });
  if (await vol.findEntry(parent, Buffer.from(name))) throw new RefusedError('EXISTS', `${name} already exists`, { hint: 'nothing was written' });
  if (parent.linksCount + 1 >= LINK_MAX && (sb.roCompat & RoCompat.DIR_NLINK) === 0) throw new RefusedError('TOO_MANY_FOLDERS', `the folder holding ${name} has as many subfolders as ext4 counts without dir_nlink`, { hint: 'nothing was written' });
  const ino = await allocateInode(edits, parent.ino, true);
  const group = Math.floor((ino - 1) / sb.inodesPerGroup);
  const [got] = await allocateBlocks(edits, groupFirstBlock(sb, group), 1);
  const root = Buffer.alloc(60);
  const extents = (sb.incompat & Incompat.EXTENTS) !== 0;
  if (extents) {
    writeHeader(root, 0, 1, 4, 0);
    writeLeafEntry(root, 12, { logical: 0, start: got!.start, length: 1 });
  } else root.writeUInt32LE(got!.start, 0); // ext2/ext3: i_block[0], the first direct pointer
  const raw = newInode(edits, ino, { content: sb.blockSize, blocks: 1, root, generation: randomInt(0, 0x100000000), flags: extents ? InodeFlags.EXTENTS : 0, type: S_IFDIR, links: 2 }, owner, nowMs);
  await putInode(edits, ino, raw);
  const inode = parseInode(raw, ino, sb.inodeSize);
  const block = await edits.block(got!.start);
  emptyDirBlock(edits, inode, block);
  insertInBlock(edits, inode, block, Buffer.from('.'), ino, FileType.DIR);
  insertInBlock(edits, inode, block, Buffer.from('..'), parent.ino, FileType.DIR);
  await addDirEntry(edits, parent.ino, Buffer.from(name), ino, FileType.DIR);
  await changeFolderLinks(edits, parent.ino, 1, nowMs);
  return ino;
}

// Removing a folder with everything in it (`rm --recursive`): every file below is released (its blocks
// and inode given back, or one link fewer when it has names elsewhere), every folder below too (its
// blocks, its inode, the used-folders count), then the folder's own entry leaves its parent, whose link
// count drops by the '..' that pointed at it. One set of block edits: one journal transaction, so a
// power cut leaves the whole tree or none of it. A tree too large for one transaction is removed in
// steps instead (removeNames, then each emptied folder), each step consistent on its own.

import { RefusedError, REPAIR } from '../errors.js';
import { freeBlocks } from './alloc-block.js';
import { freeInode } from './alloc-inode.js';
import { BlockEdits, currentInode, ownedBlocks, putInode, releaseInode, touchInode } from './create-file.js';
import { isDotOrDotDot } from './dir.js';
import { assertNotLocked, removeDirEntries, removeDirEntry } from './dir-edit.js';
import { type Inode, InodeFlags } from './inode.js';
import { setInodeChecksum } from './inode-csum.js';
import { releaseXattrBlock } from './xattr-release.js';
import { encodeTime, updatedInode } from './rewrite.js';
import { hasMetadataCsum } from './superblock.js';
import { leaveOrphanList } from './orphan.js';

export interface TreeRemoval {
  files: number;
  folders: number;
  freedBlocks: number;
  /** Link counts already lowered in this plan (a file with two names inside the tree is met twice). */
  links: Map<number, number>;
}

/** A folder's inode given back: its blocks, links 0, a deletion time, the used-folders count. */
async function releaseFolder(edits: BlockEdits, dir: Inode, nowMs: number): Promise<number> {
  const vol = edits.vol;
  await leaveOrphanList(edits, dir.ino);
  const freed = (await freeBlocks(edits, await ownedBlocks(edits, dir))) + (await releaseXattrBlock(edits, dir));
  const raw = Buffer.from(dir.raw.subarray(0, vol.sb.inodeSize));
  const t = encodeTime(nowMs);
  raw.writeUInt16LE(0, 26); // links
  raw.writeUInt32LE(t.seconds, 20); // dtime
  raw.writeUInt32LE(t.seconds, 12); // ctime
  raw.writeUInt32LE(0, 4); // size
  raw.writeUInt32LE(0, 108);
  raw.writeUInt32LE(0, 28); // i_blocks
  raw.writeUInt16LE(0, 116);
  raw.writeUInt32LE(0, 104); // i_file_acl
  raw.writeUInt16LE(0, 118);
  raw.fill(0, 40, 100);
  if ((dir.flags & InodeFlags.EXTENTS) !== 0) {
    raw.writeUInt16LE(0xf30a, 40); // an empty extent root; a block map is left all zeros
    raw.writeUInt16LE(4, 44);
  }
  if (hasMetadataCsum(vol.sb)) setInodeChecksum(vol.sb, dir.ino, raw);
  await putInode(edits, dir.ino, raw);
  await freeInode(edits, dir.ino, true);
  return freed;
}

/** Releases everything below `dir` and `dir` itself (not its entry in its parent). */
async function releaseBelow(edits: BlockEdits, dir: Inode, name: Buffer, nowMs: number, out: TreeRemoval, depth: number): Promise<void> {
  if (depth > 256) throw new RefusedError('TREE_TOO_DEEP', 'the folder tree is deeper than 256 levels (a damaged loop?)', { ...REPAIR });
  assertNotLocked(dir, name, 'remove'); // its entries go
  const listing = await edits.vol.listDir(dir);
  if (listing.lost.length > 0) throw listing.lost[0]!;
  for (const e of listing.entries) {
    if (isDotOrDotDot(e.name)) continue;
    const child = await edits.vol.readInode(e.ino);
    if (child.kind === 'dir') await releaseBelow(edits, child, Buffer.from(e.name), nowMs, out, depth + 1);
    else {
      assertNotLocked(child, Buffer.from(e.name), 'remove');
      const links = out.links.get(child.ino) ?? child.linksCount;
      out.links.set(child.ino, links - 1);
      out.freedBlocks += await releaseInode(edits, { ...child, linksCount: links }, nowMs);
      out.files++;
    }
  }
  out.freedBlocks += await releaseFolder(edits, dir, nowMs);
  out.folders++;
}

/** Plans removing folder `name` of `parent` with everything in it. */
export async function removeTree(edits: BlockEdits, parent: Inode, name: string | Uint8Array, nowMs: number): Promise<TreeRemoval> {
  const vol = edits.vol;
  const bytes = await vol.nameInDir(parent, name);
  const entry = await vol.findEntry(parent, bytes);
  if (!entry) throw new RefusedError('NOT_FOUND', `${Buffer.from(name).toString()} is not there`, { hint: 'nothing was written' });
  const dir = await vol.readInode(entry.ino);
  if (dir.kind !== 'dir') throw new RefusedError('NOT_A_FOLDER', `${Buffer.from(name).toString()} is not a folder`, { hint: 'nothing was written' });
  const out: TreeRemoval = { files: 0, folders: 0, freedBlocks: 0, links: new Map() };
  await releaseBelow(edits, dir, Buffer.from(bytes), nowMs, out, 0);
  await removeDirEntry(edits, parent, bytes);
  const now = await currentInode(edits, parent.ino);
  const raw = updatedInode(vol, now, now.sizeBytes, nowMs);
  // One '..' fewer points at the parent (a count of 1 means "many" under dir_nlink and stays).
  if (now.linksCount > 2) {
    raw.writeUInt16LE(now.linksCount - 1, 26);
    if (hasMetadataCsum(vol.sb)) setInodeChecksum(vol.sb, parent.ino, raw);
  }
  await putInode(edits, parent.ino, raw);
  return out;
}

/**
 * Plans removing the entries `names` of folder `dirIno` (files, links, special files; not folders), one
 * name each: a step of a folder removed in several transactions. Inodes are read as this transaction has
 * them, so a file with two names in the same step loses both links. Returns the blocks given back.
 */
export async function removeNames(edits: BlockEdits, dirIno: number, names: Uint8Array[], nowMs: number, fromBlock = 0): Promise<number> {
  const dir = await currentInode(edits, dirIno);
  const removed = await removeDirEntries(edits, dir, names.map((n) => Buffer.from(n)), fromBlock);
  let freed = 0;
  for (const raw of names) {
    const name = Buffer.from(raw);
    const child = await currentInode(edits, removed.get(name.toString('latin1'))!);
    if (child.kind === 'dir') throw new RefusedError('IS_A_DIRECTORY', `${name.toString()} is a folder`, { hint: 'nothing was written' });
    // The kernel's may_delete: the inode named may not be immutable or append-only (the whole plan is refused).
    assertNotLocked(child, name, 'remove');
    freed += await releaseInode(edits, child, nowMs);
  }
  await touchInode(edits, dirIno, nowMs);
  return freed;
}

// Adding and removing one entry of a directory (kernel fs/ext4/namei.c ext4_add_entry and
// ext4_generic_delete_entry). In a linear directory an entry goes into the first block with room (the
// slack after an entry, or an unused entry big enough), and into a new block at the end when none has
// any; a hash-indexed one takes it through its index (dir-index.ts). A removed entry's rec_len joins the
// one before it (or, first in its block, its inode becomes 0). Under metadata_csum each changed block
// gets its tail checksum again. Inline-data folders are edited in the inode itself (dir-inline.ts).

import { CorruptError, REPAIR, RefusedError, UnsupportedError, UsageError } from '../errors.js';
import type { BlockEdits } from './alloc-inode.js';
import { currentInode } from './create-file.js';
import { deleteEntry, entriesEnd, insertInBlock, notInFolder, rawEntries, repointEntry, setTailChecksum } from './dir-block.js';
import { appendDirBlock, dirBlockMap } from './dir-grow.js';
import { addIndexedEntry } from './dir-index.js';
import { addInlineEntry, removeInlineEntry, repointInlineEntry } from './dir-inline.js';
import { Incompat } from './features.js';
import { displayName } from './path.js';
import { type Inode, InodeFlags } from './inode.js';
import type { Superblock } from './superblock.js';

/**
 * Refuses what the kernel refuses even to root (EPERM): changing an immutable inode, and removing,
 * renaming or replacing an append-only one (chattr +i, +a: the owner or a program asked for it).
 */
export function assertNotLocked(inode: Inode, name: Buffer | string, change: 'add' | 'remove', role: 'named' | 'holder' = 'named'): void {
  const locked = (inode.flags & InodeFlags.IMMUTABLE) !== 0 ? 'immutable' : change === 'remove' && (inode.flags & InodeFlags.APPEND) !== 0 ? 'append-only' : null;
  if (locked === null) return;
  const what = role === 'holder' ? 'the folder that holds' : inode.kind === 'dir' ? 'folder' : 'file';
  throw new RefusedError('FILE_LOCKED', `${what} ${name.toString()} (inode ${inode.ino}) is marked ${locked} (chattr ${locked === 'immutable' ? '+i' : '+a'}): Linux refuses this change even to root`, {
    hint: `on a Linux computer, chattr ${locked === 'immutable' ? '-i' : '-a'} on it takes the mark away (as root, on the mounted card); nothing was written`,
  });
}

/** The directory's own entries may be changed (not encrypted or case-insensitive), in a format this writer edits. */
export function checkEditable(edits: BlockEdits, dir: Inode): void {
  assertEditableDir(edits.vol.sb, dir);
}

export function assertEditableDir(sb: Superblock, dir: Inode): void {
  if ((dir.flags & (InodeFlags.ENCRYPT | InodeFlags.CASEFOLD)) !== 0) {
    throw new UnsupportedError('SPECIAL_DIRECTORY', `directory inode ${dir.ino} is encrypted or case-insensitive; haos-rescue does not edit those`, { hint: 'nothing was written' });
  }
  if ((sb.incompat & Incompat.FILETYPE) === 0 || sb.blockSize > 32768) {
    throw new UnsupportedError('DIR_FORMAT', 'directories without file types, or with 64 KiB blocks, are not edited', { hint: 'nothing was written' });
  }
  if ((dir.flags & InodeFlags.INLINE_DATA) !== 0 && (sb.incompat & Incompat.INLINE_DATA) === 0) {
    // e2fsck clears the flag; written as inline, the folder's entries were lost to it.
    throw new CorruptError('INLINE_WITHOUT_FEATURE', `directory inode ${dir.ino} is marked as holding its entries inline, which this filesystem does not use: it is damaged`, { ...REPAIR });
  }
}

/**
 * The blocks of a directory, in order. Removing or re-pointing an entry of a hash-indexed directory
 * touches only its leaf block, as the kernel does (the name and so its hash stay); the index blocks parse
 * as one empty entry and are passed over.
 */
async function dirBlocks(edits: BlockEdits, dir: Inode): Promise<number[]> {
  checkEditable(edits, dir);
  const map = await dirBlockMap(edits, dir);
  const hole = map.indexOf(-1);
  // The kernel refuses a folder with a hole ("Directory hole found"); a block added after it made it worse.
  if (hole >= 0) throw new CorruptError('DIRECTORY_HOLE', `directory inode ${dir.ino} has no block ${hole} though its size says so: it is damaged`, { ...REPAIR });
  return map;
}

/** Whether block `index` of `dir` is part of its hash index (the root, or a node: one empty entry over the whole block). */
function isIndexBlock(dir: Inode, block: Buffer, index: number): boolean {
  if ((dir.flags & InodeFlags.INDEX) === 0) return false;
  return index === 0 || (block.readUInt32LE(0) === 0 && block.readUInt16LE(4) === block.length);
}

/** How many of `name`'s first `limit` bytes end on a whole UTF-8 character (a quoted start is not cut mid-character). */
function wholeCharacters(name: Buffer, limit: number): number {
  let end = Math.min(limit, name.length);
  while (end > 0 && end < name.length && (name[end]! & 0xc0) === 0x80) end -= 1;
  return end;
}

/** Adds `name` → `ino` (file type `fileType`) to directory `dirIno`. The caller checked the name is new. */
export async function addDirEntry(edits: BlockEdits, dirIno: number, name: Buffer, ino: number, fileType: number): Promise<void> {
  if (name.length > 255) {
    throw new UsageError('NAME_TOO_LONG', `the name ${displayName(name.subarray(0, wholeCharacters(name, 40)))}… is ${name.length} bytes: a name on ext4 is at most 255 bytes`, { hint: 'choose a shorter name; nothing was written' });
  }
  if (name.length === 0 || name.includes(0x2f) || name.includes(0)) {
    throw new UnsupportedError('BAD_NAME', `"${displayName(name)}" cannot be a file name`, { hint: 'nothing was written' });
  }
  const dir = await currentInode(edits, dirIno);
  checkEditable(edits, dir);
  assertNotLocked(dir, name, 'add', 'holder');
  if ((dir.flags & InodeFlags.INLINE_DATA) !== 0) return addInlineEntry(edits, dir, name, ino, fileType);
  if ((dir.flags & InodeFlags.INDEX) !== 0) return addIndexedEntry(edits, dir, name, ino, fileType);
  for (const fsBlock of await dirBlocks(edits, dir)) {
    if (insertInBlock(edits, dir, await edits.block(fsBlock), name, ino, fileType)) return;
  }
  const added = await appendDirBlock(edits, dir.ino);
  insertInBlock(edits, added.dir, await edits.block(added.fsBlock), name, ino, fileType);
}

/** Removes `name` from directory `dir`; returns the inode number it named. */
export async function removeDirEntry(edits: BlockEdits, given: Inode, name: Buffer): Promise<number> {
  const dir = await currentInode(edits, given.ino); // an entry added earlier in the transaction may have grown it
  checkEditable(edits, dir);
  assertNotLocked(dir, name, 'remove', 'holder');
  const ino = await deleteFromDir(edits, dir, name);
  // The kernel's may_delete: the inode named may not be immutable or append-only either (the whole plan is refused).
  assertNotLocked(await currentInode(edits, ino), name, 'remove');
  return ino;
}

/**
 * Removes the entries `names` of directory `given` in one pass over its blocks (a step of a large folder's
 * removal: one name at a time read the folder again for each, 14 minutes for 45,000 names). Returns each
 * name's inode, keyed by the name's bytes as latin1; throws when one is not there.
 */
/**
 * Removes the entries `names` of `given`; `fromBlock`: the folder block to look in first (where a listing saw
 * the first of them). The search goes on from there and wraps round: a removal in steps of 256 names from a
 * folder of 300,000 read every block before theirs again at each step (minutes, gigabytes copied).
 */
export async function removeDirEntries(edits: BlockEdits, given: Inode, names: Buffer[], fromBlock = 0): Promise<Map<string, number>> {
  const dir = await currentInode(edits, given.ino);
  checkEditable(edits, dir);
  if (names.length > 0) assertNotLocked(dir, names[0]!, 'remove', 'holder');
  const removed = new Map<string, number>();
  if ((dir.flags & InodeFlags.INLINE_DATA) !== 0) {
    for (const n of names) removed.set(n.toString('latin1'), await removeInlineEntry(edits, dir.ino, n));
    return removed;
  }
  const wanted = new Set(names.map((n) => n.toString('latin1')));
  const end = entriesEnd(edits);
  const blocks = await dirBlocks(edits, dir);
  const first = Math.min(Math.max(0, fromBlock), Math.max(0, blocks.length - 1));
  for (let k = 0; k < blocks.length; k++) {
    const index = (first + k) % blocks.length;
    const fsBlock = blocks[index]!;
    if (wanted.size === 0) break;
    const block = await edits.block(fsBlock);
    if (isIndexBlock(dir, block, index)) continue;
    // Copies: an entry's name is a view of the block, which each removal rewrites.
    const hits = rawEntries(block, end, dir.ino).filter((e) => e.ino !== 0 && wanted.has(e.name.toString('latin1'))).map((e) => Buffer.from(e.name));
    for (const name of hits) {
      const key = name.toString('latin1');
      removed.set(key, deleteEntry(block, end, dir.ino, name)!);
      wanted.delete(key);
    }
    if (hits.length > 0) setTailChecksum(edits, dir, block);
  }
  if (wanted.size > 0) throw notInFolder(Buffer.from([...wanted][0]!, 'latin1'), dir.ino);
  return removed;
}

async function deleteFromDir(edits: BlockEdits, dir: Inode, name: Buffer): Promise<number> {
  return (await removeDirEntries(edits, dir, [name])).get(name.toString('latin1'))!;
}

/** Points the entry `name` of directory `dir` at inode `ino` instead (a rename over an existing file). */
export async function replaceDirEntryInode(edits: BlockEdits, given: Inode, name: Buffer, ino: number): Promise<void> {
  const dir = await currentInode(edits, given.ino);
  checkEditable(edits, dir);
  assertNotLocked(dir, name, 'remove', 'holder');
  if ((dir.flags & InodeFlags.INLINE_DATA) !== 0) return repointInlineEntry(edits, dir.ino, name, ino);
  const end = entriesEnd(edits);
  for (const [index, fsBlock] of (await dirBlocks(edits, dir)).entries()) {
    const block = await edits.block(fsBlock);
    if (isIndexBlock(dir, block, index)) continue;
    if (!repointEntry(block, end, dir.ino, name, ino)) continue;
    setTailChecksum(edits, dir, block);
    return;
  }
  throw notInFolder(name, dir.ino);
}

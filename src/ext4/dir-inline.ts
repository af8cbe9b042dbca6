// Entries of inline-data folders (kernel fs/ext4/inline.c; Documentation/filesystems/ext4/inlinedata.rst):
// i_block holds the parent folder's inode number (4 bytes), then entries filling its other 56 bytes; the
// "system.data" attribute in the inode's extra space may hold more, filling its value. A new entry goes into
// the first region with room (ext4_add_dirent_to_inline). Where none has room the folder becomes a block
// folder as ext4_convert_inline_dir makes it: "." and ".." and the entries in one new block, the attribute
// removed, the inline flag off, an extent tree. (The kernel may first grow the attribute into free space of
// the inode; e2fsck and the kernel read both shapes.) Removing or re-pointing an entry edits its region in
// place (ext4_delete_inline_entry). Each change is the inode's own bytes and its checksum.

import { CorruptError, REPAIR } from '../errors.js';
import type { BlockEdits } from './alloc-inode.js';
import { currentInode, putInode } from './create-file.js';
import { deleteEntry, insertEntry, notInFolder, packEntries, rawEntries, repointEntry } from './dir-block.js';
import { appendDirBlock } from './dir-grow.js';
import { FileType } from './dir.js';
import { Incompat } from './features.js';
import { type Inode, InodeFlags, type InlineXattr, XATTR_MAGIC, isSystemData, parseInodeXattrs } from './inode.js';
import { setInodeChecksum } from './inode-csum.js';
import { hasMetadataCsum } from './superblock.js';

const I_BLOCK = 40;
const I_BLOCK_END = 100;

/** A run of entries in the raw inode: i_block after the parent's number, or the system.data value. */
interface Region {
  start: number;
  end: number;
  /** The system.data attribute when the region is its value (its hash may need computing again). */
  xattr: InlineXattr | null;
}

function damagedXattrs(ino: number): CorruptError {
  return new CorruptError('BAD_XATTR', `the extended attributes inside inode ${ino} are damaged`, { ...REPAIR });
}

function regions(inode: Inode): Region[] {
  const out: Region[] = [{ start: I_BLOCK + 4, end: I_BLOCK_END, xattr: null }];
  const data = parseInodeXattrs(inode).find(isSystemData);
  if (data !== undefined && data.value.length > 0) out.push({ start: data.valueStart, end: data.valueStart + data.value.length, xattr: data });
  return out;
}

/** e2fsprogs' ext2fs_ext_attr_hash_entry (the kernel's ext4_xattr_hash_entry): name, then value words. */
function xattrHash(name: Uint8Array, value: Buffer): number {
  let hash = 0;
  for (const c of name) hash = ((hash << 5) ^ (hash >>> 27) ^ c) >>> 0;
  const padded = Buffer.alloc((value.length + 3) & ~3);
  value.copy(padded);
  for (let i = 0; i < padded.length; i += 4) hash = ((hash << 16) ^ (hash >>> 16) ^ padded.readUInt32LE(i)) >>> 0;
  return hash;
}

/** Writes the changed inode: the attribute's hash where it keeps one (the kernel's are 0), the checksum. */
async function seal(edits: BlockEdits, ino: number, raw: Buffer, changed: Region): Promise<void> {
  const x = changed.xattr;
  if (x !== null && x.hash !== 0) raw.writeUInt32LE(xattrHash(x.name, raw.subarray(x.valueStart, x.valueStart + x.value.length)), x.pos + 12);
  if (hasMetadataCsum(edits.vol.sb)) setInodeChecksum(edits.vol.sb, ino, raw);
  await putInode(edits, ino, raw);
}

/** The inline folder `dirIno` as this transaction has it, and a copy of its raw bytes to edit. */
async function inlineFolder(edits: BlockEdits, dirIno: number): Promise<{ dir: Inode; raw: Buffer }> {
  const dir = await currentInode(edits, dirIno);
  if ((dir.flags & InodeFlags.INLINE_DATA) === 0) throw new CorruptError('BAD_DIR_ENTRY', `directory inode ${dirIno} is no longer inline`, { hint: 'nothing was written' });
  return { dir, raw: Buffer.from(dir.raw.subarray(0, edits.vol.sb.inodeSize)) };
}

/** Adds `name` → `ino` to the inline folder `dir`, turning it into a block folder when it is full. */
export async function addInlineEntry(edits: BlockEdits, dir: Inode, name: Buffer, ino: number, fileType: number): Promise<void> {
  const { dir: now, raw } = await inlineFolder(edits, dir.ino);
  for (const r of regions(now)) {
    if (!insertEntry(raw.subarray(r.start, r.end), r.end - r.start, now.ino, name, ino, fileType)) continue;
    return seal(edits, now.ino, raw, r);
  }
  await convertToBlocks(edits, now, raw, { ino, name, fileType });
}

/** Removes `name` from the inline folder `dirIno`; returns the inode it named. */
export async function removeInlineEntry(edits: BlockEdits, dirIno: number, name: Buffer): Promise<number> {
  const { dir, raw } = await inlineFolder(edits, dirIno);
  for (const r of regions(dir)) {
    const ino = deleteEntry(raw.subarray(r.start, r.end), r.end - r.start, dir.ino, name);
    if (ino === null) continue;
    await seal(edits, dir.ino, raw, r);
    return ino;
  }
  throw notInFolder(name, dirIno);
}

/** Points the entry `name` of the inline folder `dirIno` at `ino`. */
export async function repointInlineEntry(edits: BlockEdits, dirIno: number, name: Buffer, ino: number): Promise<void> {
  const { dir, raw } = await inlineFolder(edits, dirIno);
  for (const r of regions(dir)) {
    if (!repointEntry(raw.subarray(r.start, r.end), r.end - r.start, dir.ino, name, ino)) continue;
    return seal(edits, dir.ino, raw, r);
  }
  throw notInFolder(name, dirIno);
}

/** Points the ".." of the inline folder `dirIno` (the first four bytes of i_block) at `parentIno`. */
export async function setInlineParent(edits: BlockEdits, dirIno: number, parentIno: number): Promise<void> {
  const { raw } = await inlineFolder(edits, dirIno);
  raw.writeUInt32LE(parentIno, I_BLOCK);
  await seal(edits, dirIno, raw, { start: I_BLOCK, end: I_BLOCK_END, xattr: null });
}

/**
 * The attribute area without system.data (ext4_destroy_inline_data): the other entries packed from the
 * start, their values from the end of the inode down; no magic when none is left, as the kernel leaves it.
 */
function dropSystemData(raw: Buffer, inode: Inode): void {
  const kept = parseInodeXattrs(inode).filter((x) => !isSystemData(x));
  // Copied before the area is cleared (an attribute kept in an inode of its own has no value here).
  const copies = kept.map((x) => ({ entry: Buffer.from(raw.subarray(x.pos, x.pos + ((16 + x.name.length + 3) & ~3))), value: Buffer.from(x.value) }));
  const start = 128 + inode.extraIsize;
  if (start + 4 > raw.length) return;
  raw.fill(0, start);
  if (copies.length === 0) return;
  raw.writeUInt32LE(XATTR_MAGIC, start);
  const base = start + 4;
  let at = base;
  let valueEnd = raw.length;
  for (const { entry, value } of copies) {
    valueEnd -= (value.length + 3) & ~3;
    // Values that overlapped each other or the entries (a crafted inode) no longer fit once laid out apart.
    if (valueEnd < at + entry.length + 4) throw damagedXattrs(inode.ino);
    value.copy(raw, valueEnd);
    entry.writeUInt16LE(value.length === 0 ? 0 : valueEnd - base, 2);
    entry.copy(raw, at);
    at += entry.length;
  }
}

/** Turns the full inline folder into a folder of one block holding its entries and `extra`. */
async function convertToBlocks(edits: BlockEdits, dir: Inode, raw: Buffer, extra: { ino: number; name: Buffer; fileType: number }): Promise<void> {
  const { sb } = edits.vol;
  const extents = (sb.incompat & Incompat.EXTENTS) !== 0;
  const entries: Array<{ ino: number; name: Buffer; fileType: number }> = [
    { ino: dir.ino, name: Buffer.from('.'), fileType: FileType.DIR },
    { ino: raw.readUInt32LE(I_BLOCK), name: Buffer.from('..'), fileType: FileType.DIR },
  ];
  for (const r of regions(dir)) {
    for (const e of rawEntries(raw.subarray(r.start, r.end), r.end - r.start, dir.ino)) {
      if (e.ino !== 0) entries.push({ ino: e.ino, name: Buffer.from(e.name), fileType: e.fileType });
    }
  }
  entries.push(extra);
  dropSystemData(raw, dir);
  raw.writeUInt32LE(((dir.flags & ~InodeFlags.INLINE_DATA) | (extents ? InodeFlags.EXTENTS : 0)) >>> 0, 32);
  raw.fill(0, I_BLOCK, I_BLOCK_END); // without extents: an empty block map
  if (extents) {
    raw.writeUInt16LE(0xf30a, I_BLOCK); // an empty extent tree: magic, 0 entries, room for 4, depth 0
    raw.writeUInt16LE(4, I_BLOCK + 4);
  }
  raw.writeUInt32LE(0, 4); // size: appendDirBlock adds the block
  raw.writeUInt32LE(0, 108);
  if (hasMetadataCsum(sb)) setInodeChecksum(sb, dir.ino, raw);
  await putInode(edits, dir.ino, raw);
  const added = await appendDirBlock(edits, dir.ino, true);
  packEntries(edits, added.dir, await edits.block(added.fsBlock), entries);
}

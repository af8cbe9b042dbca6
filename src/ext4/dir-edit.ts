// Adding and removing one entry of a linear directory (kernel fs/ext4/namei.c add_dirent_to_buf and
// ext4_generic_delete_entry). An entry goes into the first block with room: the slack after an entry, or
// an unused entry big enough; a removed entry's rec_len joins the one before it (or, first in its block,
// its inode becomes 0). Under metadata_csum each changed block gets its tail checksum again.
// Hash-indexed (htree) directories and a directory without room for one more entry (a new block) are
// refused for now: neither is needed for the small folders these repairs touch.

import { CorruptError, NotFoundError, UnsupportedError } from '../errors.js';
import { crc32cUpdate } from './checksum.js';
import type { BlockEdits } from './alloc-inode.js';
import { Incompat } from './features.js';
import { type Inode, InodeFlags } from './inode.js';
import { inodeCsumSeed } from './inode-csum.js';
import { hasMetadataCsum } from './superblock.js';

const TAIL = 12;
const align4 = (n: number): number => (n + 3) & ~3;

interface RawEntry {
  pos: number;
  ino: number;
  recLen: number;
  nameLen: number;
  name: Buffer;
}

/** The entries of a block with their positions (the checksum tail excluded). */
function rawEntries(block: Buffer, end: number, dirIno: number): RawEntry[] {
  const out: RawEntry[] = [];
  for (let pos = 0; pos < end; ) {
    const ino = block.readUInt32LE(pos);
    const recLen = block.readUInt16LE(pos + 4);
    const nameLen = block[pos + 6]!;
    if (recLen < 8 || recLen % 4 !== 0 || pos + recLen > end || (ino !== 0 && 8 + nameLen > recLen)) {
      throw new CorruptError('BAD_DIR_ENTRY', `directory inode ${dirIno} has a damaged entry at byte ${pos}`, { hint: 'run e2fsck on a copy of the card; nothing was written' });
    }
    out.push({ pos, ino, recLen, nameLen, name: block.subarray(pos + 8, pos + 8 + nameLen) });
    pos += recLen;
  }
  return out;
}

/**
 * The blocks of a directory, in order (refuses what this writer does not edit). Removing or re-pointing an
 * entry of a hash-indexed directory touches only its leaf block, as the kernel does (the name and so its
 * hash stay); the index blocks parse as one empty entry and are passed over. Adding needs the index.
 */
async function dirBlocks(edits: BlockEdits, dir: Inode, indexedOk = false): Promise<number[]> {
  const vol = edits.vol;
  if ((dir.flags & InodeFlags.INDEX) !== 0 && !indexedOk) {
    throw new UnsupportedError('HTREE_DIRECTORY', `directory inode ${dir.ino} is hash-indexed; haos-rescue does not edit indexed directories yet`, { hint: 'nothing was written' });
  }
  if ((dir.flags & InodeFlags.INLINE_DATA) !== 0) {
    throw new UnsupportedError('INLINE_DIRECTORY', `directory inode ${dir.ino} keeps its entries inline; haos-rescue does not edit those yet`, { hint: 'nothing was written' });
  }
  if ((vol.sb.incompat & Incompat.FILETYPE) === 0 || vol.sb.blockSize > 32768) {
    throw new UnsupportedError('DIR_FORMAT', 'directories without file types, or with 64 KiB blocks, are not edited', { hint: 'nothing was written' });
  }
  const layout = await vol.layout(dir);
  const blocks: number[] = [];
  const count = dir.sizeBytes / vol.sb.blockSize;
  for (const run of layout.runs ?? []) {
    for (let i = 0; i < run.length && run.logical + i < count; i++) if (!run.uninit) blocks.push(run.physical + i);
  }
  return blocks;
}

/** Whether block `index` of `dir` is part of its hash index (the root, or a node: one empty entry over the whole block). */
function isIndexBlock(dir: Inode, block: Buffer, index: number): boolean {
  if ((dir.flags & InodeFlags.INDEX) === 0) return false;
  return index === 0 || (block.readUInt32LE(0) === 0 && block.readUInt16LE(4) === block.length);
}

function setTailChecksum(edits: BlockEdits, dir: Inode, block: Buffer): void {
  if (!hasMetadataCsum(edits.vol.sb)) return;
  const t = block.length - TAIL;
  block.writeUInt32LE(crc32cUpdate(inodeCsumSeed(edits.vol.sb, dir.ino, dir.generation), block, 0, t) >>> 0, t + 8);
}

/** Adds `name` → `ino` (file type `fileType`) to directory `dir`. The caller checked the name is new. */
export async function addDirEntry(edits: BlockEdits, dir: Inode, name: Buffer, ino: number, fileType: number): Promise<void> {
  if (name.length === 0 || name.length > 255 || name.includes(0x2f) || name.includes(0)) {
    throw new UnsupportedError('BAD_NAME', `"${name.toString()}" cannot be a file name`, { hint: 'nothing was written' });
  }
  const need = align4(8 + name.length);
  const end = edits.vol.sb.blockSize - (hasMetadataCsum(edits.vol.sb) ? TAIL : 0);
  for (const fsBlock of await dirBlocks(edits, dir)) {
    const block = await edits.block(fsBlock);
    for (const e of rawEntries(block, end, dir.ino)) {
      const used = e.ino === 0 ? 0 : align4(8 + e.nameLen);
      if (e.recLen - used < need) continue;
      let at = e.pos;
      let recLen = e.recLen;
      if (used > 0) {
        block.writeUInt16LE(used, e.pos + 4);
        at = e.pos + used;
        recLen = e.recLen - used;
      }
      block.fill(0, at, at + recLen);
      block.writeUInt32LE(ino, at);
      block.writeUInt16LE(recLen, at + 4);
      block[at + 6] = name.length;
      block[at + 7] = fileType;
      name.copy(block, at + 8);
      setTailChecksum(edits, dir, block);
      return;
    }
  }
  throw new UnsupportedError('DIRECTORY_FULL', `directory inode ${dir.ino} has no room for another entry without a new block`, { hint: 'nothing was written' });
}

/** Removes `name` from directory `dir`; returns the inode number it named. */
export async function removeDirEntry(edits: BlockEdits, dir: Inode, name: Buffer): Promise<number> {
  const end = edits.vol.sb.blockSize - (hasMetadataCsum(edits.vol.sb) ? TAIL : 0);
  for (const [index, fsBlock] of (await dirBlocks(edits, dir, true)).entries()) {
    const block = await edits.block(fsBlock);
    if (isIndexBlock(dir, block, index)) continue;
    const entries = rawEntries(block, end, dir.ino);
    const i = entries.findIndex((e) => e.ino !== 0 && e.name.equals(name));
    if (i < 0) continue;
    const e = entries[i]!;
    if (i > 0) {
      const prev = entries[i - 1]!;
      block.writeUInt16LE(prev.recLen + e.recLen, prev.pos + 4);
      block.fill(0, e.pos, e.pos + e.recLen);
    } else {
      block.writeUInt32LE(0, e.pos);
    }
    setTailChecksum(edits, dir, block);
    return e.ino;
  }
  throw new NotFoundError('PATH_NOT_FOUND', `"${name.toString()}" is not in directory inode ${dir.ino}`);
}

/** Points the entry `name` of directory `dir` at inode `ino` instead (a rename over an existing file). */
export async function replaceDirEntryInode(edits: BlockEdits, dir: Inode, name: Buffer, ino: number): Promise<void> {
  const end = edits.vol.sb.blockSize - (hasMetadataCsum(edits.vol.sb) ? TAIL : 0);
  for (const [index, fsBlock] of (await dirBlocks(edits, dir, true)).entries()) {
    const block = await edits.block(fsBlock);
    if (isIndexBlock(dir, block, index)) continue;
    const e = rawEntries(block, end, dir.ino).find((x) => x.ino !== 0 && x.name.equals(name));
    if (!e) continue;
    block.writeUInt32LE(ino, e.pos);
    setTailChecksum(edits, dir, block);
    return;
  }
  throw new NotFoundError('PATH_NOT_FOUND', `"${name.toString()}" is not in directory inode ${dir.ino}`);
}

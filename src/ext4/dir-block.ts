// One directory block, edited in place (kernel fs/ext4/namei.c add_dirent_to_buf): its entries with
// their positions, a new entry in the first slack or unused entry big enough for it, and the checksum
// tail under metadata_csum (crc32c from the directory's seed over everything before the tail).

import { CorruptError, NotFoundError, REPAIR } from '../errors.js';
import { crc32cUpdate } from './checksum.js';
import type { BlockEdits } from './group-edit.js';
import type { Inode } from './inode.js';
import { inodeCsumSeed } from './inode-csum.js';
import { hasMetadataCsum } from './superblock.js';

export const DIR_TAIL = 12;
export const align4 = (n: number): number => (n + 3) & ~3;

export interface RawEntry {
  pos: number;
  ino: number;
  recLen: number;
  nameLen: number;
  fileType: number;
  name: Buffer;
}

/** Where the entries of a block end: before the checksum tail when there is one. */
export function entriesEnd(edits: BlockEdits): number {
  return edits.vol.sb.blockSize - (hasMetadataCsum(edits.vol.sb) ? DIR_TAIL : 0);
}

/** The entries of a block with their positions (the checksum tail excluded). */
export function rawEntries(block: Buffer, end: number, dirIno: number): RawEntry[] {
  const out: RawEntry[] = [];
  for (let pos = 0; pos < end; ) {
    if (pos + 8 > end) throw damaged(dirIno, pos);
    const ino = block.readUInt32LE(pos);
    const recLen = block.readUInt16LE(pos + 4);
    const nameLen = block[pos + 6]!;
    if (recLen < 8 || recLen % 4 !== 0 || pos + recLen > end || (ino !== 0 && 8 + nameLen > recLen)) throw damaged(dirIno, pos);
    out.push({ pos, ino, recLen, nameLen, fileType: block[pos + 7]!, name: block.subarray(pos + 8, pos + 8 + nameLen) });
    pos += recLen;
  }
  return out;
}

export function notInFolder(name: Buffer, dirIno: number): NotFoundError {
  return new NotFoundError('PATH_NOT_FOUND', `"${name.toString()}" is not in directory inode ${dirIno}`);
}

function damaged(dirIno: number, pos: number): CorruptError {
  return new CorruptError('BAD_DIR_ENTRY', `directory inode ${dirIno} has a damaged entry at byte ${pos}`, { ...REPAIR });
}

export function setTailChecksum(edits: BlockEdits, dir: Inode, block: Buffer): void {
  if (!hasMetadataCsum(edits.vol.sb)) return;
  const t = block.length - DIR_TAIL;
  block.writeUInt32LE(crc32cUpdate(inodeCsumSeed(edits.vol.sb, dir.ino, dir.generation), block, 0, t) >>> 0, t + 8);
}

function writeEntry(block: Buffer, at: number, recLen: number, e: { ino: number; name: Buffer; fileType: number }): void {
  block.fill(0, at, at + recLen);
  block.writeUInt32LE(e.ino, at);
  block.writeUInt16LE(recLen, at + 4);
  block[at + 6] = e.name.length;
  block[at + 7] = e.fileType;
  e.name.copy(block, at + 8);
}

/**
 * Puts `name` → `ino` into the entries filling [0, end) of `area` (a block, or an inline folder's region)
 * if they have room: the slack after an entry, or an unused entry big enough. False when there is none.
 */
export function insertEntry(area: Buffer, end: number, dirIno: number, name: Buffer, ino: number, fileType: number): boolean {
  const need = align4(8 + name.length);
  for (const e of rawEntries(area, end, dirIno)) {
    const used = e.ino === 0 ? 0 : align4(8 + e.nameLen);
    if (e.recLen - used < need) continue;
    if (used > 0) area.writeUInt16LE(used, e.pos + 4);
    writeEntry(area, e.pos + used, e.recLen - used, { ino, name, fileType });
    return true;
  }
  return false;
}

/** Puts `name` → `ino` into this block if it has room (then seals it); false when it has none. */
export function insertInBlock(edits: BlockEdits, dir: Inode, block: Buffer, name: Buffer, ino: number, fileType: number): boolean {
  if (!insertEntry(block, entriesEnd(edits), dir.ino, name, ino, fileType)) return false;
  setTailChecksum(edits, dir, block);
  return true;
}

/**
 * Removes the entry `name` from the entries filling [0, end) of `area` (kernel ext4_generic_delete_entry):
 * its rec_len joins the entry before it, or, first in the area, its inode becomes 0. Returns the inode it
 * named, or null when it is not there.
 */
export function deleteEntry(area: Buffer, end: number, dirIno: number, name: Buffer): number | null {
  const entries = rawEntries(area, end, dirIno);
  const i = entries.findIndex((e) => e.ino !== 0 && e.name.equals(name));
  if (i < 0) return null;
  const e = entries[i]!;
  if (i > 0) {
    const prev = entries[i - 1]!;
    area.writeUInt16LE(prev.recLen + e.recLen, prev.pos + 4);
    area.fill(0, e.pos, e.pos + e.recLen);
  } else {
    area.writeUInt32LE(0, e.pos);
  }
  return e.ino;
}

/** Points the entry `name` in [0, end) of `area` at inode `ino`; false when it is not there. */
export function repointEntry(area: Buffer, end: number, dirIno: number, name: Buffer, ino: number): boolean {
  const e = rawEntries(area, end, dirIno).find((x) => x.ino !== 0 && x.name.equals(name));
  if (e === undefined) return false;
  area.writeUInt32LE(ino, e.pos);
  return true;
}

/** Rewrites the block to hold exactly `entries`, packed, the last one reaching the end; then seals it. */
export function packEntries(edits: BlockEdits, dir: Inode, block: Buffer, entries: Array<{ ino: number; name: Buffer; fileType: number }>): void {
  const end = entriesEnd(edits);
  let pos = 0;
  entries.forEach((e, i) => {
    const recLen = i === entries.length - 1 ? end - pos : align4(8 + e.name.length);
    writeEntry(block, pos, recLen, e);
    pos += recLen;
  });
  if (entries.length === 0) writeEntry(block, 0, end, { ino: 0, name: Buffer.alloc(0), fileType: 0 });
  setTailChecksum(edits, dir, block);
}

// Writing extent tree nodes (kernel fs/ext4/ext4_extents.h): the 12-byte header, leaf entries (logical
// block, length, 48-bit start), index entries (logical block, 48-bit child), and a tree block's tail
// checksum under metadata_csum (crc32c from the inode's seed over the header and all `max` slots).

import { crc32cUpdate } from './checksum.js';
import { inodeCsumSeed } from './inode-csum.js';
import { type Superblock, hasMetadataCsum } from './superblock.js';

/** The longest initialised extent. */
export const MAX_EXTENT = 32768;
export const EXTENT_MAGIC = 0xf30a;
/** The kernel's limit of an extent tree's depth (EXT4_MAX_EXTENT_DEPTH). */
export const MAX_TREE_DEPTH = 5;

export interface LeafExtent {
  logical: number;
  start: number;
  length: number;
}

export function writeHeader(buf: Buffer, at: number, entries: number, max: number, depth: number): void {
  buf.writeUInt16LE(EXTENT_MAGIC, at);
  buf.writeUInt16LE(entries, at + 2);
  buf.writeUInt16LE(max, at + 4);
  buf.writeUInt16LE(depth, at + 6);
  buf.writeUInt32LE(0, at + 8);
}

export function writeLeafEntry(buf: Buffer, at: number, e: LeafExtent): void {
  buf.writeUInt32LE(e.logical, at);
  buf.writeUInt16LE(e.length, at + 4);
  buf.writeUInt16LE(Math.floor(e.start / 0x100000000), at + 6);
  buf.writeUInt32LE(e.start % 0x100000000, at + 8);
}

export function writeIndexEntry(buf: Buffer, at: number, logical: number, child: number): void {
  buf.writeUInt32LE(logical, at);
  buf.writeUInt32LE(child % 0x100000000, at + 4);
  buf.writeUInt16LE(Math.floor(child / 0x100000000), at + 8);
  buf.writeUInt16LE(0, at + 10);
}

/** Entries a tree block holds. */
export function blockCapacity(blockSize: number): number {
  return Math.floor((blockSize - 12) / 12);
}

/** The tail checksum of an extent tree block of inode `ino` (generation `generation`). */
export function sealTreeBlock(sb: Superblock, ino: number, generation: number, block: Buffer): void {
  if (!hasMetadataCsum(sb)) return;
  const end = 12 + 12 * block.readUInt16LE(4);
  if (end + 4 > block.length) return;
  block.writeUInt32LE(crc32cUpdate(inodeCsumSeed(sb, ino, generation), block, 0, end) >>> 0, end);
}

// Adding an entry to a hash-indexed (htree) directory (kernel fs/ext4/namei.c dx_probe, ext4_dx_add_entry,
// do_split; Documentation/filesystems/ext4/directory.rst). The name's hash picks the leaf through the root
// (and one level of nodes, when there is one): the last index entry whose hash is not above it. A leaf
// with room takes the entry. A full leaf is split as the kernel does: a new block at the end of the
// directory, the leaf's entries sorted by hash, the upper half (by size) moved there, and an index entry
// for the new block put after the old one (its low bit set when the split falls inside one hash value).
// A full index node is split in two, and a full root moves down into a new node (one level deeper), as
// the kernel does; two full levels at once are refused. Index blocks keep their checksum in a tail after
// `limit` entries under metadata_csum.

import { CorruptError, UnsupportedError } from '../errors.js';
import { crc32cUpdate } from './checksum.js';
import type { BlockEdits } from './group-edit.js';
import { align4, entriesEnd, insertInBlock, packEntries, rawEntries } from './dir-block.js';
import { appendDirBlock, dirBlockMap } from './dir-grow.js';
import { DxHash, dirHash } from './dir-hash.js';
import { Incompat } from './features.js';
import type { Inode } from './inode.js';
import { inodeCsumSeed } from './inode-csum.js';
import { hasMetadataCsum } from './superblock.js';

const EXT2_FLAGS_UNSIGNED_HASH = 0x2;
const ROOT_COUNT_AT = 32;
const NODE_COUNT_AT = 8;
const MAX_LEVELS = 3;
const ZERO4 = new Uint8Array(4);

interface Frame {
  block: Buffer;
  countAt: number;
  count: number;
  limit: number;
  /** The entry followed down. */
  at: number;
}

const damaged = (dir: Inode, why: string): CorruptError =>
  new CorruptError('BAD_DIR_INDEX', `the index of directory inode ${dir.ino} is damaged (${why})`, { hint: 'run e2fsck on a copy of the card (it rebuilds indexes); nothing was written' });

/** The hash this directory's index uses (the root's version, made unsigned when the superblock says so). */
function hashVersion(edits: BlockEdits, dir: Inode, root: Buffer): { version: number; levels: number } {
  if (root.readUInt32LE(24) !== 0 || root[29] !== 8) throw damaged(dir, 'root information');
  let version = root[28]!;
  const levels = root[30]!;
  if (version > DxHash.TEA) throw new UnsupportedError('DIR_HASH', `directory inode ${dir.ino} uses hash version ${version}; haos-rescue adds entries only under legacy, half-MD4 or TEA`, { hint: 'nothing was written' });
  if ((edits.vol.sb.flags & EXT2_FLAGS_UNSIGNED_HASH) !== 0) version += 3;
  if (levels >= MAX_LEVELS) throw damaged(dir, `${levels} index levels`);
  return { version, levels };
}

function readFrame(edits: BlockEdits, dir: Inode, block: Buffer, countAt: number, hash: number): Frame {
  const limit = block.readUInt16LE(countAt);
  const count = block.readUInt16LE(countAt + 2);
  const tail = hasMetadataCsum(edits.vol.sb) ? 8 : 0;
  if (count < 1 || count > limit || countAt + limit * 8 + tail > block.length) throw damaged(dir, `count ${count}, limit ${limit}`);
  let lo = 1;
  let hi = count - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (block.readUInt32LE(countAt + mid * 8) > hash) hi = mid - 1;
    else lo = mid + 1;
  }
  return { block, countAt, count, limit, at: lo - 1 };
}

const childOf = (f: Frame): number => f.block.readUInt32LE(f.countAt + f.at * 8 + 4) & 0x0fffffff;

/** An index block's checksum (kernel ext4_dx_csum): over the entries in use, then the tail with its checksum as zero. */
function sealIndex(edits: BlockEdits, dir: Inode, f: Frame): void {
  if (!hasMetadataCsum(edits.vol.sb)) return;
  const tail = f.countAt + f.limit * 8;
  const count = f.block.readUInt16LE(f.countAt + 2);
  let c = crc32cUpdate(inodeCsumSeed(edits.vol.sb, dir.ino, dir.generation), f.block, 0, f.countAt + count * 8);
  c = crc32cUpdate(c, f.block, tail, tail + 4);
  c = crc32cUpdate(c, ZERO4);
  f.block.writeUInt32LE(c >>> 0, tail + 4);
}

/** The root block's checksum again, after a change outside its index (the ".." entry of a moved folder). */
export function resealIndexRoot(edits: BlockEdits, dir: Inode, root: Buffer): void {
  const frame = readFrame(edits, dir, root, ROOT_COUNT_AT, 0);
  sealIndex(edits, dir, frame);
}

/** Follows the index from the root to the leaf for `hash`; returns the frames passed and the leaf's block. */
async function probe(edits: BlockEdits, dir: Inode, map: number[], hash: number, root: Buffer, levels: number): Promise<{ frames: Frame[]; leaf: Buffer }> {
  const frames: Frame[] = [];
  let block = root;
  let countAt = ROOT_COUNT_AT;
  for (let level = 0; ; level++) {
    const frame = readFrame(edits, dir, block, countAt, hash);
    frames.push(frame);
    const logical = childOf(frame);
    if (logical === 0 || logical >= map.length || map[logical]! < 0) throw damaged(dir, `index entry points at block ${logical}`);
    block = await edits.block(map[logical]!);
    if (level === levels) return { frames, leaf: block };
    if (block.readUInt32LE(0) !== 0 || block.readUInt16LE(4) !== block.length) throw damaged(dir, `node ${logical}`);
    countAt = NODE_COUNT_AT;
  }
}

/**
 * Moves the upper half of full leaf `leaf` (by size, in hash order) to the empty block `fresh`; returns the
 * index hash of `fresh` (its first hash, low bit set when the hash before the split is the same).
 */
function splitLeaf(edits: BlockEdits, dir: Inode, leaf: Buffer, fresh: Buffer, version: number): number {
  const { sb } = edits.vol;
  const map = rawEntries(leaf, entriesEnd(edits), dir.ino)
    .filter((e) => e.ino !== 0)
    .map((e) => ({ ino: e.ino, name: Buffer.from(e.name), fileType: e.fileType, hash: dirHash(e.name, version, sb.hashSeed), size: align4(8 + e.nameLen) }))
    .sort((a, b) => a.hash - b.hash);
  if (map.length < 2) throw damaged(dir, 'a full leaf with fewer than two entries');
  let size = 0;
  let move = 0;
  let i = map.length - 1;
  for (; i >= 0; i--) {
    if (size + map[i]!.size / 2 > sb.blockSize / 2) break;
    size += map[i]!.size;
    move++;
  }
  const split = i > 0 ? map.length - move : Math.floor(map.length / 2);
  const hash2 = map[split]!.hash;
  const continued = hash2 === map[split - 1]!.hash ? 1 : 0;
  packEntries(edits, dir, leaf, map.slice(0, split));
  packEntries(edits, dir, fresh, map.slice(split));
  return (hash2 + continued) >>> 0;
}

/** Puts index entry (`hash`, `logical`) after the entry `f.at` of frame `f`, which has room. */
function insertIndexEntry(f: Frame, hash: number, logical: number): void {
  const at = f.countAt + (f.at + 1) * 8;
  f.block.copyWithin(at + 8, at, f.countAt + f.count * 8);
  f.block.writeUInt32LE(hash >>> 0, at);
  f.block.writeUInt32LE(logical, at + 4);
  f.count++;
  f.block.writeUInt16LE(f.count, f.countAt + 2);
}

/** A new index node at the end of the directory holding `entries` (raw 8-byte entries, the first one's hash slot unused). */
async function newNode(edits: BlockEdits, dirIno: number, entries: Buffer): Promise<{ frame: Frame; logical: number; dir: Inode }> {
  const added = await appendDirBlock(edits, dirIno);
  const block = await edits.block(added.fsBlock);
  const bs = block.length;
  block.fill(0);
  block.writeUInt16LE(bs, 4); // one empty entry over the whole block
  entries.copy(block, NODE_COUNT_AT);
  const limit = Math.floor((bs - NODE_COUNT_AT - (hasMetadataCsum(edits.vol.sb) ? 8 : 0)) / 8);
  const count = entries.length / 8;
  block.writeUInt16LE(limit, NODE_COUNT_AT);
  block.writeUInt16LE(count, NODE_COUNT_AT + 2);
  const frame = { block, countAt: NODE_COUNT_AT, count, limit, at: 0 };
  // Sealed here: a split whose new name goes to the left half never touches this node again (it was left
  // without its checksum; the kernel then refuses the whole folder, "Directory index failed checksum").
  sealIndex(edits, added.dir, frame);
  return { frame, logical: added.logical, dir: added.dir };
}

/**
 * Makes room for one more entry in the bottom index level (kernel ext4_dx_add_entry): a full node is
 * split in two halves, the second one a new node with an entry in the level above; a full root moves its
 * entries down into a new node and becomes one level deeper. Returns the frame to insert into.
 */
async function roomInBottom(edits: BlockEdits, dir: Inode, frames: Frame[], root: Buffer): Promise<Frame> {
  const bottom = frames[frames.length - 1]!;
  if (bottom.count < bottom.limit) return bottom;
  const levels = frames.length - 1;
  const maxLevels = (edits.vol.sb.incompat & Incompat.LARGEDIR) !== 0 ? 3 : 2;
  const full = (why: string) => new UnsupportedError('DIRECTORY_INDEX_FULL', `the index of directory inode ${dir.ino} is full (${why})`, { hint: 'nothing was written' });
  const raw = (f: Frame, from: number, to: number) => Buffer.from(f.block.subarray(f.countAt + from * 8, f.countAt + to * 8));
  if (levels === 0) {
    if (levels + 1 >= maxLevels) throw full('no deeper level is allowed');
    const made = await newNode(edits, dir.ino, raw(bottom, 0, bottom.count));
    bottom.count = 1;
    bottom.block.writeUInt16LE(1, bottom.countAt + 2);
    bottom.block.writeUInt32LE(made.logical, bottom.countAt + 4);
    root[30] = levels + 1;
    sealIndex(edits, made.dir, bottom);
    return { ...made.frame, at: bottom.at };
  }
  const parent = frames[levels - 1]!;
  if (parent.count >= parent.limit) throw full('two levels full');
  const keep = Math.floor(bottom.count / 2);
  const hash2 = bottom.block.readUInt32LE(bottom.countAt + keep * 8);
  const made = await newNode(edits, dir.ino, raw(bottom, keep, bottom.count));
  bottom.count = keep;
  bottom.block.writeUInt16LE(keep, bottom.countAt + 2);
  insertIndexEntry(parent, hash2, made.logical);
  sealIndex(edits, made.dir, parent);
  sealIndex(edits, made.dir, bottom);
  return bottom.at >= keep ? { ...made.frame, at: bottom.at - keep } : bottom;
}

/** Adds `name` → `ino` to indexed directory `dir` (as this transaction has it). */
export async function addIndexedEntry(edits: BlockEdits, dir: Inode, name: Buffer, ino: number, fileType: number): Promise<void> {
  const map = await dirBlockMap(edits, dir);
  if (map.length < 2 || map[0]! < 0) throw damaged(dir, 'no root block');
  const root = await edits.block(map[0]!);
  const { version, levels } = hashVersion(edits, dir, root);
  const hash = dirHash(name, version, edits.vol.sb.hashSeed);
  const { frames, leaf } = await probe(edits, dir, map, hash, root, levels);
  if (insertInBlock(edits, dir, leaf, name, ino, fileType)) return;
  const bottom = await roomInBottom(edits, dir, frames, root);
  const added = await appendDirBlock(edits, dir.ino);
  const fresh = await edits.block(added.fsBlock);
  const splitHash = splitLeaf(edits, added.dir, leaf, fresh, version);
  insertIndexEntry(bottom, splitHash, added.logical);
  sealIndex(edits, added.dir, bottom);
  const target = hash >= (splitHash & ~1) >>> 0 ? fresh : leaf;
  if (!insertInBlock(edits, added.dir, target, name, ino, fileType)) throw damaged(dir, 'no room after a split');
}

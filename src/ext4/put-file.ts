// Writing a whole file as a new inode with new blocks, and putting it under a name: a new entry, or in
// place of an existing file (its entry then names the new inode and the old one is released, as a
// rename over it does: Home Assistant itself saves its .storage files that way). The data goes in the
// same journal transaction as the metadata, so a power cut leaves the old file or the new one.
// Blocks come as few runs as possible from the folder's group; up to four extents live in the inode,
// more in full leaf blocks below as many index levels as they need (340 extents to a 4 KiB tree block).
// Without the extent feature (ext2/ext3) the file gets an indirect block map (block-map-write.ts).

import { randomInt } from 'node:crypto';
import { RefusedError, UnsupportedError } from '../errors.js';
import { type BlockRange, allocateBlockList, allocateBlocks } from './alloc-block.js';
import { allocateInode } from './alloc-inode.js';
import { newBlockMap } from './block-map-write.js';
import { BlockEdits, putInode, releaseInode, touchInode } from './create-file.js';
import { FileType } from './dir.js';
import { addDirEntry, assertNotLocked, replaceDirEntryInode } from './dir-edit.js';
import { type LeafExtent, MAX_EXTENT, MAX_TREE_DEPTH, blockCapacity, sealTreeBlock, writeHeader, writeIndexEntry, writeLeafEntry } from './extent-write.js';
import { Incompat } from './features.js';
import { groupFirstBlock } from './group-desc.js';
import { type Inode, InodeFlags, S_IFREG } from './inode.js';
import { setInodeChecksum } from './inode-csum.js';
import { encodeTime } from './rewrite.js';
import { hasMetadataCsum } from './superblock.js';

export interface FileOwner {
  mode: number;
  uid: number;
  gid: number;
}

type Extent = LeafExtent;

function toExtents(ranges: BlockRange[]): Extent[] {
  const out: Extent[] = [];
  let logical = 0;
  for (const r of ranges) {
    for (let done = 0; done < r.length; done += MAX_EXTENT) {
      const length = Math.min(MAX_EXTENT, r.length - done);
      out.push({ logical, start: r.start + done, length });
      logical += length;
    }
  }
  return out;
}

/** One node of the level being built: the first logical block it covers, and its bytes' writer. */
interface TreeNode {
  logical: number;
  write: (buf: Buffer, at: number) => void;
}

/**
 * The extent root for i_block (60 bytes) and the tree blocks below it. As the kernel's tree: up to four
 * extents in the inode; otherwise full leaf blocks in logical order, and above them full index blocks,
 * one level more each time a level has more than the four nodes the root holds. Returns the root and the
 * number of tree blocks written (they count in i_blocks).
 */
async function extentRoot(edits: BlockEdits, ino: number, generation: number, extents: Extent[], goal: number): Promise<{ root: Buffer; treeBlocks: number }> {
  const { sb } = edits.vol;
  const max = blockCapacity(sb.blockSize);
  let level: TreeNode[] = extents.map((e) => ({ logical: e.logical, write: (buf, at) => writeLeafEntry(buf, at, e) }));
  let depth = 0;
  let treeBlocks = 0;
  while (level.length > 4) {
    if (depth + 1 >= MAX_TREE_DEPTH) {
      throw new UnsupportedError('TOO_FRAGMENTED', `the free space is in ${extents.length} pieces, more than an extent tree holds`, { hint: 'free a larger piece first; nothing was written' });
    }
    const count = Math.ceil(level.length / max);
    const blocks = await allocateBlockList(edits, goal, count);
    const upper: TreeNode[] = [];
    for (let b = 0; b < count; b++) {
      const members = level.slice(b * max, (b + 1) * max);
      const block = await edits.block(blocks[b]!);
      block.fill(0);
      writeHeader(block, 0, members.length, max, depth);
      members.forEach((m, i) => m.write(block, 12 + i * 12));
      sealTreeBlock(sb, ino, generation, block);
      const child = blocks[b]!;
      upper.push({ logical: members[0]!.logical, write: (buf, at) => writeIndexEntry(buf, at, members[0]!.logical, child) });
    }
    treeBlocks += count;
    level = upper;
    depth++;
  }
  const root = Buffer.alloc(60);
  writeHeader(root, 0, level.length, 4, depth);
  level.forEach((n, i) => n.write(root, 12 + i * 12));
  return { root, treeBlocks };
}

/** A new file's blocks: its data runs in logical order, its i_block, and its mapping blocks (in i_blocks). */
interface NewMap {
  data: BlockRange[];
  root: Buffer;
  mapBlocks: number;
  flags: number;
}

/** The data blocks and extent tree of a new file of `count` blocks. */
async function extentMapped(edits: BlockEdits, ino: number, generation: number, count: number, goal: number): Promise<NewMap> {
  const data = count > 0 ? await allocateBlocks(edits, goal, count) : [];
  const { root, treeBlocks } = await extentRoot(edits, ino, generation, toExtents(data), goal);
  return { data, root, mapBlocks: treeBlocks, flags: InodeFlags.EXTENTS };
}

/**
 * A new file's content: its bytes, or (a large file from this computer) its length and a reader that fills
 * a buffer from a given offset, zeros past the end; it is read when the blocks are written.
 */
export type FileContent = Uint8Array | { length: number; read(offset: number, into: Buffer): Promise<void> };

/** Writes the content into the data runs (not through the journal); the last block is padded with zeros. */
function addContent(edits: BlockEdits, data: BlockRange[], content: FileContent): void {
  const bs = edits.vol.sb.blockSize;
  if (!(content instanceof Uint8Array)) {
    let at = 0;
    for (const r of data) {
      edits.addStreamedData(r.start, { read: (offset, into) => content.read(offset, into), offset: at, length: r.length * bs });
      at += r.length * bs;
    }
    return;
  }
  const bytes = Buffer.from(content.buffer, content.byteOffset, content.byteLength);
  let offset = 0;
  for (const r of data) {
    const end = offset + r.length * bs;
    if (end <= bytes.length) edits.addData(r.start, bytes.subarray(offset, end));
    else {
      // The whole blocks before the last are not copied.
      const whole = Math.floor((bytes.length - offset) / bs);
      if (whole > 0) edits.addData(r.start, bytes.subarray(offset, offset + whole * bs));
      const last = Buffer.alloc(bs);
      bytes.copy(last, 0, offset + whole * bs);
      edits.addData(r.start + whole, last);
    }
    offset = end;
  }
}

/**
 * Plans a new inode holding `content`; returns its number. With extents where the filesystem has them,
 * else with an indirect block map (ext2/ext3).
 */
export async function newFileWithContent(edits: BlockEdits, dirIno: number, content: FileContent, owner: FileOwner, nowMs: number): Promise<number> {
  const { sb } = edits.vol;
  const ino = await allocateInode(edits, dirIno, false);
  const group = Math.floor((ino - 1) / sb.inodesPerGroup);
  const goal = groupFirstBlock(sb, group);
  const count = Math.ceil(content.length / sb.blockSize);
  const generation = randomInt(0, 0x100000000);
  const map = (sb.incompat & Incompat.EXTENTS) !== 0 ? await extentMapped(edits, ino, generation, count, goal) : { ...(await newBlockMap(edits, ino, count, goal)), flags: 0 };
  addContent(edits, map.data, content);
  await putInode(edits, ino, newInode(edits, ino, { content: content.length, blocks: count + map.mapBlocks, root: map.root, generation, flags: map.flags }, owner, nowMs));
  return ino;
}

/**
 * A new inode's bytes: a regular file unless `f.type` says otherwise, one link unless `f.links`, `f.root`
 * in i_block and `f.flags` (EXTENTS for an extent root, 0 for a block map).
 */
export function newInode(edits: BlockEdits, ino: number, f: { content: number; blocks: number; root: Buffer; generation: number; flags: number; type?: number; links?: number }, owner: FileOwner, nowMs: number): Buffer {
  const { sb } = edits.vol;
  const raw = Buffer.alloc(sb.inodeSize);
  const t = encodeTime(nowMs);
  raw.writeUInt16LE((f.type ?? S_IFREG) | (owner.mode & 0o7777), 0);
  raw.writeUInt16LE(owner.uid & 0xffff, 2);
  raw.writeUInt32LE(f.content % 0x100000000, 4);
  raw.writeUInt32LE(Math.floor(f.content / 0x100000000), 108);
  for (const at of [8, 12, 16]) raw.writeUInt32LE(t.seconds, at); // atime, ctime, mtime
  raw.writeUInt16LE(owner.gid & 0xffff, 24);
  raw.writeUInt16LE(f.links ?? 1, 26);
  raw.writeUInt32LE((f.blocks * sb.blockSize) / 512, 28); // i_blocks in 512-byte sectors
  raw.writeUInt32LE(f.flags, 32);
  f.root.copy(raw, 40);
  raw.writeUInt32LE(f.generation >>> 0, 100);
  raw.writeUInt16LE(owner.uid >>> 16, 120);
  raw.writeUInt16LE(owner.gid >>> 16, 122);
  if (sb.inodeSize > 128) {
    const extra = Math.min(sb.inodeSize - 128, Math.max(sb.wantExtraIsize, 32));
    raw.writeUInt16LE(extra, 128);
    for (const at of [132, 136, 140, 148]) if (128 + extra >= at + 4) raw.writeUInt32LE(t.extra, at);
    if (128 + extra >= 148) raw.writeUInt32LE(t.seconds, 144); // crtime
  }
  if (hasMetadataCsum(sb)) setInodeChecksum(sb, ino, raw);
  return raw;
}

/**
 * Puts `content` under `name` in folder `dir`: a new file (owner root, mode 0644 unless `fresh` says
 * otherwise), or in place of the file there (keeping its mode and owner). Returns the new inode and the replaced one.
 */
export async function putFile(edits: BlockEdits, dir: Inode, name: string, content: FileContent, nowMs: number, fresh: FileOwner = { mode: 0o644, uid: 0, gid: 0 }): Promise<{ ino: number; replaced: number | null }> {
  const vol = edits.vol;
  const bytes = await vol.nameInDir(dir, name);
  const entry = await vol.findEntry(dir, bytes);
  const old = entry ? await vol.readInode(entry.ino) : null;
  if (old && old.kind !== 'file') throw new RefusedError('NOT_A_FILE', `${name} exists and is not a regular file`, { hint: 'nothing was written' });
  if (old) assertNotLocked(old, name, 'remove');
  const who = old ? { mode: old.mode & 0o7777, uid: old.uid, gid: old.gid } : fresh;
  const ino = await newFileWithContent(edits, dir.ino, content, who, nowMs);
  if (old) {
    await replaceDirEntryInode(edits, dir, bytes, ino);
    await releaseInode(edits, old, nowMs);
  } else {
    await addDirEntry(edits, dir.ino, bytes, ino, FileType.REG);
  }
  await touchInode(edits, dir.ino, nowMs);
  return { ino, replaced: old?.ino ?? null };
}

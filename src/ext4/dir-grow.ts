// One more block at the end of a directory (kernel ext4_append): the block comes from near the
// directory's last one; the extent tree takes it (the last extent lengthened when the block follows it,
// else a new extent in the root or in its one leaf; a full root moves down into a new leaf, depth 0 to 1,
// as ext4_ext_grow_indepth does); i_size and i_blocks grow. The block starts as one empty entry over all
// of it, with the checksum tail under metadata_csum.

import { CorruptError, UnsupportedError } from '../errors.js';
import { allocateBlocks } from './alloc-block.js';
import { crc32cUpdate } from './checksum.js';
import { BlockEdits, currentInode, putInode } from './create-file.js';
import { DIR_TAIL } from './dir-block.js';
import { EXTENT_MAGIC, type LeafExtent, MAX_EXTENT, blockCapacity, sealTreeBlock, writeHeader, writeIndexEntry, writeLeafEntry } from './extent-write.js';
import { type Inode, InodeFlags, parseInode } from './inode.js';
import { inodeCsumSeed, setInodeChecksum } from './inode-csum.js';
import { hasMetadataCsum } from './superblock.js';

const TAIL_FILE_TYPE = 0xde;

export interface AppendedBlock {
  /** The new block's number in the filesystem and in the directory. */
  fsBlock: number;
  logical: number;
  /** The directory inode as it is now. */
  dir: Inode;
}

const refuse = (code: string, message: string) => new UnsupportedError(code, message, { hint: 'nothing was written' });

/** An empty directory block: one unused entry over all of it, then the checksum tail when there is one. */
export function emptyDirBlock(edits: BlockEdits, dir: Inode, block: Buffer): void {
  const { sb } = edits.vol;
  const csum = hasMetadataCsum(sb);
  block.fill(0);
  block.writeUInt16LE(block.length - (csum ? DIR_TAIL : 0), 4);
  if (!csum) return;
  const t = block.length - DIR_TAIL;
  block.writeUInt16LE(DIR_TAIL, t + 4);
  block[t + 7] = TAIL_FILE_TYPE;
  block.writeUInt32LE(crc32cUpdate(inodeCsumSeed(sb, dir.ino, dir.generation), block, 0, t) >>> 0, t + 8);
}

function readLeaf(node: Buffer, at: number): LeafExtent & { uninit: boolean } {
  const raw = node.readUInt16LE(at + 4);
  const uninit = raw > MAX_EXTENT;
  return { logical: node.readUInt32LE(at), length: uninit ? raw - MAX_EXTENT : raw, start: node.readUInt16LE(at + 6) * 0x100000000 + node.readUInt32LE(at + 8), uninit };
}

function checkHeader(node: Buffer, depth: number, where: string): { entries: number; max: number } {
  const entries = node.readUInt16LE(2);
  const max = node.readUInt16LE(4);
  if (node.readUInt16LE(0) !== EXTENT_MAGIC || node.readUInt16LE(6) !== depth || entries > max || 12 + max * 12 > node.length) {
    throw new CorruptError('BAD_EXTENT_HEADER', `the extent tree of ${where} is damaged`, { hint: 'run e2fsck on a copy of the card; nothing was written' });
  }
  return { entries, max };
}

/** The node holding the directory's last extent: the root, or the leaf under the root's last index entry. */
async function lastNode(edits: BlockEdits, dir: Inode, root: Buffer): Promise<{ node: Buffer; nodeBlock: number | null }> {
  const where = `directory inode ${dir.ino}`;
  const depth = root.readUInt16LE(6);
  if (depth > 1) throw refuse('DEEP_EXTENT_TREE', `${where} has an extent tree ${depth} levels deep; haos-rescue grows folders of at most one level so far`);
  const { entries } = checkHeader(root, depth, where);
  if (depth === 0) return { node: root, nodeBlock: null };
  if (entries === 0) throw new CorruptError('BAD_EXTENT_HEADER', `the extent tree of ${where} is damaged`, { hint: 'run e2fsck on a copy of the card; nothing was written' });
  const at = 12 + (entries - 1) * 12;
  const child = root.readUInt16LE(at + 8) * 0x100000000 + root.readUInt32LE(at + 4);
  if (child >= edits.vol.sb.blocksCount) throw new CorruptError('BAD_BLOCK_NUMBER', `${where} points at block ${child}, outside the filesystem`, { hint: 'nothing was written' });
  const node = await edits.block(child);
  checkHeader(node, 0, where);
  return { node, nodeBlock: child };
}

/**
 * The filesystem block of each block of directory `dir`, as this transaction has it (-1 for an unwritten
 * one). Extent trees are read through `edits`, so a folder grown earlier in the same transaction maps right.
 */
export async function dirBlockMap(edits: BlockEdits, dir: Inode): Promise<number[]> {
  const { sb } = edits.vol;
  const count = Math.floor(dir.sizeBytes / sb.blockSize);
  const out = new Array<number>(count).fill(-1);
  const put = (node: Buffer, entries: number): void => {
    for (let i = 0; i < entries; i++) {
      const e = readLeaf(node, 12 + i * 12);
      for (let k = 0; k < e.length && e.logical + k < count; k++) if (!e.uninit && e.start + k < sb.blocksCount) out[e.logical + k] = e.start + k;
    }
  };
  if ((dir.flags & InodeFlags.EXTENTS) === 0 || dir.raw.length < 100) {
    const runs = (await edits.vol.layout(dir)).runs ?? [];
    for (const r of runs) for (let k = 0; k < r.length && r.logical + k < count; k++) if (!r.uninit) out[r.logical + k] = r.physical + k;
    return out;
  }
  const root = Buffer.from(dir.raw.subarray(40, 100));
  const depth = root.readUInt16LE(6);
  if (depth > 1) throw refuse('DEEP_EXTENT_TREE', `directory inode ${dir.ino} has an extent tree ${depth} levels deep; haos-rescue edits folders of at most one level so far`);
  const { entries } = checkHeader(root, depth, `directory inode ${dir.ino}`);
  if (depth === 0) put(root, entries);
  for (let i = 0; depth === 1 && i < entries; i++) {
    const child = root.readUInt16LE(12 + i * 12 + 8) * 0x100000000 + root.readUInt32LE(12 + i * 12 + 4);
    if (child >= sb.blocksCount) throw new CorruptError('BAD_BLOCK_NUMBER', `directory inode ${dir.ino} points at block ${child}, outside the filesystem`, { hint: 'nothing was written' });
    const leaf = await edits.block(child);
    put(leaf, checkHeader(leaf, 0, `directory inode ${dir.ino}`).entries);
  }
  return out;
}

/** Puts extent `add` after the last one of the tree in `root`; returns the tree blocks it took (0 or 1). */
async function addExtent(edits: BlockEdits, dir: Inode, root: Buffer, add: LeafExtent): Promise<number> {
  const { sb } = edits.vol;
  const { node, nodeBlock } = await lastNode(edits, dir, root);
  const entries = node.readUInt16LE(2);
  const max = node.readUInt16LE(4);
  const last = entries > 0 ? readLeaf(node, 12 + (entries - 1) * 12) : null;
  let treeBlocks = 0;
  if (last && !last.uninit && last.logical + last.length === add.logical && last.start + last.length === add.start && last.length < MAX_EXTENT) {
    node.writeUInt16LE(last.length + 1, 12 + (entries - 1) * 12 + 4);
  } else if (entries < max) {
    writeLeafEntry(node, 12 + entries * 12, add);
    node.writeUInt16LE(entries + 1, 2);
  } else if (nodeBlock === null) {
    const [leafRange] = await allocateBlocks(edits, add.start, 1);
    const leaf = await edits.block(leafRange!.start);
    leaf.fill(0);
    const cap = blockCapacity(sb.blockSize);
    writeHeader(leaf, 0, entries + 1, cap, 0);
    root.copy(leaf, 12, 12, 12 + entries * 12);
    writeLeafEntry(leaf, 12 + entries * 12, add);
    sealTreeBlock(sb, dir.ino, dir.generation, leaf);
    root.fill(0, 12);
    writeHeader(root, 0, 1, 4, 1);
    writeIndexEntry(root, 12, 0, leafRange!.start);
    treeBlocks = 1;
  } else {
    throw refuse('DIRECTORY_TOO_FRAGMENTED', `directory inode ${dir.ino} is in too many pieces for haos-rescue to grow it`);
  }
  if (nodeBlock !== null) sealTreeBlock(sb, dir.ino, dir.generation, node);
  return treeBlocks;
}

/** Appends an empty block to directory `dirIno` (as this transaction has it); returns where it went. */
export async function appendDirBlock(edits: BlockEdits, dirIno: number): Promise<AppendedBlock> {
  const { sb } = edits.vol;
  const bs = sb.blockSize;
  const dir = await currentInode(edits, dirIno);
  if ((dir.flags & InodeFlags.EXTENTS) === 0) throw refuse('BLOCK_MAPPED_DIRECTORY', `directory inode ${dir.ino} uses the old block map (ext3); haos-rescue grows only extent-mapped folders`);
  if ((dir.flags & InodeFlags.HUGE_FILE) !== 0) throw refuse('HUGE_FILE_DIRECTORY', `directory inode ${dir.ino} counts its blocks in an unusual unit`);
  if (dir.sizeBytes % bs !== 0 || dir.sizeBytes === 0) throw new CorruptError('BAD_DIR_SIZE', `directory inode ${dir.ino} has size ${dir.sizeBytes}, not whole blocks`, { hint: 'run e2fsck on a copy of the card; nothing was written' });
  const logical = dir.sizeBytes / bs;
  const raw = Buffer.from(dir.raw.subarray(0, sb.inodeSize));
  const root = raw.subarray(40, 100);
  const { node } = await lastNode(edits, dir, root);
  const entries = node.readUInt16LE(2);
  const last = entries > 0 ? readLeaf(node, 12 + (entries - 1) * 12) : null;
  const group = Math.floor((dirIno - 1) / sb.inodesPerGroup);
  const goal = last ? last.start + last.length : sb.firstDataBlock + group * sb.blocksPerGroup;
  const [got] = await allocateBlocks(edits, goal, 1);
  const treeBlocks = await addExtent(edits, dir, root, { logical, start: got!.start, length: 1 });
  const size = dir.sizeBytes + bs;
  raw.writeUInt32LE(size % 0x100000000, 4);
  raw.writeUInt32LE(Math.floor(size / 0x100000000), 108);
  const sectors = raw.readUInt32LE(28) + raw.readUInt16LE(116) * 0x100000000 + ((1 + treeBlocks) * bs) / 512;
  raw.writeUInt32LE(sectors % 0x100000000, 28);
  raw.writeUInt16LE(Math.floor(sectors / 0x100000000), 116);
  if (hasMetadataCsum(sb)) setInodeChecksum(sb, dirIno, raw);
  await putInode(edits, dirIno, raw);
  const now = parseInode(raw, dirIno, sb.inodeSize);
  emptyDirBlock(edits, now, await edits.block(got!.start));
  return { fsBlock: got!.start, logical, dir: now };
}

// One more block at the end of a directory (kernel ext4_append): the block comes from near the
// directory's last one; the extent tree takes it (the last extent lengthened when the block follows it,
// else a new extent in the last leaf; a full leaf gets a new branch under the deepest index node with room,
// as ext4_ext_create_new_leaf does, and a tree full at every level grows a level first, as
// ext4_ext_grow_indepth does); a block-mapped (ext3) folder's map takes it, with any new mapping blocks
// before it (block-map-write.ts); i_size and i_blocks grow. The block starts as one empty entry over all
// of it, with the checksum tail under metadata_csum.

import { CorruptError, REPAIR, UnsupportedError } from '../errors.js';
import { allocateBlockList, allocateBlocks } from './alloc-block.js';
import { mapBlockMap } from './block-map.js';
import { mapLogical, missingMapBlocks } from './block-map-write.js';
import { crc32cUpdate } from './checksum.js';
import { BlockEdits, currentInode, putInode } from './create-file.js';
import { DIR_TAIL } from './dir-block.js';
import { groupFirstBlock } from './group-desc.js';
import { EXTENT_MAGIC, type LeafExtent, MAX_EXTENT, MAX_TREE_DEPTH, blockCapacity, sealTreeBlock, writeHeader, writeIndexEntry, writeLeafEntry } from './extent-write.js';
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
    throw new CorruptError('BAD_EXTENT_HEADER', `the extent tree of ${where} is damaged`, { ...REPAIR });
  }
  return { entries, max };
}

interface PathNode {
  node: Buffer;
  /** Its filesystem block; null for the root in the inode. */
  block: number | null;
  depth: number;
}

function childOf(node: Buffer, index: number): number {
  const at = 12 + index * 12;
  return node.readUInt16LE(at + 8) * 0x100000000 + node.readUInt32LE(at + 4);
}

async function treeBlock(edits: BlockEdits, block: number, depth: number, where: string): Promise<Buffer> {
  if (block >= edits.vol.sb.blocksCount || block < edits.vol.sb.firstDataBlock) throw new CorruptError('BAD_BLOCK_NUMBER', `${where} points at block ${block}, outside the filesystem`, { hint: 'nothing was written' });
  const node = await edits.block(block);
  checkHeader(node, depth, where);
  return node;
}

/** The depth the root in i_block claims, refused past the kernel's limit (a damaged tree). */
function rootDepth(root: Buffer, where: string): number {
  const depth = root.readUInt16LE(6);
  if (depth >= MAX_TREE_DEPTH) throw new CorruptError('BAD_EXTENT_HEADER', `the extent tree of ${where} is damaged (depth ${depth})`, { ...REPAIR });
  return depth;
}

/** The nodes from the root down to the leaf holding the directory's last extent (each checked). */
async function rightmostPath(edits: BlockEdits, dir: Inode, root: Buffer): Promise<PathNode[]> {
  const where = `directory inode ${dir.ino}`;
  const depth = rootDepth(root, where);
  const path: PathNode[] = [{ node: root, block: null, depth }];
  for (let d = depth; ; d--) {
    const { node } = path[path.length - 1]!;
    const { entries } = checkHeader(node, d, where);
    if (d === 0) return path;
    if (entries === 0) throw new CorruptError('BAD_EXTENT_HEADER', `the extent tree of ${where} is damaged`, { ...REPAIR });
    const block = childOf(node, entries - 1);
    path.push({ node: await treeBlock(edits, block, d - 1, where), block, depth: d - 1 });
  }
}

/**
 * The filesystem block of each block of directory `dir`, as this transaction has it (-1 for an unwritten
 * one). Extent trees are read through `edits`, so a folder grown earlier in the same transaction maps right.
 */
export async function dirBlockMap(edits: BlockEdits, dir: Inode): Promise<number[]> {
  const { sb } = edits.vol;
  const count = Math.floor(dir.sizeBytes / sb.blockSize);
  const out = new Array<number>(count).fill(-1);
  if ((dir.flags & InodeFlags.INLINE_DATA) !== 0 || dir.raw.length < 100) return out;
  if ((dir.flags & InodeFlags.EXTENTS) === 0) {
    const ctx = { ino: dir.ino, blockSize: sb.blockSize, blocksCount: sb.blocksCount, readBlock: (b: number) => edits.block(b) };
    for (const r of await mapBlockMap(dir.blockArea, count, edits.vol.allocatedBlocks(dir), ctx)) for (let k = 0; k < r.length && r.logical + k < count; k++) out[r.logical + k] = r.physical + k;
    return out;
  }
  const where = `directory inode ${dir.ino}`;
  const walk = async (node: Buffer, depth: number): Promise<void> => {
    const { entries } = checkHeader(node, depth, where);
    for (let i = 0; i < entries; i++) {
      if (depth > 0) {
        await walk(await treeBlock(edits, childOf(node, i), depth - 1, where), depth - 1);
        continue;
      }
      const e = readLeaf(node, 12 + i * 12);
      for (let k = 0; k < e.length && e.logical + k < count; k++) if (!e.uninit && e.start + k < sb.blocksCount) out[e.logical + k] = e.start + k;
    }
  };
  const root = Buffer.from(dir.raw.subarray(40, 100));
  await walk(root, rootDepth(root, where));
  return out;
}

/** The first logical block a tree node covers (its first entry's). */
const firstLogical = (node: Buffer): number => node.readUInt32LE(12);

/**
 * The root's entries move down into a new block and the root points at it, one level deeper
 * (ext4_ext_grow_indepth); `path` is changed to match. Returns the new block's path index (1).
 */
async function growInDepth(edits: BlockEdits, dir: Inode, path: PathNode[], goal: number): Promise<number> {
  const root = path[0]!;
  if (root.depth + 1 >= MAX_TREE_DEPTH) throw refuse('DIRECTORY_TOO_FRAGMENTED', `directory inode ${dir.ino} is in too many pieces for haos-rescue to grow it`);
  const { sb } = edits.vol;
  const [got] = await allocateBlocks(edits, goal, 1);
  const moved = await edits.block(got!.start);
  const entries = root.node.readUInt16LE(2);
  moved.fill(0);
  writeHeader(moved, 0, entries, blockCapacity(sb.blockSize), root.depth);
  root.node.copy(moved, 12, 12, 12 + entries * 12);
  root.node.fill(0, 12);
  writeHeader(root.node, 0, 1, 4, root.depth + 1);
  writeIndexEntry(root.node, 12, firstLogical(moved), got!.start);
  path.splice(0, 1, { node: root.node, block: null, depth: root.depth + 1 }, { node: moved, block: got!.start, depth: root.depth });
  return 1;
}

/** Below `parent` (an index node with room), a new branch of index blocks down to a new leaf holding `add`. */
async function newBranch(edits: BlockEdits, parent: PathNode, add: LeafExtent): Promise<PathNode[]> {
  const cap = blockCapacity(edits.vol.sb.blockSize);
  const blocks = await allocateBlockList(edits, add.start, parent.depth);
  const made: PathNode[] = [];
  for (let d = 0; d < parent.depth; d++) {
    const node = await edits.block(blocks[d]!);
    node.fill(0);
    writeHeader(node, 0, 1, cap, d);
    if (d === 0) writeLeafEntry(node, 12, add);
    else writeIndexEntry(node, 12, add.logical, blocks[d - 1]!);
    made.push({ node, block: blocks[d]!, depth: d });
  }
  const entries = parent.node.readUInt16LE(2);
  writeIndexEntry(parent.node, 12 + entries * 12, add.logical, blocks[parent.depth - 1]!);
  parent.node.writeUInt16LE(entries + 1, 2);
  return made;
}

/**
 * Puts extent `add` after the last one of the tree whose rightmost path is `path` (root first; changed when
 * the tree grows a level), as the kernel's append does: the last extent
 * lengthened, or a new entry in the last leaf; a full leaf gets a new branch under the deepest index node
 * with room, and a tree full at every level grows one level first. Returns the tree blocks it took.
 */
async function addExtent(edits: BlockEdits, dir: Inode, path: PathNode[], add: LeafExtent): Promise<number> {
  const { sb } = edits.vol;
  const touched = new Set<PathNode>();
  const leaf = path[path.length - 1]!;
  const entries = leaf.node.readUInt16LE(2);
  const last = entries > 0 ? readLeaf(leaf.node, 12 + (entries - 1) * 12) : null;
  let treeBlocks = 0;
  if (last && !last.uninit && last.logical + last.length === add.logical && last.start + last.length === add.start && last.length < MAX_EXTENT) {
    leaf.node.writeUInt16LE(last.length + 1, 12 + (entries - 1) * 12 + 4);
    touched.add(leaf);
  } else {
    let k = path.length - 1;
    while (k >= 0 && path[k]!.node.readUInt16LE(2) >= path[k]!.node.readUInt16LE(4)) k--;
    if (k < 0) {
      k = await growInDepth(edits, dir, path, add.start);
      treeBlocks++;
      touched.add(path[k]!);
    }
    const at = path[k]!;
    if (at.depth === 0) {
      const n = at.node.readUInt16LE(2);
      writeLeafEntry(at.node, 12 + n * 12, add);
      at.node.writeUInt16LE(n + 1, 2);
    } else {
      for (const made of await newBranch(edits, at, add)) touched.add(made);
      treeBlocks += at.depth;
    }
    touched.add(at);
  }
  for (const p of touched) if (p.block !== null) sealTreeBlock(sb, dir.ino, dir.generation, p.node);
  return treeBlocks;
}

/**
 * Appends an empty block to directory `dirIno` (as this transaction has it); returns where it went.
 * `first`: the folder has no block yet (an inline folder being turned into a block folder).
 */
export async function appendDirBlock(edits: BlockEdits, dirIno: number, first = false): Promise<AppendedBlock> {
  const { sb } = edits.vol;
  const bs = sb.blockSize;
  const dir = await currentInode(edits, dirIno);
  if ((dir.flags & InodeFlags.HUGE_FILE) !== 0) throw refuse('HUGE_FILE_DIRECTORY', `directory inode ${dir.ino} counts its blocks in an unusual unit`);
  if (dir.sizeBytes % bs !== 0 || (dir.sizeBytes === 0) !== first) throw new CorruptError('BAD_DIR_SIZE', `directory inode ${dir.ino} has size ${dir.sizeBytes}, not whole blocks`, { ...REPAIR });
  const logical = dir.sizeBytes / bs;
  const raw = Buffer.from(dir.raw.subarray(0, sb.inodeSize));
  const { fsBlock, mapBlocks } = (dir.flags & InodeFlags.EXTENTS) !== 0 ? await appendToExtents(edits, dir, raw, logical) : await appendToBlockMap(edits, dir, raw, logical);
  const size = dir.sizeBytes + bs;
  raw.writeUInt32LE(size % 0x100000000, 4);
  raw.writeUInt32LE(Math.floor(size / 0x100000000), 108);
  const sectors = raw.readUInt32LE(28) + raw.readUInt16LE(116) * 0x100000000 + ((1 + mapBlocks) * bs) / 512;
  raw.writeUInt32LE(sectors % 0x100000000, 28);
  raw.writeUInt16LE(Math.floor(sectors / 0x100000000), 116);
  if (hasMetadataCsum(sb)) setInodeChecksum(sb, dirIno, raw);
  await putInode(edits, dirIno, raw);
  const now = parseInode(raw, dirIno, sb.inodeSize);
  emptyDirBlock(edits, now, await edits.block(fsBlock));
  return { fsBlock, logical, dir: now };
}

/** The first block of the group holding inode `ino` (the goal of a folder's first block). */
const groupStart = (edits: BlockEdits, ino: number): number => {
  const { sb } = edits.vol;
  return groupFirstBlock(sb, Math.floor((ino - 1) / sb.inodesPerGroup));
};

/** A block after the last one of extent-mapped `dir`, in its tree inside `raw`; the tree blocks it took. */
async function appendToExtents(edits: BlockEdits, dir: Inode, raw: Buffer, logical: number): Promise<{ fsBlock: number; mapBlocks: number }> {
  const path = await rightmostPath(edits, dir, raw.subarray(40, 100));
  const { node } = path[path.length - 1]!;
  const entries = node.readUInt16LE(2);
  const last = entries > 0 ? readLeaf(node, 12 + (entries - 1) * 12) : null;
  const [got] = await allocateBlocks(edits, last ? last.start + last.length : groupStart(edits, dir.ino), 1);
  const mapBlocks = await addExtent(edits, dir, path, { logical, start: got!.start, length: 1 });
  return { fsBlock: got!.start, mapBlocks };
}

/**
 * A block after the last one of block-mapped `dir` (ext2/ext3), in its map inside `raw`, with the
 * mapping blocks it needs taken first from the same allocation (ext4_alloc_branch); their count.
 */
async function appendToBlockMap(edits: BlockEdits, dir: Inode, raw: Buffer, logical: number): Promise<{ fsBlock: number; mapBlocks: number }> {
  const root = raw.subarray(40, 100);
  const mapBlocks = await missingMapBlocks(edits, dir.ino, root, logical);
  const previous = logical > 0 ? (await dirBlockMap(edits, dir))[logical - 1]! : -1;
  const blocks = await allocateBlockList(edits, previous > 0 ? previous + 1 : groupStart(edits, dir.ino), mapBlocks + 1);
  if (blocks.some((b) => b > 0xffffffff)) throw refuse('BLOCK_BEYOND_MAP', `the free blocks lie beyond what the block map of directory inode ${dir.ino} can point at`);
  let next = 0;
  const fsBlock = await mapLogical(edits, dir.ino, root, logical, () => blocks[next++]!);
  return { fsBlock, mapBlocks };
}

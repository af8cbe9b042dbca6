// Extent trees (kernel Documentation/filesystems/ext4/ifork.rst): a 12-byte header (magic 0xF30A), then
// 12-byte index entries (depth > 0) or leaf extents (depth 0). The root lives in i_block; deeper nodes in
// their own blocks, which end in a 4-byte checksum tail under metadata_csum. mapExtents flattens a tree into
// a sorted list of runs, validating every node: magic, entry counts, depth going down by one, logical order,
// physical blocks within the filesystem. Uninitialised extents read as zeros.

import { FieldReader } from '../bytes.js';
import { CorruptError } from '../errors.js';
import { CHECKSUM_HINT, crc32cUpdate } from './checksum.js';

export interface Extent {
  /** First logical block of the file covered by this run. */
  logical: number;
  /** First physical block, or 0 for a hole. */
  physical: number;
  length: number;
  /** Preallocated but never written: reads as zeros. */
  uninit: boolean;
}

const EXTENT_MAGIC = 0xf30a;
const MAX_DEPTH = 5;
const INIT_MAX_LEN = 32768;

interface Header {
  entries: number;
  max: number;
  depth: number;
}

function parseHeader(r: FieldReader, ino: number, capacity: number): Header {
  const magic = r.u16(0);
  if (magic !== EXTENT_MAGIC) {
    throw new CorruptError('BAD_EXTENT_HEADER', `corrupt extent header in inode ${ino}: bad magic 0x${magic.toString(16).padStart(4, '0')}`, {
      details: { ino, magic },
    });
  }
  const h = { entries: r.u16(2), max: r.u16(4), depth: r.u16(6) };
  if (h.max > capacity || h.entries > h.max) {
    throw new CorruptError('BAD_EXTENT_HEADER', `corrupt extent header in inode ${ino}: ${h.entries} entries, max ${h.max}, room for ${capacity}`, {
      details: { ino, ...h, capacity },
    });
  }
  if (h.depth > MAX_DEPTH) {
    throw new CorruptError('BAD_EXTENT_HEADER', `corrupt extent header in inode ${ino}: depth ${h.depth} is more than ${MAX_DEPTH}`, { details: { ino, depth: h.depth } });
  }
  return h;
}

export interface ExtentContext {
  ino: number;
  blockSize: number;
  blocksCount: number;
  readBlock(blockNumber: number): Promise<Uint8Array>;
  /** The inode's checksum seed (inodeCsumSeed) under metadata_csum: tree blocks are then verified. */
  csumSeed?: number | null;
  /** When given, receives the block numbers of the tree's index and leaf blocks (the writer frees them). */
  treeBlocks?: number[];
  /** The shared_blocks feature (deduplicated images, e2fsdroid): blocks may be used more than once. */
  sharedBlocks?: boolean;
}

/** Flattens the extent tree rooted in `root` (i_block) into runs sorted by logical block. */
export async function mapExtents(root: Uint8Array, ctx: ExtentContext): Promise<Extent[]> {
  const out: Extent[] = [];
  await walkNode(root, ctx, -1, out, { budget: 1_000_000 });
  if (!ctx.sharedBlocks) assertNoSharedBlocks(out, ctx.ino);
  return out;
}

/**
 * ext4 gives one block to two places of a file only with shared_blocks (a read-only, deduplicated image; no
 * reflink otherwise): without that feature a map whose runs overlap on disk is
 * damaged, and a crafted one made a 10 KB login file 254 MiB of repeated blocks (the JSON parser ran out of
 * memory) or a folder 22 million entries. Holes and blocks never written (physical 0) are not blocks.
 */
export function assertNoSharedBlocks(runs: Extent[], ino: number): void {
  if (runs.length < 2) return;
  const byPhysical = runs.filter((e) => e.physical !== 0).sort((a, b) => a.physical - b.physical);
  for (let i = 1; i < byPhysical.length; i++) {
    const prev = byPhysical[i - 1]!;
    const cur = byPhysical[i]!;
    if (cur.physical < prev.physical + prev.length) {
      throw new CorruptError('SHARED_FILE_BLOCKS', `corrupt block map of inode ${ino}: block ${cur.physical} belongs to two places of the file`, {
        details: { ino, block: cur.physical, logicalA: prev.logical, logicalB: cur.logical },
      });
    }
  }
}

async function walkNode(node: Uint8Array, ctx: ExtentContext, expectedDepth: number, out: Extent[], state: { budget: number }): Promise<void> {
  const r = new FieldReader(node, `extent node of inode ${ctx.ino}`);
  const capacity = Math.floor((node.length - 12) / 12);
  const h = parseHeader(r, ctx.ino, capacity);
  if (expectedDepth >= 0 && h.depth !== expectedDepth) {
    throw new CorruptError('BAD_EXTENT_DEPTH', `corrupt extent tree in inode ${ctx.ino}: node at depth ${h.depth}, expected ${expectedDepth}`, {
      details: { ino: ctx.ino, depth: h.depth, expectedDepth },
    });
  }
  state.budget -= h.entries;
  if (state.budget < 0) throw new CorruptError('EXTENT_TREE_TOO_LARGE', `extent tree of inode ${ctx.ino} is impossibly large`);
  for (let i = 0; i < h.entries; i++) {
    const at = 12 + i * 12;
    if (h.depth === 0) {
      pushLeaf(r, at, ctx, out);
    } else {
      const leaf = r.u16(at + 8) * 0x100000000 + r.u32(at + 4);
      checkPhysical(ctx, leaf, 1, 'index');
      ctx.treeBlocks?.push(leaf);
      const child = await ctx.readBlock(leaf);
      verifyTail(child, ctx, leaf);
      const before = out.length;
      await walkNode(child, ctx, h.depth - 1, out, state);
      const first = out[before];
      if (first && first.logical < r.u32(at)) {
        throw new CorruptError('BAD_EXTENT_ORDER', `corrupt extent tree in inode ${ctx.ino}: child starts at ${first.logical}, before its index key ${r.u32(at)}`);
      }
    }
  }
}

/**
 * A tree block ends, after eh_max entries, in a 4-byte crc32c of everything before it (kernel
 * ext4_extent_block_csum_verify). A block that fails it is refused, as the kernel refuses it (EFSBADCRC).
 */
function verifyTail(block: Uint8Array, ctx: ExtentContext, blockNumber: number): void {
  if (ctx.csumSeed === undefined || ctx.csumSeed === null) return;
  const max = block.length >= 6 ? block[4]! | (block[5]! << 8) : 0;
  const tail = 12 + 12 * max;
  if (tail + 4 > block.length) return; // parseHeader reports the impossible eh_max
  const stored = (block[tail]! | (block[tail + 1]! << 8) | (block[tail + 2]! << 16) | (block[tail + 3]! << 24)) >>> 0;
  if ((crc32cUpdate(ctx.csumSeed, block, 0, tail) >>> 0) !== stored) {
    throw new CorruptError('BAD_EXTENT_CHECKSUM', `corrupt extent tree in inode ${ctx.ino}: block ${blockNumber} fails its checksum`, {
      hint: CHECKSUM_HINT,
      remedy: 'check-at-start',
      details: { ino: ctx.ino, block: blockNumber },
    });
  }
}

function pushLeaf(r: FieldReader, at: number, ctx: ExtentContext, out: Extent[]): void {
  const logical = r.u32(at);
  let length = r.u16(at + 4);
  const uninit = length > INIT_MAX_LEN;
  if (uninit) length -= INIT_MAX_LEN;
  const physical = r.u16(at + 6) * 0x100000000 + r.u32(at + 8);
  // The kernel's ext4_valid_extent: no zero length, no wrap past the last logical block. Skipped, a length of
  // 0 read the file's bytes there as a hole (zeros, exit 0) where the kernel refuses the file.
  if (length === 0 || logical + length > 2 ** 32) {
    throw new CorruptError('BAD_EXTENT_LENGTH', `corrupt extent in inode ${ctx.ino}: ${length === 0 ? `the extent at logical block ${logical} has length 0` : `the extent at logical block ${logical} runs past the last block a file can have`}`, {
      details: { ino: ctx.ino, logical, length },
    });
  }
  checkPhysical(ctx, physical, length, 'leaf');
  const prev = out[out.length - 1];
  if (prev && logical < prev.logical + prev.length) {
    throw new CorruptError('BAD_EXTENT_ORDER', `corrupt extent tree in inode ${ctx.ino}: extent at logical block ${logical} overlaps the previous one`, {
      details: { ino: ctx.ino, logical, previousEnd: prev.logical + prev.length },
    });
  }
  out.push({ logical, physical, length, uninit });
}

function checkPhysical(ctx: ExtentContext, block: number, length: number, what: string): void {
  if (block === 0 || block + length > ctx.blocksCount) {
    throw new CorruptError('BAD_EXTENT_BLOCK', `corrupt extent ${what} in inode ${ctx.ino}: blocks ${block}..${block + length - 1} are outside the filesystem (${ctx.blocksCount} blocks)`, {
      details: { ino: ctx.ino, block, length, blocksCount: ctx.blocksCount },
    });
  }
}

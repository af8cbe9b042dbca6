// LVM thin volumes (Proxmox's default "LVM-Thin" storage keeps each virtual machine's disk in one): the pool's
// metadata volume (_tmeta) holds, in the kernel's dm-thin format (drivers/md/dm-thin-metadata.c, the
// persistent-data btrees), for each thin device the chunks of the pool's data volume (_tdata) that hold its
// chunks; a chunk never written is in none and reads as zeros. Read here: the superblock, then the two-level
// mapping btree (thin device id, then virtual chunk → data chunk), each block checked against its checksum,
// every field bounded. The result is the volume's runs of chunks.

import type { BlockDevice } from '../device/block-device.js';
import { type Piece, placedDevice, subPieces } from '../device/pieces-device.js';
import { AppError } from '../errors.js';
import { crc32cUpdate } from '../ext4/checksum.js';
import { lvmDamaged } from './lvm-text.js';
import type { LogicalVolume } from './lvm.js';

const META_BLOCK = 4096;
const THIN_MAGIC = 27022010n;
const SUPERBLOCK_CSUM_XOR = 160774;
const BTREE_CSUM_XOR = 121107;
const NODE_HEADER = 32;
const INTERNAL_NODE = 1;
const LEAF_NODE = 2;
const MAX_DEPTH = 16;

/** A run of the thin volume's chunks that lie one after another in the pool's data volume. */
export interface ThinRun {
  /** First chunk of the volume. */
  virtual: number;
  /** Its chunk in the data volume. */
  data: number;
  /** Chunks. */
  length: number;
}

export interface ThinMap {
  /** Bytes per chunk (the pool's chunk_size). */
  chunkBytes: number;
  runs: ThinRun[];
}

const bad = (what: string) => lvmDamaged(`its thin pool's metadata: ${what}`);

/** Why a thin volume is read but never written here. */
export const THIN_READ_ONLY = 'it is a thin volume: its chunks may be shared with snapshots, and a write may need new chunks of its pool, which haos-rescue does not allocate';

/** A thin volume as LVM's text describes it (lvm.ts): its pool's metadata and data volumes by name. */
export interface ThinRequest {
  vg: string;
  name: string;
  sizeBytes: number;
  deviceId: number;
  pool: { metadata: string; data: string; chunkSectors: number } | null;
  /** A snapshot: the volume it was taken of. */
  snapshotOf?: string;
}

/**
 * The thin volume `req` as pieces of the device: its chunks where the pool's data volume holds them, zeros
 * where it holds none; or why it cannot be read. `linear`: the volume group's linear volumes (hidden ones too).
 */
export async function thinVolume(device: BlockDevice, req: ThinRequest, linear: Map<string, LogicalVolume>): Promise<LogicalVolume | string> {
  const meta = req.pool === null ? undefined : linear.get(req.pool.metadata);
  const data = req.pool === null ? undefined : linear.get(req.pool.data);
  if (req.pool === null || meta === undefined || data === undefined) return 'its thin pool lies (partly) on another disk, or is not described';
  const chunkBytes = req.pool.chunkSectors * 512;
  if (chunkBytes === 0 || req.sizeBytes === 0) return 'its size or its pool\'s chunk size is 0';
  const chunks = Math.ceil(req.sizeBytes / chunkBytes);
  let map: ThinMap;
  try {
    map = await readThinMap(placedDevice(device, meta, `thin pool metadata ${req.vg}/${req.pool.metadata}`), req.deviceId, chunks, req.pool.chunkSectors);
  } catch (err) {
    // Damaged, or unreadable (a bad sector of the card): this volume alone is not read.
    if (err instanceof AppError) return err.message;
    throw err;
  }
  const pieces: Piece[] = [];
  const add = (p: Piece): void => {
    const last = pieces[pieces.length - 1];
    if (last !== undefined && last.zero === p.zero && (p.zero || last.byteOffset + last.sizeBytes === p.byteOffset)) last.sizeBytes += p.sizeBytes;
    else pieces.push({ ...p });
  };
  let at = 0;
  for (const r of map.runs) {
    if (r.virtual > at) add({ byteOffset: 0, sizeBytes: (r.virtual - at) * chunkBytes, zero: true });
    if ((r.data + r.length) * chunkBytes > data.sizeBytes) return `its chunk ${r.virtual} lies past the end of its pool's data volume (damaged metadata)`;
    for (const p of subPieces(data, r.data * chunkBytes, (r.data + r.length) * chunkBytes)) add(p);
    at = r.virtual + r.length;
  }
  if (at < chunks) add({ byteOffset: 0, sizeBytes: (chunks - at) * chunkBytes, zero: true });
  // The last chunk may run past the volume's end.
  const over = chunks * chunkBytes - req.sizeBytes;
  if (over > 0) pieces[pieces.length - 1]!.sizeBytes -= over;
  if (pieces[pieces.length - 1]!.sizeBytes <= 0) pieces.pop();
  const first = pieces.find((p) => !p.zero)?.byteOffset ?? data.byteOffset;
  return { vg: req.vg, name: req.name, byteOffset: first, sizeBytes: req.sizeBytes, pieces, readOnly: THIN_READ_ONLY, ...(req.snapshotOf ? { snapshotOf: req.snapshotOf } : {}) };
}

/**
 * The chunks of thin device `deviceId` in the pool whose metadata volume is `meta`, up to `chunks` (the
 * volume's size in chunks: a mapping past it is damage). `chunkSectors`: the chunk size LVM's text gives.
 */
export async function readThinMap(meta: BlockDevice, deviceId: number, chunks: number, chunkSectors: number): Promise<ThinMap> {
  const blocks = Math.floor(meta.sizeBytes / META_BLOCK);
  const block = async (n: number, xor: number, what: string): Promise<Buffer> => {
    if (!Number.isSafeInteger(n) || n < 0 || n >= blocks) throw bad(`${what} at block ${n} lies outside its ${blocks} blocks`);
    const b = await meta.read(n * META_BLOCK, META_BLOCK);
    if (((crc32cUpdate(0xffffffff, b, 4) ^ xor) >>> 0) !== b.readUInt32LE(0)) throw bad(`${what} (block ${n}) does not match its checksum`);
    return b;
  };
  const sb = await block(0, SUPERBLOCK_CSUM_XOR, 'the superblock');
  if (sb.readBigUInt64LE(32) !== THIN_MAGIC) throw bad('its superblock has no thin-pool magic number');
  if (sb.readUInt32LE(340) !== META_BLOCK / 512) throw bad(`its metadata block size is ${sb.readUInt32LE(340)} sectors (8 expected)`);
  const dataBlockSectors = sb.readUInt32LE(336);
  if (dataBlockSectors !== chunkSectors || dataBlockSectors === 0) throw bad(`its chunk size, ${dataBlockSectors} sectors, is not the ${chunkSectors} LVM gives`);
  const root = await lookup(block, Number(sb.readBigUInt64LE(320)), deviceId);
  if (root === null) throw bad(`it has no thin device ${deviceId}`);
  const runs: ThinRun[] = [];
  // A node is read once in a sound tree, and each leaf maps a chunk at least: more reads are a loop.
  const budget = { nodes: chunks + 1024 };
  await walk(block, Number(root), 0, budget, (key, value) => {
    const virtual = Number(key);
    const data = Number(value >> 24n);
    if (virtual >= chunks) throw bad(`thin device ${deviceId} maps chunk ${virtual}, past its ${chunks} chunks`);
    const last = runs[runs.length - 1];
    if (last !== undefined && virtual <= last.virtual + last.length - 1) throw bad(`thin device ${deviceId} maps chunk ${virtual} twice or out of order`);
    if (last !== undefined && last.virtual + last.length === virtual && last.data + last.length === data) last.length += 1;
    else runs.push({ virtual, data, length: 1 });
  });
  return { chunkBytes: dataBlockSectors * 512, runs };
}

type ReadBlock = (n: number, xor: number, what: string) => Promise<Buffer>;

interface Node {
  leaf: boolean;
  count: number;
  key(i: number): bigint;
  value(i: number): bigint;
}

async function nodeAt(block: ReadBlock, n: number): Promise<Node> {
  const b = await block(n, BTREE_CSUM_XOR, 'a btree node');
  const flags = b.readUInt32LE(4);
  const count = b.readUInt32LE(16);
  const max = b.readUInt32LE(20);
  const valueSize = b.readUInt32LE(24);
  if (flags !== INTERNAL_NODE && flags !== LEAF_NODE) throw bad(`btree node ${n} is neither internal nor a leaf (flags ${flags})`);
  if (valueSize !== 8 || count > max || NODE_HEADER + max * (8 + valueSize) > META_BLOCK) throw bad(`btree node ${n} has ${count} of ${max} entries of ${valueSize} bytes: more than its block holds`);
  return {
    leaf: flags === LEAF_NODE,
    count,
    key: (i) => b.readBigUInt64LE(NODE_HEADER + 8 * i),
    value: (i) => b.readBigUInt64LE(NODE_HEADER + 8 * max + 8 * i),
  };
}

/** The value of `key` in the btree at `root`, or null. */
async function lookup(block: ReadBlock, root: number, key: number): Promise<bigint | null> {
  let n = root;
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    const node = await nodeAt(block, n);
    let i = -1;
    while (i + 1 < node.count && node.key(i + 1) <= BigInt(key)) i++;
    if (node.leaf) return i >= 0 && node.key(i) === BigInt(key) ? node.value(i) : null;
    if (i < 0) return null;
    n = Number(node.value(i));
  }
  throw bad(`its btree is deeper than ${MAX_DEPTH} levels (a loop?)`);
}

/** Every (key, value) of the btree at `root`, in key order. */
async function walk(block: ReadBlock, root: number, depth: number, budget: { nodes: number }, each: (key: bigint, value: bigint) => void): Promise<void> {
  if (depth >= MAX_DEPTH || --budget.nodes < 0) throw bad('its btree has more nodes or levels than its mappings need (a loop?)');
  const node = await nodeAt(block, root);
  for (let i = 0; i < node.count; i++) {
    if (node.leaf) each(node.key(i), node.value(i));
    else await walk(block, Number(node.value(i)), depth + 1, budget, each);
  }
}

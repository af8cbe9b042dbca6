// Growing the qcow2 refcount table (QEMU block/qcow2-refcount.c, alloc_refcount_block "grow the refcount
// table" and qcow2_refcount_area; spec: QEMU docs/interop/qcow2.txt, "Host cluster management"). When a
// cluster needs a refcount block whose index is past the end of the table, the new block is written at
// that cluster (counting itself) without being hooked up; then, from the start of the next refcount
// block's range, a self-covering area is written at the end of the file: the refcount blocks it needs,
// then a new table 50 % larger than necessary holding the old entries, the new block and the area's
// blocks. The header switches to it with one 12-byte write, and only then the old table's clusters are
// freed (by the caller, which owns the counts).
//
// Crash safety: until the header write, everything new lies past the old table's reach, where clusters
// are uncounted and unreferenced (free space, not even a leak). After it, the old table's clusters are
// counted but unreferenced: leaked, until freed.

import { InternalError, UnsupportedError } from '../../errors.js';
import { DiskFileUnsupportedError } from './unsupported.js';
import type { BlockDevice } from '../block-device.js';

/** QEMU's QCOW_MAX_REFTABLE_SIZE (block/qcow2.h): it refuses to open an image with a larger table. */
export const MAX_REFCOUNT_TABLE_BYTES = 8 * 1024 * 1024;

/** Where a self-covering refcount area goes and what it holds (all offsets in bytes). */
export interface RefcountArea {
  /** Index in the new table of the area's first refcount block. */
  areaIndex: number;
  /** Refcount blocks the new table lists (indexes 0 .. blockCount - 1 may be set). */
  blockCount: number;
  tableEntries: number;
  tableClusters: number;
  /** The area's refcount blocks, one cluster each, from here. */
  blocksOffset: number;
  tableOffset: number;
  /** First byte after the area. */
  endOffset: number;
}

/**
 * qcow2_refcount_metadata_size with generous_increase: the refcount blocks needed to count `clusters`
 * clusters plus the blocks and table themselves, with room for a table half as large again.
 */
export function refcountBlocksNeeded(clusters: number, perBlock: number, entriesPerCluster: number): number {
  let counted = clusters;
  let generous = true;
  let table = 0;
  let blocks = 0;
  let n = 0;
  let last: number;
  do {
    last = n;
    blocks = Math.ceil((counted + table + blocks) / perBlock);
    table = Math.ceil(blocks / entriesPerCluster);
    n = counted + blocks + table;
    if (n === last && generous) {
      counted += Math.ceil(table / 2);
      n = 0;
      generous = false;
    }
  } while (n !== last);
  return blocks;
}

/** qcow2_refcount_area's layout for an area starting at cluster `startCluster` (a block range's start). */
export function planRefcountArea(startCluster: number, clusterSize: number): RefcountArea {
  const perBlock = clusterSize / 2;
  const entriesPerCluster = clusterSize / 8;
  const blockCount = refcountBlocksNeeded(startCluster, perBlock, entriesPerCluster);
  const areaIndex = startCluster / perBlock;
  const tableEntries = Math.ceil((blockCount + Math.ceil(blockCount / 2)) / entriesPerCluster) * entriesPerCluster;
  const tableClusters = tableEntries / entriesPerCluster;
  const blocksOffset = startCluster * clusterSize;
  const tableOffset = blocksOffset + (blockCount - areaIndex) * clusterSize;
  const endOffset = tableOffset + tableClusters * clusterSize;
  if (!Number.isInteger(areaIndex) || blockCount <= areaIndex || endOffset / clusterSize > blockCount * perBlock) {
    throw new InternalError('QCOW2_REFCOUNT_AREA', `qcow2 refcount area at cluster ${startCluster} does not cover itself`);
  }
  return { areaIndex, blockCount, tableEntries, tableClusters, blocksOffset, tableOffset, endOffset };
}

export function tableTooLarge(area: RefcountArea, clusterSize: number, path: string, cluster: number): UnsupportedError {
  return new DiskFileUnsupportedError(
    'QCOW2_REFCOUNT_TABLE_FULL',
    `${path}: host cluster ${cluster} would need a qcow2 refcount table of ${area.tableClusters * clusterSize} bytes, above QEMU's limit of ${MAX_REFCOUNT_TABLE_BYTES}`,
    {
      hint: `make a raw copy with qemu-img convert -O raw "${path}" disk.img, run the command on disk.img, and convert it back with qemu-img convert -O qcow2`,
      details: { cluster, tableBytes: area.tableClusters * clusterSize },
    },
  );
}

export interface GrownTable {
  table: Buffer;
  /** The area's refcount blocks by table index, as written. */
  blocks: Map<number, Buffer>;
}

/**
 * Writes the area's refcount blocks (flush), the new table (flush), then refcount_table_offset and
 * refcount_table_clusters in one header write (flush). `oldTable` is copied into the new table, with
 * `newBlockOffset` (already written, counting itself) at `newBlockIndex`.
 */
export async function writeRefcountArea(
  file: BlockDevice,
  area: RefcountArea,
  oldTable: Buffer,
  newBlockIndex: number,
  newBlockOffset: number,
  clusterSize: number,
): Promise<GrownTable> {
  const perBlock = clusterSize / 2;
  const table = Buffer.alloc(area.tableClusters * clusterSize);
  oldTable.copy(table, 0, 0, Math.min(oldTable.length, table.length));
  writeOffset(table, newBlockIndex * 8, newBlockOffset);
  const blockBytes = Buffer.alloc((area.blockCount - area.areaIndex) * clusterSize);
  const blocks = new Map<number, Buffer>();
  for (let i = area.areaIndex; i < area.blockCount; i++) {
    const at = (i - area.areaIndex) * clusterSize;
    writeOffset(table, i * 8, area.blocksOffset + at);
    blocks.set(i, blockBytes.subarray(at, at + clusterSize));
  }
  // Every cluster of the area counts 1, in the area's own blocks.
  for (let cluster = area.blocksOffset / clusterSize; cluster < area.endOffset / clusterSize; cluster++) {
    blocks.get(Math.floor(cluster / perBlock))!.writeUInt16BE(1, (cluster % perBlock) * 2);
  }
  await file.write(area.blocksOffset, blockBytes);
  await file.flush();
  await file.write(area.tableOffset, table);
  await file.flush();
  const header = Buffer.alloc(12);
  writeOffset(header, 0, area.tableOffset); // refcount_table_offset
  header.writeUInt32BE(area.tableClusters, 8); // refcount_table_clusters
  await file.write(48, header);
  await file.flush();
  return { table, blocks };
}

function writeOffset(bytes: Buffer, at: number, offset: number): void {
  bytes.writeUInt32BE(Math.floor(offset / 2 ** 32), at);
  bytes.writeUInt32BE(offset % 2 ** 32, at + 4);
}

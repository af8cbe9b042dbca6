// qcow2 reference counts for the writer (QEMU docs/interop/qcow2.txt, "Host cluster management"): a
// refcount table (refcount_table_offset, refcount_table_clusters) of u64 offsets of refcount blocks, each
// block one cluster of 16-bit big-endian counts (refcount_order 4, the only width written here). Cluster
// n's count is in block n / (cluster_size / 2), entry n % (cluster_size / 2); a missing block means 0.
//
// Allocation follows block/qcow2-refcount.c: the first cluster whose count is 0, scanning forward from a
// hint that starts at 0 (alloc_clusters_noref), so a clean image grows at its end. A cluster whose block
// does not exist yet gets a new block that describes itself (alloc_refcount_block: the block is placed at
// that very cluster, counts itself 1, is written and flushed before the table entry points at it). The
// table is never grown or moved: when it has no room the write is refused before anything is written.

import { UnsupportedError } from '../../errors.js';
import type { BlockDevice } from '../block-device.js';
import { corrupt, readU64 } from './qcow2-header.js';

/** Refcount fields of the header that the reader does not keep (spec "Header", bytes 48-59 and 96-99). */
export interface RefcountLayout {
  tableOffset: number; // refcount_table_offset
  tableClusters: number; // refcount_table_clusters
  order: number; // refcount_order (4 for version 2)
}

export function parseRefcountLayout(head: Buffer, version: 2 | 3, path: string): RefcountLayout {
  return {
    tableOffset: readU64(head, 48, 'refcount_table_offset', path),
    tableClusters: head.readUInt32BE(56),
    order: version === 3 ? head.readUInt32BE(96) : 4,
  };
}

/** Bits 9-63 of a refcount table entry (bits 0-8 are reserved and must be 0). */
function tableEntryOffset(table: Buffer, index: number): number {
  return table.readUInt32BE(index * 8) * 2 ** 32 + ((table.readUInt32BE(index * 8 + 4) & 0xfffffe00) >>> 0);
}

export class Qcow2Refcounts {
  /** Counts per refcount block. */
  readonly perBlock: number;
  private readonly blocks = new Map<number, Buffer>();
  /** Next cluster index to look at for a free cluster (QEMU's free_cluster_index). */
  private freeHint = 0;

  private constructor(
    private readonly file: BlockDevice,
    private readonly layout: RefcountLayout,
    private readonly table: Buffer,
    private readonly clusterSize: number,
    private readonly path: string,
  ) {
    this.perBlock = clusterSize / 2;
  }

  static async open(file: BlockDevice, layout: RefcountLayout, clusterSize: number, path: string): Promise<Qcow2Refcounts> {
    const { tableOffset, tableClusters } = layout;
    const bytes = tableClusters * clusterSize;
    if (tableClusters === 0 || tableOffset % clusterSize !== 0 || tableOffset + bytes > file.sizeBytes) {
      throw corrupt('QCOW2_BAD_REFCOUNT', `corrupt qcow2 header in ${path}: the refcount table (${tableClusters} clusters at byte ${tableOffset}) is not inside the file`, {
        tableOffset,
        tableClusters,
      });
    }
    return new Qcow2Refcounts(file, layout, await file.read(tableOffset, bytes), clusterSize, path);
  }

  get tableEntries(): number {
    return this.table.length / 8;
  }

  /** The count of host cluster `cluster` (an index, not a byte offset). */
  async get(cluster: number): Promise<number> {
    const block = await this.block(Math.floor(cluster / this.perBlock));
    return block === null ? 0 : block.readUInt16BE((cluster % this.perBlock) * 2);
  }

  /** Adds `delta` to the count of `cluster`, writes the entry and flushes. The block must exist. */
  async update(cluster: number, delta: number): Promise<void> {
    const blockIndex = Math.floor(cluster / this.perBlock);
    const block = await this.block(blockIndex);
    const at = (cluster % this.perBlock) * 2;
    const count = (block?.readUInt16BE(at) ?? 0) + delta;
    if (block === null || count < 0 || count > 0xffff) {
      throw corrupt('QCOW2_BAD_REFCOUNT', `corrupt qcow2 refcounts in ${this.path}: the count of cluster ${cluster} cannot change by ${delta}`, {
        cluster,
        delta,
      });
    }
    const entry = Buffer.alloc(2);
    entry.writeUInt16BE(count);
    await this.file.write(tableEntryOffset(this.table, blockIndex) + at, entry);
    await this.file.flush();
    block.writeUInt16BE(count, at);
  }

  /**
   * Throws QCOW2_REFCOUNT_TABLE_FULL unless `count` more clusters (and the refcount blocks they would
   * need) can be allocated with the refcount table as it is. Writes nothing.
   */
  async reserve(count: number): Promise<void> {
    const taken = new Set<number>();
    const plannedBlocks = new Set<number>();
    let cluster = this.freeHint;
    while (count > 0) {
      cluster = await this.nextFree(cluster, taken);
      const blockIndex = Math.floor(cluster / this.perBlock);
      if (blockIndex >= this.tableEntries) throw this.full(cluster);
      taken.add(cluster);
      if (tableEntryOffset(this.table, blockIndex) === 0 && !plannedBlocks.has(blockIndex)) plannedBlocks.add(blockIndex);
      else count--;
    }
  }

  /**
   * The byte offset of a free cluster for the caller to fill; its count is still 0 (the caller writes
   * the cluster, flushes, then calls update(+1)). Creates the refcount block that will count it.
   */
  async allocate(): Promise<number> {
    for (;;) {
      const cluster = await this.nextFree(this.freeHint, new Set());
      const blockIndex = Math.floor(cluster / this.perBlock);
      if (blockIndex >= this.tableEntries) throw this.full(cluster);
      this.freeHint = cluster + 1;
      if (tableEntryOffset(this.table, blockIndex) !== 0) return cluster * this.clusterSize;
      await this.createBlock(blockIndex, cluster);
    }
  }

  /** A self-describing refcount block at free cluster `cluster` of its own range (count 1 for itself). */
  private async createBlock(blockIndex: number, cluster: number): Promise<void> {
    const offset = cluster * this.clusterSize;
    const block = Buffer.alloc(this.clusterSize);
    block.writeUInt16BE(1, (cluster % this.perBlock) * 2);
    await this.file.write(offset, block);
    await this.file.flush();
    const entry = Buffer.alloc(8);
    entry.writeUInt32BE(Math.floor(offset / 2 ** 32), 0);
    entry.writeUInt32BE(offset % 2 ** 32, 4);
    await this.file.write(this.layout.tableOffset + blockIndex * 8, entry);
    await this.file.flush();
    entry.copy(this.table, blockIndex * 8);
    this.blocks.set(blockIndex, block);
  }

  /** The first cluster at or after `from` with count 0 that is not in `taken`; may lie past the table. */
  private async nextFree(from: number, taken: Set<number>): Promise<number> {
    let cluster = from;
    for (;;) {
      const blockIndex = Math.floor(cluster / this.perBlock);
      if (blockIndex >= this.tableEntries) return cluster;
      const block = await this.block(blockIndex);
      // One block is scanned without awaiting: a large image has millions of clusters before its end.
      const blockEnd = (blockIndex + 1) * this.perBlock;
      for (; cluster < blockEnd; cluster++) {
        if (!taken.has(cluster) && (block === null || block.readUInt16BE((cluster % this.perBlock) * 2) === 0)) return cluster;
      }
    }
  }

  private async block(blockIndex: number): Promise<Buffer | null> {
    if (blockIndex >= this.tableEntries) return null;
    const cached = this.blocks.get(blockIndex);
    if (cached !== undefined) return cached;
    const offset = tableEntryOffset(this.table, blockIndex);
    if (offset === 0) return null;
    if (offset % this.clusterSize !== 0 || offset + this.clusterSize > this.file.sizeBytes) {
      throw corrupt('QCOW2_BAD_REFCOUNT', `corrupt qcow2 refcounts in ${this.path}: refcount table entry ${blockIndex} points at byte ${offset}, not a cluster inside the file`, {
        blockIndex,
        offset,
      });
    }
    const block = await this.file.read(offset, this.clusterSize);
    this.blocks.set(blockIndex, block);
    return block;
  }

  private full(cluster: number): UnsupportedError {
    return new UnsupportedError(
      'QCOW2_REFCOUNT_TABLE_FULL',
      `${this.path}: the qcow2 refcount table (${this.tableEntries} entries) has no room for host cluster ${cluster}; haos-rescue does not grow it`,
      {
        hint: `make a raw copy with qemu-img convert -O raw "${this.path}" disk.img, run the command on disk.img, and convert it back with qemu-img convert -O qcow2`,
        details: { cluster, tableEntries: this.tableEntries },
      },
    );
  }
}

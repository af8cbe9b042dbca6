// qcow2 reference counts for the writer (QEMU docs/interop/qcow2.txt, "Host cluster management"): a
// refcount table (refcount_table_offset, refcount_table_clusters) of u64 offsets of refcount blocks, each
// block one cluster of 16-bit big-endian counts (refcount_order 4, the only width written here). Cluster
// n's count is in block n / (cluster_size / 2), entry n % (cluster_size / 2); a missing block means 0.
//
// Allocation follows block/qcow2-refcount.c: the first cluster whose count is 0, scanning forward from a
// hint that starts at 0 (alloc_clusters_noref), so a clean image grows at its end. A cluster whose block
// does not exist yet gets a new block that describes itself (alloc_refcount_block: the block is placed at
// that very cluster, counts itself 1, is written and flushed before the table entry points at it). A block
// whose index is past the end of the table makes the table grow (qcow2-refcount-grow.ts): a new, larger
// table at the end of the file replaces it, and the old table's clusters are freed. Only a table above
// QEMU's 8 MiB limit is refused, before anything is written.

import type { BlockDevice } from '../block-device.js';
import { corrupt, readU64 } from './qcow2-header.js';
import { MAX_REFCOUNT_TABLE_BYTES, planRefcountArea, tableTooLarge, writeRefcountArea } from './qcow2-refcount-grow.js';

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
    /** refcount_table_offset: changes when the table grows. */
    private tableOffset: number,
    private table: Buffer,
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
    return new Qcow2Refcounts(file, tableOffset, await file.read(tableOffset, bytes), clusterSize, path);
  }

  get tableEntries(): number {
    return this.table.length / 8;
  }

  /** refcount_table_offset and refcount_table_clusters as the header now has them. */
  get tableLocation(): { offset: number; clusters: number } {
    return { offset: this.tableOffset, clusters: this.table.length / this.clusterSize };
  }

  /** Host offsets of the refcount blocks the table names. */
  blockOffsets(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.tableEntries; i++) {
      const offset = tableEntryOffset(this.table, i);
      if (offset !== 0) out.push(offset);
    }
    return out;
  }

  /** The count of `cluster` when its refcount block has been read (or there is none: 0); else undefined. */
  peek(cluster: number): number | undefined {
    const blockIndex = Math.floor(cluster / this.perBlock);
    if (blockIndex >= this.tableEntries || tableEntryOffset(this.table, blockIndex) === 0) return 0;
    return this.blocks.get(blockIndex)?.readUInt16BE((cluster % this.perBlock) * 2);
  }

  /** The count of host cluster `cluster` (an index, not a byte offset). */
  async get(cluster: number): Promise<number> {
    const block = await this.block(Math.floor(cluster / this.perBlock));
    return block === null ? 0 : block.readUInt16BE((cluster % this.perBlock) * 2);
  }

  /** Adds `delta` to the count of `cluster`, writes the entry and flushes. The block must exist. */
  async update(cluster: number, delta: number): Promise<void> {
    await this.updateEach([cluster], delta);
  }

  /**
   * Adds `delta` to the count of each of `clusters` (a cluster named twice changes twice; their blocks
   * must exist): one write per run of neighbours inside a block, then one flush.
   */
  async updateEach(clusters: readonly number[], delta: number): Promise<void> {
    const sorted = [...clusters].sort((a, b) => a - b);
    for (let i = 0; i < sorted.length; ) {
      let end = i + 1;
      while (end < sorted.length && sorted[end] === sorted[end - 1]! + 1) end++;
      await this.writeRun(sorted[i]!, end - i, delta);
      i = end;
    }
    await this.file.flush();
  }

  /**
   * Adds `delta` to the counts of clusters `first` .. `first + count - 1` (their blocks must exist): one
   * write per refcount block, no flush. Runs longer than one cluster free the old refcount table (which
   * nothing references: whichever of its counts a crash leaves, they are leaks at worst) or count the
   * new clusters of one guest write (nothing points at them before the flush that follows).
   */
  private async writeRun(first: number, count: number, delta: number): Promise<void> {
    for (let cluster = first; cluster < first + count; ) {
      const blockIndex = Math.floor(cluster / this.perBlock);
      const block = await this.block(blockIndex);
      const end = Math.min(first + count, (blockIndex + 1) * this.perBlock);
      const entries = Buffer.alloc((end - cluster) * 2);
      for (let c = cluster; c < end; c++) {
        const value = (block?.readUInt16BE((c % this.perBlock) * 2) ?? 0) + delta;
        if (block === null || value < 0 || value > 0xffff) {
          throw corrupt('QCOW2_BAD_REFCOUNT', `corrupt qcow2 refcounts in ${this.path}: the count of cluster ${c} cannot change by ${delta}`, {
            cluster: c,
            delta,
          });
        }
        entries.writeUInt16BE(value, (c - cluster) * 2);
      }
      const at = (cluster % this.perBlock) * 2;
      await this.file.write(tableEntryOffset(this.table, blockIndex) + at, entries);
      entries.copy(block!, at);
      cluster = end;
    }
  }

  /**
   * Throws QCOW2_REFCOUNT_TABLE_FULL unless `count` more clusters (and the refcount blocks they would
   * need) can be allocated without the refcount table growing past QEMU's limit. Writes nothing.
   */
  async reserve(count: number): Promise<void> {
    const taken = new Set<number>();
    const plannedBlocks = new Set<number>();
    let cluster = this.freeHint;
    while (count > 0) {
      cluster = await this.nextFree(cluster, taken);
      const blockIndex = Math.floor(cluster / this.perBlock);
      if (blockIndex >= this.tableEntries) {
        this.checkGrowth(cluster + count);
        return;
      }
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
      this.freeHint = cluster + 1;
      if (blockIndex >= this.tableEntries) await this.grow(blockIndex, cluster);
      else if (tableEntryOffset(this.table, blockIndex) !== 0) return cluster * this.clusterSize;
      else await this.createBlock(blockIndex, cluster);
    }
  }

  /** A self-describing refcount block at free cluster `cluster` of its own range (count 1 for itself). */
  private async createBlock(blockIndex: number, cluster: number): Promise<void> {
    const block = await this.writeBlock(cluster);
    const entry = Buffer.alloc(8);
    entry.writeUInt32BE(Math.floor((cluster * this.clusterSize) / 2 ** 32), 0);
    entry.writeUInt32BE((cluster * this.clusterSize) % 2 ** 32, 4);
    await this.file.write(this.tableOffset + blockIndex * 8, entry);
    await this.file.flush();
    entry.copy(this.table, blockIndex * 8);
    this.blocks.set(blockIndex, block);
  }

  /** Writes and flushes a refcount block at `cluster` that counts only itself; hooks nothing up. */
  private async writeBlock(cluster: number): Promise<Buffer> {
    const block = Buffer.alloc(this.clusterSize);
    block.writeUInt16BE(1, (cluster % this.perBlock) * 2);
    await this.file.write(cluster * this.clusterSize, block);
    await this.file.flush();
    return block;
  }

  /**
   * alloc_refcount_block when the table is too small: the block for `cluster` at `cluster` itself, then
   * a self-covering area from the next block range on with a larger table (qcow2-refcount-grow.ts), then
   * the old table's clusters freed.
   */
  private async grow(blockIndex: number, cluster: number): Promise<void> {
    const area = planRefcountArea((blockIndex + 1) * this.perBlock, this.clusterSize);
    if (area.tableClusters * this.clusterSize > MAX_REFCOUNT_TABLE_BYTES) throw tableTooLarge(area, this.clusterSize, this.path, cluster);
    const block = await this.writeBlock(cluster);
    const old = this.tableLocation;
    const grown = await writeRefcountArea(this.file, area, this.table, blockIndex, cluster * this.clusterSize, this.clusterSize);
    this.table = grown.table;
    this.tableOffset = area.tableOffset;
    this.blocks.set(blockIndex, block);
    for (const [index, areaBlock] of grown.blocks) this.blocks.set(index, areaBlock);
    await this.writeRun(old.offset / this.clusterSize, old.clusters, -1);
    await this.file.flush();
  }

  /**
   * Refuses allocations up to cluster `lastCluster` when the table they make grow could pass QEMU's limit.
   * The bound is generous: twice the clusters (for the refcount blocks and the tables written on the way)
   * and a block range for the gap before the area.
   */
  private checkGrowth(lastCluster: number): void {
    const start = Math.ceil((2 * (lastCluster + this.perBlock)) / this.perBlock) * this.perBlock;
    const area = planRefcountArea(start, this.clusterSize);
    if (area.tableClusters * this.clusterSize > MAX_REFCOUNT_TABLE_BYTES) throw tableTooLarge(area, this.clusterSize, this.path, lastCluster);
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
}

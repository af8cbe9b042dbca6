// Guest offset → host bytes for qcow2 (QEMU docs/interop/qcow2.txt, "Cluster mapping" and "Extended L2
// Entries"): the L1 table (read once at open) points at L2 tables, one cluster each, read lazily and
// kept in a small LRU cache; each L2 entry says whether a guest cluster is data at a host offset, reads
// as zeros, is compressed, or is unallocated (then the backing file, or zeros, shows through). With
// extended L2 entries a cluster is 32 subclusters, each allocated, zero or unallocated on its own.
// Every offset taken from the file is checked against the file before use.

import type { BlockDevice } from '../block-device.js';
import { compressedDescriptor, type CompressedDescriptor } from './qcow2-compressed.js';
import { corrupt, l2EntryBytes, type Qcow2Header } from './qcow2-header.js';
import { pastFileEnd } from './cut-short.js';

export type Segment =
  | { kind: 'data'; length: number; hostOffset: number }
  | { kind: 'zero'; length: number }
  | { kind: 'unallocated'; length: number }
  | { kind: 'compressed'; length: number; descriptor: CompressedDescriptor; offsetInCluster: number };

/** Bytes of L2 tables kept in memory at most (and never more than 64 tables, never fewer than 4). */
const L2_CACHE_BYTES = 16 * 1024 * 1024;
const SUBCLUSTERS = 32;
/** Bits 9-55 of an L1/L2 entry: the high word keeps bits 32-55, the low word bits 9-31. */
const OFFSET_HIGH_MASK = 0x00ffffff;
const OFFSET_LOW_MASK = 0xfffffe00;
const FLAG_COMPRESSED = 0x40000000; // bit 62, in the high word
const FLAG_ZERO = 1; // bit 0

function entryOffset(high: number, low: number): number {
  return (high & OFFSET_HIGH_MASK) * 2 ** 32 + ((low & OFFSET_LOW_MASK) >>> 0);
}

/** A host cluster the active tables reference, and what references it (in words, made when asked). */
export interface Referenced {
  hostOffset: number;
  what: () => string;
  /** A compressed cluster: several may share a host cluster, and none is ever written in place. */
  compressed?: true;
}

export class Qcow2Map {
  private readonly clusterSize: number;
  private readonly entryBytes: number;
  private readonly guestBytesPerL2: number;
  private readonly cache = new Map<number, Promise<Buffer>>();
  private readonly cacheCapacity: number;

  constructor(
    private readonly file: BlockDevice,
    private readonly header: Qcow2Header,
    private readonly l1: Buffer,
    private readonly path: string,
  ) {
    this.clusterSize = header.clusterSize;
    this.entryBytes = l2EntryBytes(header);
    this.guestBytesPerL2 = (this.clusterSize / this.entryBytes) * this.clusterSize;
    this.cacheCapacity = Math.max(4, Math.min(64, Math.floor(L2_CACHE_BYTES / this.clusterSize)));
  }

  /**
   * The run of guest bytes from `guestOffset` (below the virtual size) that share one kind, at most
   * `maxLength` bytes and never past the end of a cluster (or of one L2 table's reach when it is missing).
   */
  async segment(guestOffset: number, maxLength: number): Promise<Segment> {
    const l1Index = Math.floor(guestOffset / this.guestBytesPerL2);
    const inTable = guestOffset - l1Index * this.guestBytesPerL2;
    const l2Offset = this.l2Offset(l1Index);
    if (l2Offset === 0) return { kind: 'unallocated', length: Math.min(maxLength, this.guestBytesPerL2 - inTable) };
    const table = await this.l2Table(l2Offset);
    const l2Index = Math.floor(inTable / this.clusterSize);
    const inCluster = inTable - l2Index * this.clusterSize;
    const clusterLeft = Math.min(maxLength, this.clusterSize - inCluster);
    const at = l2Index * this.entryBytes;
    const high = table.readUInt32BE(at);
    const low = table.readUInt32BE(at + 4);
    // Only for messages: built when something is wrong, not on every read.
    const where = (): string => `guest byte ${guestOffset} (L2 table at ${l2Offset}, entry ${l2Index})`;
    if ((high & FLAG_COMPRESSED) !== 0) {
      const descriptor = compressedDescriptor(high, low, this.header.clusterBits, this.file.sizeBytes);
      if (descriptor === null) throw this.bad(`the compressed cluster for ${where()} starts past the end of the file`, { guestOffset, l2Offset, l2Index });
      return { kind: 'compressed', length: clusterLeft, descriptor, offsetInCluster: inCluster };
    }
    const hostOffset = entryOffset(high, low);
    if (this.header.extendedL2) {
      return this.subclusterSegment(table.readUInt32BE(at + 8), table.readUInt32BE(at + 12), hostOffset, inCluster, clusterLeft, where);
    }
    if ((low & FLAG_ZERO) !== 0) {
      if (this.header.version === 2) throw this.bad(`a zero cluster flag in a version 2 image at ${where()}`, { guestOffset });
      return { kind: 'zero', length: clusterLeft };
    }
    if (hostOffset === 0) return { kind: 'unallocated', length: clusterLeft };
    this.checkDataCluster(hostOffset, where);
    return { kind: 'data', length: clusterLeft, hostOffset: hostOffset + inCluster };
  }

  /**
   * Extended L2 entries: bitmap bits 0-31 (the low word, bytes 12-15) mark allocated subclusters, bits
   * 32-63 (the high word, bytes 8-11) subclusters that read as zeros; neither means unallocated.
   */
  private subclusterSegment(zeroBits: number, allocBits: number, hostOffset: number, inCluster: number, maxLength: number, where: () => string): Segment {
    if ((zeroBits & allocBits) !== 0) throw this.bad(`subclusters marked both allocated and zero at ${where()}`, { zeroBits, allocBits });
    if (allocBits !== 0) {
      if (hostOffset === 0) throw this.bad(`allocated subclusters without a host cluster at ${where()}`, { allocBits });
      this.checkDataCluster(hostOffset, where);
    }
    const subSize = this.clusterSize / SUBCLUSTERS;
    const first = Math.floor(inCluster / subSize);
    const status = (i: number): number => ((allocBits >>> i) & 1) | (((zeroBits >>> i) & 1) << 1);
    const kind = status(first);
    let next = first + 1;
    while (next < SUBCLUSTERS && status(next) === kind) next++;
    const length = Math.min(maxLength, next * subSize - inCluster);
    if (kind === 1) return { kind: 'data', length, hostOffset: hostOffset + inCluster };
    return { kind: kind === 2 ? 'zero' : 'unallocated', length };
  }

  /**
   * Whether any of the first `maxTables` allocated L2 tables holds a compressed cluster: true, false, or
   * null when there were more tables than that (or one could not be read) and none seen had one.
   * It only informs `info`, so damage here is left for the reads to report.
   */
  async hasCompressedClusters(maxTables: number): Promise<boolean | null> {
    let seen = 0;
    for (let i = 0; i < this.header.l1Size; i++) {
      let l2Offset: number;
      let table: Buffer;
      try {
        l2Offset = this.l2Offset(i);
        if (l2Offset === 0) continue;
        if (seen === maxTables) return null;
        seen++;
        table = await this.l2Table(l2Offset);
      } catch {
        return null;
      }
      for (let at = 0; at < table.length; at += this.entryBytes) {
        if ((table.readUInt32BE(at) & FLAG_COMPRESSED) !== 0) return true;
      }
    }
    return false;
  }

  /**
   * Every host cluster the active tables reference (the L2 tables, the data clusters, a compressed stream's
   * first cluster), each checked to lie inside the file: the writer's check of the reference counts. One
   * batch an L2 table (the table's own cluster first); the words for a cluster are made only when asked.
   */
  async *referencedClusters(): AsyncGenerator<Referenced[]> {
    for (let i = 0; i < this.header.l1Size; i++) {
      const l2Offset = this.l2Offset(i);
      if (l2Offset === 0) continue;
      const batch: Referenced[] = [{ hostOffset: l2Offset, what: () => `the L2 table of L1 entry ${i}` }];
      const table = await this.l2Table(l2Offset);
      for (let at = 0; at < table.length; at += this.entryBytes) {
        const high = table.readUInt32BE(at);
        const low = table.readUInt32BE(at + 4);
        if ((high & FLAG_COMPRESSED) === 0 && entryOffset(high, low) === 0) continue;
        const where = (): string => `L2 table at ${l2Offset}, entry ${at / this.entryBytes}`;
        if ((high & FLAG_COMPRESSED) !== 0) {
          const d = compressedDescriptor(high, low, this.header.clusterBits, this.file.sizeBytes);
          if (d === null) throw this.bad(`the compressed cluster of ${where()} starts past the end of the file`, { l2Offset });
          batch.push({ hostOffset: d.hostOffset - (d.hostOffset % this.clusterSize), what: () => `the compressed cluster of ${where()}`, compressed: true });
          continue;
        }
        const hostOffset = entryOffset(high, low);
        this.checkDataCluster(hostOffset, where, false);
        batch.push({ hostOffset, what: () => `the data cluster of ${where()}` });
      }
      yield batch;
    }
  }

  /** Forgets a cached L2 table: the writer changed it (or freed its cluster) in the file. */
  invalidate(l2Offset: number): void {
    this.cache.delete(l2Offset);
  }

  /** The L2 table offset in L1 entry `index`, checked: 0 when unallocated. */
  private l2Offset(index: number): number {
    const offset = entryOffset(this.l1.readUInt32BE(index * 8), this.l1.readUInt32BE(index * 8 + 4));
    if (offset === 0) return 0;
    if (offset % this.clusterSize !== 0 || offset + this.clusterSize > this.file.sizeBytes) {
      throw this.bad(`L1 entry ${index} points at byte ${offset}, which is not a whole cluster inside the file (${this.file.sizeBytes} bytes)`, {
        l1Index: index,
        l2Offset: offset,
      });
    }
    return offset;
  }

  /**
   * A data cluster must lie on a cluster boundary inside the file. For a read (`reading`), a cluster past the
   * end of the file is said as a file cut short (a medium error, what is before it reads); for the writer's
   * check it is damage like any other.
   */
  private checkDataCluster(hostOffset: number, where: () => string, reading = true): void {
    if (reading && hostOffset % this.clusterSize === 0 && hostOffset >= this.file.sizeBytes) {
      const what = `the data cluster for ${where()}`;
      throw pastFileEnd({ path: this.path, fileSize: this.file.sizeBytes, fileOffset: hostOffset, length: this.clusterSize, what, formatCode: 'QCOW2_BAD_MAPPING' });
    }
    if (hostOffset % this.clusterSize !== 0 || hostOffset >= this.file.sizeBytes) {
      const size = this.file.sizeBytes;
      throw this.bad(`the data cluster for ${where()} is at byte ${hostOffset}, not a cluster boundary inside the file (${size} bytes)`, { hostOffset });
    }
  }

  private l2Table(offset: number): Promise<Buffer> {
    const cached = this.cache.get(offset);
    if (cached !== undefined) {
      // Most recently used goes last; the first key is the one to evict.
      this.cache.delete(offset);
      this.cache.set(offset, cached);
      return cached;
    }
    const loading = this.file.read(offset, this.clusterSize);
    // A failed read is not cached: the next access tries again and reports its own error.
    loading.catch(() => this.cache.delete(offset));
    this.cache.set(offset, loading);
    if (this.cache.size > this.cacheCapacity) this.cache.delete(this.cache.keys().next().value!);
    return loading;
  }

  private bad(message: string, details: Record<string, unknown>): Error {
    return corrupt('QCOW2_BAD_MAPPING', `corrupt qcow2 mapping in ${this.path}: ${message}`, details);
  }
}

// A VMDK sparse extent (hosted sparse, and its stream-optimized compressed form): guest bytes through
// the grain directory (GD) and grain tables (GT) (VMware "Virtual Disk Format 5.0", §"Grain Directories
// and Grain Tables"; QEMU block/vmdk.c get_cluster_offset).
//
// A grain is grainSize sectors of guest data. The GD has one u32 per GT: the sector of that GT, 0 when
// none. A GT has numGTEsPerGT u32 entries: the sector of the grain's data (0: unallocated, read the
// parent or zeros; 1 with the zeroed-grain flag: zeros). In a compressed extent the entry points at a
// grain marker (u64 lba, u32 size, deflated data, RFC 1950 zlib) instead of raw data.
//
// The GD is read at open (4 bytes per 512 grains: 256 KiB for 2 TiB of 64 KiB grains); GTs are read on
// first use and kept in a bounded cache, so a huge, empty disk opens at once. Raw grains that lie next to
// each other in the file are read with one call; inflated grains are kept in a small LRU cache.

import { inflateSync } from 'node:zlib';
import type { BlockDevice } from '../block-device.js';
import { DiskFileUnsupportedError } from './unsupported.js';
import { SECTOR, corrupt, parseSparseHeader, type SparseHeader } from './vmdk-header.js';
import { maxCompressedBytes, readStreamFooter, scanStreamGrains, type ScannedGrains } from './vmdk-stream.js';
import { pastFileEnd } from './cut-short.js';

/** What a reader of guest bytes does with a range the extent does not hold: the parent's bytes, or zeros. */
export type FillUnallocated = (extentByteOffset: number, target: Buffer) => Promise<void>;

export interface Extent {
  readonly sizeBytes: number;
  readInto(byteOffset: number, target: Buffer, unallocated: FillUnallocated): Promise<void>;
}

/** Reads `target.length` bytes at `byteOffset` of `device` into `target`. */
export async function readFileInto(device: BlockDevice, byteOffset: number, target: Buffer): Promise<void> {
  const got = await device.read(byteOffset, target.length, target);
  if (got.buffer !== target.buffer || got.byteOffset !== target.byteOffset) got.copy(target);
}

const ZEROED = -1;
const GT_CACHE_ENTRIES = 4096;
const GRAIN_CACHE_BYTES = 16 << 20;
const MAX_GD_BYTES = 64 << 20;
/**
 * Compressed grains are read through a window of the file this large: a stream stores grains in guest
 * order, so sequential guest reads take one file read per window instead of one or two per grain.
 */
const STREAM_WINDOW = 256 * 1024;
/** Inflated grains are held whole; a larger compressed grain is refused (VMware writes 64 KiB). */
const MAX_COMPRESSED_GRAIN = 16 << 20;

/** Consecutive pieces of a read that are handled alike: raw data contiguous in the file, zeros, or the parent's. */
interface Run {
  kind: 'data' | 'zero' | 'unallocated';
  fileOffset: number;
  /** Where the run starts in the read's target buffer. */
  start: number;
  length: number;
}

/** The write path's view of a sparse extent (SparseExtent.writeAccess). */
export interface SparseWriteAccess {
  file: BlockDevice;
  gd: Uint32Array;
  grainBytes: number;
  /** Grain table `gtIndex` (cached); null when its GD entry is 0. */
  grainTable(gtIndex: number): Promise<Uint32Array | null>;
  /** Records a grain table entry just written to the file in the cached table, if cached. */
  setEntry(gtIndex: number, index: number, value: number): void;
}

export class SparseExtent implements Extent {
  readonly sizeBytes: number;
  private readonly grainBytes: number;
  private readonly gtCache = new Map<number, Uint32Array>();
  private readonly grainCache = new Map<number, Buffer>();
  private readonly grainCacheMax: number;
  private window: { start: number; bytes: Buffer } = { start: 0, bytes: Buffer.alloc(0) };

  private constructor(
    private readonly file: BlockDevice,
    private readonly where: string,
    readonly header: SparseHeader,
    sizeBytes: number,
    private readonly gd: Uint32Array | null,
    private readonly scanned: ScannedGrains | null,
  ) {
    this.sizeBytes = sizeBytes;
    this.grainBytes = header.grainSectors * SECTOR;
    this.grainCacheMax = Math.max(2, Math.floor(GRAIN_CACHE_BYTES / this.grainBytes));
  }

  /**
   * Opens the sparse extent in `file`. `sizeBytes` is the extent's size from the descriptor (null: the
   * header's capacity); the header must cover it.
   */
  static async open(file: BlockDevice, where: string, sizeBytes: number | null, notes: string[]): Promise<SparseExtent> {
    if (file.sizeBytes < SECTOR) throw corrupt('VMDK_TRUNCATED', `${where}: ${file.sizeBytes} bytes is too short for a sparse extent`);
    let header = parseSparseHeader(await file.read(0, SECTOR), where, file.sizeBytes);
    if (header.gdSector === null) {
      const footer = await readStreamFooter(file, where);
      if (footer !== null) header = footer;
    }
    const capacityBytes = header.capacitySectors * SECTOR;
    if (sizeBytes !== null && sizeBytes > capacityBytes) {
      throw corrupt('VMDK_EXTENT_SIZE', `${where}: the descriptor gives the extent ${sizeBytes} bytes but its header only ${capacityBytes}`, {
        sizeBytes,
        capacityBytes,
      });
    }
    if (header.compressed && header.grainSectors * SECTOR > MAX_COMPRESSED_GRAIN) {
      throw new DiskFileUnsupportedError('VMDK_GRAIN_SIZE', `${where}: compressed grains of ${header.grainSectors * SECTOR} bytes are larger than the ${MAX_COMPRESSED_GRAIN} supported`);
    }
    if (header.compressed) notes.push('compressed grains (deflate)');
    if (header.unclean) notes.push('unclean shutdown flag set: the disk was not closed cleanly');
    if (header.gdSector !== null && header.gdSector !== 0) {
      const gd = await readGrainDirectory(file, header, where);
      return new SparseExtent(file, where, header, sizeBytes ?? capacityBytes, gd, null);
    }
    if (!header.markers) throw corrupt('VMDK_NO_GD', `${where}: the sparse extent has no grain directory`);
    const start = scanStart(header, file.sizeBytes);
    const scanned = await scanStreamGrains(file, header, start, where);
    notes.push(`no grain directory: ${scanned.grains.size} grains found by scanning the stream`);
    if (!scanned.complete) notes.push(`the stream ends without an end marker at byte ${scanned.endOffset}: the file is cut short`);
    return new SparseExtent(file, where, header, sizeBytes ?? capacityBytes, null, scanned);
  }

  /**
   * What the write path (vmdk-write.ts) needs: the file, the grain directory, and the grain tables through
   * the cache it keeps in step. Null for a stream (no grain directory) or compressed grains: never written.
   */
  writeAccess(): SparseWriteAccess | null {
    if (this.gd === null || this.scanned !== null || this.header.compressed) return null;
    return {
      file: this.file,
      gd: this.gd,
      grainBytes: this.grainBytes,
      grainTable: async (gtIndex) => this.grainTable(gtIndex),
      setEntry: (gtIndex, index, value) => {
        const cached = this.gtCache.get(gtIndex);
        if (cached !== undefined) cached[index] = value;
      },
    };
  }

  async readInto(byteOffset: number, target: Buffer, unallocated: FillUnallocated): Promise<void> {
    const end = byteOffset + target.length;
    let pos = byteOffset;
    let run: Run | null = null;
    while (pos < end) {
      const grain = Math.floor(pos / this.grainBytes);
      const inGrain = pos - grain * this.grainBytes;
      const n = Math.min(this.grainBytes - inGrain, end - pos);
      const sector = await this.grainSector(grain);
      const at = pos - byteOffset;
      if (sector > 0 && this.header.compressed) {
        if (run !== null) await this.flushRun(run, byteOffset, target, unallocated);
        run = null;
        (await this.inflatedGrain(grain, sector)).copy(target, at, inGrain, inGrain + n);
      } else {
        const kind = sector > 0 ? 'data' : sector === ZEROED ? 'zero' : 'unallocated';
        const fileOffset = sector > 0 ? sector * SECTOR + inGrain : 0;
        if (run !== null && run.kind === kind && (kind !== 'data' || run.fileOffset + run.length === fileOffset)) {
          run.length += n;
        } else {
          if (run !== null) await this.flushRun(run, byteOffset, target, unallocated);
          run = { kind, fileOffset, start: at, length: n };
        }
      }
      pos += n;
    }
    if (run !== null) await this.flushRun(run, byteOffset, target, unallocated);
  }

  private async flushRun(run: Run, byteOffset: number, target: Buffer, unallocated: FillUnallocated): Promise<void> {
    const part = target.subarray(run.start, run.start + run.length);
    if (run.kind === 'zero') part.fill(0);
    else if (run.kind === 'unallocated') await unallocated(byteOffset + run.start, part);
    else {
      if (run.fileOffset + run.length > this.file.sizeBytes) {
        throw pastFileEnd({ path: this.where, fileSize: this.file.sizeBytes, fileOffset: run.fileOffset, length: run.length, what: 'grain data', formatCode: 'VMDK_GRAIN_BEYOND_END' });
      }
      await readFileInto(this.file, run.fileOffset, part);
    }
  }

  /** The grain's sector in the file; 0 when unallocated, ZEROED for a zeroed grain. */
  private async grainSector(grain: number): Promise<number> {
    if (this.scanned !== null) {
      const sector = this.scanned.grains.get(grain);
      if (sector !== undefined) return sector;
      if (!this.scanned.complete && grain >= this.scanned.firstMissingGrain) {
        throw corrupt('VMDK_STREAM_TRUNCATED', `${this.where}: grain ${grain} lies after the point where the stream is cut short (byte ${this.scanned.endOffset})`, {
          grain,
          endOffset: this.scanned.endOffset,
        });
      }
      return 0;
    }
    const perGt = this.header.gtesPerGt;
    const gtIndex = Math.floor(grain / perGt);
    const gt = await this.grainTable(gtIndex);
    if (gt === null) return 0;
    const entry = gt[grain - gtIndex * perGt]!;
    if (entry === 1 && this.header.zeroGrain) return ZEROED;
    return entry;
  }

  private async grainTable(gtIndex: number): Promise<Uint32Array | null> {
    const cached = this.gtCache.get(gtIndex);
    if (cached !== undefined) {
      this.gtCache.delete(gtIndex);
      this.gtCache.set(gtIndex, cached);
      return cached;
    }
    const gtSector = this.gd![gtIndex] ?? 0;
    if (gtSector === 0) return null;
    const bytes = this.header.gtesPerGt * 4;
    const offset = gtSector * SECTOR;
    if (offset + bytes > this.file.sizeBytes) {
      throw corrupt('VMDK_GT_BEYOND_END', `${this.where}: grain table ${gtIndex} at sector ${gtSector} lies past the end of the file (${this.file.sizeBytes} bytes)`, {
        gtIndex,
        gtSector,
      });
    }
    const gt = toU32(await this.file.read(offset, bytes));
    if (this.gtCache.size >= GT_CACHE_ENTRIES) this.gtCache.delete(this.gtCache.keys().next().value!);
    this.gtCache.set(gtIndex, gt);
    return gt;
  }

  private async inflatedGrain(grain: number, sector: number): Promise<Buffer> {
    const cached = this.grainCache.get(grain);
    if (cached !== undefined) {
      this.grainCache.delete(grain);
      this.grainCache.set(grain, cached);
      return cached;
    }
    const data = inflateGrain(await this.compressedGrain(grain, sector), this.grainBytes, `${this.where}: grain ${grain} at sector ${sector}`);
    const needed = Math.min(this.grainBytes, this.sizeBytes - grain * this.grainBytes);
    if (data.length !== this.grainBytes && data.length < needed) {
      throw corrupt('VMDK_BAD_GRAIN', `${this.where}: grain ${grain} at sector ${sector} inflates to ${data.length} bytes, not ${this.grainBytes}`, {
        grain,
        sector,
        length: data.length,
      });
    }
    if (this.grainCache.size >= this.grainCacheMax) this.grainCache.delete(this.grainCache.keys().next().value!);
    this.grainCache.set(grain, data);
    return data;
  }

  /** The deflated bytes of a grain: after its marker, or (no markers) the grain-sized area at its sector. */
  private async compressedGrain(grain: number, sector: number): Promise<Buffer> {
    const offset = sector * SECTOR;
    const fileSize = this.file.sizeBytes;
    const where = `${this.where}: compressed grain ${grain} at sector ${sector}`;
    const maxBytes = maxCompressedBytes(this.grainBytes);
    // Past the end: the file cut short (a stream VMDK copied or downloaded in part), as for the other formats.
    if (offset + 12 > fileSize) throw pastFileEnd({ path: this.where, fileSize, fileOffset: offset, length: 12, what: `compressed grain ${grain}`, formatCode: 'VMDK_GRAIN_BEYOND_END' });
    if (!this.header.markers) return this.fileBytes(offset, Math.min(maxBytes, fileSize - offset));
    const head = await this.fileBytes(offset, 12);
    const lba = head.readBigUInt64LE(0);
    const size = head.readUInt32LE(8);
    if (lba !== BigInt(grain) * BigInt(this.header.grainSectors)) {
      throw corrupt('VMDK_BAD_MARKER', `${where}: its marker names sector ${lba}, not ${grain * this.header.grainSectors}`, { grain, sector, lba: lba.toString() });
    }
    if (size === 0 || size > maxBytes) throw corrupt('VMDK_BAD_MARKER', `${where}: marker size ${size} is out of range`, { grain, sector, size });
    if (offset + 12 + size > fileSize) {
      throw pastFileEnd({ path: this.where, fileSize, fileOffset: offset, length: 12 + size, what: `compressed grain ${grain}`, formatCode: 'VMDK_GRAIN_BEYOND_END' });
    }
    return this.fileBytes(offset + 12, size);
  }

  /** `length` bytes at `offset` (inside the file), from the read window when it holds them. */
  private async fileBytes(offset: number, length: number): Promise<Buffer> {
    const { start, bytes } = this.window;
    if (offset >= start && offset + length <= start + bytes.length) return bytes.subarray(offset - start, offset - start + length);
    const size = Math.min(Math.max(length, STREAM_WINDOW), this.file.sizeBytes - offset);
    // A new buffer each time, never reused: views of the old window may still be in use by a concurrent read.
    this.window = { start: offset, bytes: await this.file.read(offset, size) };
    return this.window.bytes.subarray(0, length);
  }
}

function inflateGrain(data: Buffer, grainBytes: number, where: string): Buffer {
  try {
    return inflateSync(data, { maxOutputLength: grainBytes, chunkSize: Math.max(grainBytes, 64) });
  } catch (err) {
    throw corrupt('VMDK_BAD_GRAIN', `${where} does not inflate: ${err instanceof Error ? err.message : String(err)}`);
  }
}

async function readGrainDirectory(file: BlockDevice, header: SparseHeader, where: string): Promise<Uint32Array> {
  const grains = Math.ceil(header.capacitySectors / header.grainSectors);
  const entries = Math.ceil(grains / header.gtesPerGt);
  const bytes = entries * 4;
  const offset = header.gdSector! * SECTOR;
  if (bytes > MAX_GD_BYTES || offset + bytes > file.sizeBytes) {
    throw corrupt('VMDK_GD_BEYOND_END', `${where}: grain directory at sector ${header.gdSector} (${entries} entries) does not fit in the file (${file.sizeBytes} bytes)`, {
      gdSector: header.gdSector,
      entries,
      fileSize: file.sizeBytes,
    });
  }
  return toU32(bytes === 0 ? Buffer.alloc(0) : await file.read(offset, bytes));
}

export function toU32(buf: Buffer): Uint32Array {
  const out = new Uint32Array(buf.length >>> 2);
  for (let i = 0; i < out.length; i++) out[i] = buf.readUInt32LE(i * 4);
  return out;
}

/** Where a stream's grains start: after the overhead the header declares, else after its descriptor. */
function scanStart(header: SparseHeader, fileSize: number): number {
  const overhead = header.overheadSectors * SECTOR;
  if (overhead >= SECTOR && overhead < fileSize) return overhead;
  return Math.max(SECTOR, (header.descriptorSector + header.descriptorSectors) * SECTOR);
}

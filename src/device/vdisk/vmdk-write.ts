// Writing inside VMDK extents, in the order of QEMU's block/vmdk.c (vmdk_pwritev, get_cluster_offset,
// vmdk_L2update):
//  - FLAT / VMFS extents: the guest bytes in place, at the extent's offset in its file.
//  - hosted SPARSE extents (monolithicSparse, twoGbMaxExtentSparse, delta disks): a grain whose grain table
//    entry (GTE) names its sector is written in place. A grain with GTE 0 (unallocated: zeros, or a delta
//    disk's parent) or GTE 1 with the zeroed-grain flag gets a new grain at the end of the file, grain
//    aligned (QEMU: next_cluster_sector = the file's length rounded up to a grain, then one grain per
//    allocation), written whole: its current guest bytes (zeros, or the parent's) patched with the data.
//    Then its GTE is pointed at it, in the grain table and in the redundant grain table (RGD) when the
//    header has one (VMDK4_FLAG_RGD).
//
// Crash order (each step flushed before the next): (1) the new grains' bytes, (2) the GTEs (GT, then
// RGD). A cut after (1) leaves unreferenced grains at the end of the file (the next allocation goes after
// them); the grain tables never name a grain that is not written. Every guest grain reads its old or its
// new bytes. The header and the descriptor are not changed (QEMU changes the descriptor's CID on the first
// write; nothing reads it but a child's parentCID check, and a disk we write into has no children that
// could stay valid anyway).
//
// A grain whose grain table does not exist (GD entry 0) is refused before anything is written: QEMU and
// VMware preallocate every grain table of a hosted sparse extent, so only a damaged or unusual file lacks one.

import { CorruptError, UnsupportedError } from '../../errors.js';
import { DiskFileUnsupportedError } from './unsupported.js';
import type { BlockDevice } from '../block-device.js';
import { SECTOR } from './vmdk-header.js';
import type { FillUnallocated, SparseExtent, SparseWriteAccess } from './vmdk-sparse.js';
import { toU32 } from './vmdk-sparse.js';

/** VMDK4_FLAG_RGD: the header's rgdOffset names a redundant grain directory kept in step. */
const FLAG_RGD = 1 << 1;
/** Largest buffer of new grains handed to one write. */
const MAX_BATCH_BYTES = 64 << 20;
const MAX_SECTOR = 0xffffffff;

/** Writes guest bytes into one extent. */
export interface ExtentWriter {
  /** Writes `data` at `byteOffset` of the extent; `unallocated` gives the bytes a new grain starts from. */
  write(byteOffset: number, data: Uint8Array, unallocated: FillUnallocated): Promise<void>;
  /** The file the extent lives in (flushed by the device). */
  readonly file: BlockDevice;
}

/** The hint of every refused writable open of a VMDK: a raw copy is always writable. */
export function vmdkRawCopyHint(path: string): string {
  return `make a raw copy to write to: qemu-img convert -O raw "${path}" disk.img`;
}

/** A FLAT or VMFS extent: written in place. */
export class FlatWriter implements ExtentWriter {
  constructor(
    readonly file: BlockDevice,
    private readonly baseOffset: number,
  ) {}

  async write(byteOffset: number, data: Uint8Array): Promise<void> {
    await this.file.write(this.baseOffset + byteOffset, data);
  }
}

interface Fresh {
  grain: number;
  within: number;
  bytes: Uint8Array;
}

/** The refusal of a write into an extent whose uncleanShutdown flag is set. */
export function uncleanRefusal(where: string, path: string): UnsupportedError {
  return new DiskFileUnsupportedError('VMDK_WRITE_UNCLEAN', `${where} was not closed cleanly (its uncleanShutdown flag is set); refusing to write into it`, {
    hint: `open it in its hypervisor and shut the VM down cleanly, or run qemu-img check "${path}" first; or ${vmdkRawCopyHint(path)}`,
  });
}

/** A hosted sparse extent (not compressed). Create with SparseWriter.open, which checks the tables. */
export class SparseWriter implements ExtentWriter {
  readonly file: BlockDevice;
  private readonly grainBytes: number;
  private readonly perGt: number;
  /** Sector of the next new grain; never below the file's end rounded up to a grain. */
  private nextSector: number;

  private constructor(
    private readonly extent: SparseExtent,
    private readonly access: SparseWriteAccess,
    private readonly rgd: Uint32Array | null,
    private readonly where: string,
    private readonly path: string,
  ) {
    this.file = access.file;
    this.grainBytes = access.grainBytes;
    this.perGt = extent.header.gtesPerGt;
    this.nextSector = 0;
  }

  /**
   * The writer of `extent`, or null when the extent cannot be written (compressed grains, a stream).
   * Throws UnsupportedError when the extent is marked unclean or its tables are damaged.
   */
  static async open(extent: SparseExtent, where: string, path: string): Promise<SparseWriter | null> {
    const access = extent.writeAccess();
    if (access === null) return null;
    const h = extent.header;
    if (h.unclean) throw uncleanRefusal(where, path);
    let rgd: Uint32Array | null = null;
    if ((h.flags & FLAG_RGD) !== 0 && h.rgdSector !== 0) {
      const bytes = access.gd.length * 4;
      const offset = h.rgdSector * SECTOR;
      if (offset + bytes > access.file.sizeBytes) damaged(where, path, `its redundant grain directory at sector ${h.rgdSector} lies past the end of the file`);
      rgd = toU32(bytes === 0 ? Buffer.alloc(0) : await access.file.read(offset, bytes));
    }
    const writer = new SparseWriter(extent, access, rgd, where, path);
    await writer.check(where, path);
    writer.nextSector = writer.endSector();
    return writer;
  }

  /** Refuses tables that name grains past the end of the file, inside the metadata, or twice. */
  private async check(where: string, path: string): Promise<void> {
    const fileSize = this.file.sizeBytes;
    const gtBytes = this.perGt * 4;
    const overhead = this.extent.header.overheadSectors;
    const seen = new Set<number>();
    const zeroGrain = this.extent.header.zeroGrain;
    for (let gtIndex = 0; gtIndex < this.access.gd.length; gtIndex++) {
      const gtSector = this.access.gd[gtIndex]!;
      if (gtSector === 0) continue;
      if (gtSector * SECTOR + gtBytes > fileSize) damaged(where, path, `grain table ${gtIndex} at sector ${gtSector} lies past the end of the file`);
      const rgdSector = this.rgd?.[gtIndex] ?? 0;
      if (this.rgd !== null && rgdSector !== 0 && rgdSector * SECTOR + gtBytes > fileSize) {
        damaged(where, path, `redundant grain table ${gtIndex} at sector ${rgdSector} lies past the end of the file`);
      }
      const gt = (await this.access.grainTable(gtIndex))!;
      for (let i = 0; i < gt.length; i++) {
        const entry = gt[i]!;
        if (entry === 0 || (entry === 1 && zeroGrain)) continue;
        const grain = gtIndex * this.perGt + i;
        if (entry * SECTOR >= fileSize) damaged(where, path, `grain ${grain} is stored at sector ${entry}, past the end of the file`);
        if (overhead > 0 && entry < overhead) damaged(where, path, `grain ${grain} is stored at sector ${entry}, inside the metadata (overhead ${overhead} sectors)`);
        if (seen.has(entry)) damaged(where, path, `grain ${grain} is stored at sector ${entry}, which another grain uses too`);
        seen.add(entry);
      }
    }
  }

  /** The file's end in sectors, rounded up to a grain. */
  private endSector(): number {
    const g = this.extent.header.grainSectors;
    return Math.ceil(Math.ceil(this.file.sizeBytes / SECTOR) / g) * g;
  }

  async write(byteOffset: number, data: Uint8Array, unallocated: FillUnallocated): Promise<void> {
    const fresh: Fresh[] = [];
    const inPlace: Array<{ fileOffset: number; bytes: Uint8Array }> = [];
    // First find every grain's place, so a missing grain table refuses the write before any byte changes.
    for (let pos = 0; pos < data.length; ) {
      const guest = byteOffset + pos;
      const grain = Math.floor(guest / this.grainBytes);
      const within = guest - grain * this.grainBytes;
      const take = Math.min(data.length - pos, this.grainBytes - within);
      const bytes = data.subarray(pos, pos + take);
      const gtIndex = Math.floor(grain / this.perGt);
      const gt = await this.access.grainTable(gtIndex);
      if (gt === null) {
        throw new DiskFileUnsupportedError('VMDK_NO_GRAIN_TABLE', `${this.where}: grain table ${gtIndex} (for guest grain ${grain}) does not exist; haos-rescue does not create grain tables`, {
          hint: vmdkRawCopyHint(this.path),
          details: { gtIndex, grain },
        });
      }
      const entry = gt[grain - gtIndex * this.perGt]!;
      if (entry === 0 || (entry === 1 && this.extent.header.zeroGrain)) fresh.push({ grain, within, bytes });
      else inPlace.push({ fileOffset: entry * SECTOR + within, bytes });
      pos += take;
    }
    for (const piece of inPlace) await this.file.write(piece.fileOffset, piece.bytes);
    if (fresh.length > 0) await this.allocate(fresh, unallocated);
  }

  /** New grains at the end of the file, then their GTEs (module header: crash order). */
  private async allocate(pieces: Fresh[], unallocated: FillUnallocated): Promise<void> {
    const grainSectors = this.extent.header.grainSectors;
    const first = Math.max(this.nextSector, this.endSector());
    const last = first + pieces.length * grainSectors;
    if (last > MAX_SECTOR) {
      throw new CorruptError('VMDK_FULL', `the VMDK file would grow past 2 TiB (sector ${last}), beyond what a grain table entry can name`, {
        details: { sector: last },
      });
    }
    const perBatch = Math.max(1, Math.floor(MAX_BATCH_BYTES / this.grainBytes));
    for (let at = 0; at < pieces.length; at += perBatch) {
      const batch = pieces.slice(at, at + perBatch);
      const buffer = Buffer.alloc(batch.length * this.grainBytes);
      for (let k = 0; k < batch.length; k++) {
        const piece = batch[k]!;
        const grainStart = piece.grain * this.grainBytes;
        const current = Math.min(this.grainBytes, this.extent.sizeBytes - grainStart);
        const slot = buffer.subarray(k * this.grainBytes, (k + 1) * this.grainBytes);
        // The grain's current guest bytes (zeros, or the parent's); past the extent's end zeros.
        if (piece.within > 0 || piece.bytes.length < this.grainBytes) await this.extent.readInto(grainStart, slot.subarray(0, current), unallocated);
        slot.set(piece.bytes, piece.within);
      }
      await this.file.write((first + at * grainSectors) * SECTOR, buffer);
    }
    await this.file.flush();
    this.nextSector = last;

    await this.writeEntries(pieces, first, this.access.gd);
    if (this.rgd !== null) await this.writeEntries(pieces, first, this.rgd);
    pieces.forEach((piece, k) => {
      const gtIndex = Math.floor(piece.grain / this.perGt);
      this.access.setEntry(gtIndex, piece.grain - gtIndex * this.perGt, first + k * grainSectors);
    });
  }

  /** Points the GTEs of `pieces` at their new grains, in the tables `dir` names; one write per run of neighbours. */
  private async writeEntries(pieces: Fresh[], first: number, dir: Uint32Array): Promise<void> {
    const grainSectors = this.extent.header.grainSectors;
    let k = 0;
    while (k < pieces.length) {
      const gtIndex = Math.floor(pieces[k]!.grain / this.perGt);
      let end = k + 1;
      while (end < pieces.length && pieces[end]!.grain === pieces[end - 1]!.grain + 1 && Math.floor(pieces[end]!.grain / this.perGt) === gtIndex) end++;
      const gtSector = dir[gtIndex] ?? 0;
      if (gtSector !== 0) {
        const entries = Buffer.alloc((end - k) * 4);
        for (let j = k; j < end; j++) entries.writeUInt32LE(first + j * grainSectors, (j - k) * 4);
        await this.file.write(gtSector * SECTOR + (pieces[k]!.grain - gtIndex * this.perGt) * 4, entries);
      }
      k = end;
    }
  }
}

function damaged(where: string, path: string, why: string): never {
  throw new DiskFileUnsupportedError('VMDK_WRITE_DAMAGED', `${where} is damaged, refusing to write into it: ${why}`, {
    hint: vmdkRawCopyHint(path),
    details: { path },
  });
}


// Writing inside a fixed, dynamic or differencing VHDX ([MS-VHDX]; QEMU block/vhdx.c vhdx_co_writev and
// block/vhdx-log.c vhdx_log_write_and_flush). A write to a FULLY_PRESENT block goes in place. A write to
// any other block (NOT_PRESENT, UNDEFINED, ZERO, UNMAPPED, and in a differencing disk PARTIALLY_PRESENT)
// allocates a new payload block at the end of the file, 1 MiB aligned as QEMU does, and writes it whole:
// the block's current guest bytes as the reader sees them (zeros; in a differencing disk the parent's
// bytes where the child has none and the child's sectors where its sector bitmap says so), patched with
// the data. Its BAT entry then changes to FULLY_PRESENT through the log. A fully present block is all in
// this file and its sector bitmap bits are not consulted (§2.5.1.1; this reader and libvhdi read it so),
// so no bitmap changes; nor does the parent, opened read-only.
//
// A partially present block also moves to a new place rather than being rewritten where it is: there,
// the sectors its bitmap marks would show the new bytes at once and the others only after the BAT
// update, so a power cut in between would tear the write. Its old place stays unused in the file.
//
// Order of one allocation batch (every step ends with a flush):
//   1. the new blocks at the end of the file;
//   2. a log entry (vhdx-log-write.ts) with a fresh LogGuid at the start of the log, holding the new
//      BAT sectors;
//   3. a header update naming that LogGuid (from here on, a reader replays the entry);
//   4. the BAT sectors in place;
//   5. a header update with LogGuid zero: the log is empty again, as QEMU's vhdx_log_flush leaves it
//      (QEMU refuses to open a file whose log holds an entry read-only, so it must not stay).
// A cut before 3 leaves unreferenced blocks past the old end (the header names no log, the BAT is old);
// between 3 and 5 the log replays the BAT sectors, over whatever part of step 4 reached the disk. Writing
// the entry before naming its GUID in a header (QEMU does it the other way round) means a header never
// names a log that holds no valid entry, which this tool's reader refuses.
//
// The first write of a session also changes FileWriteGuid and DataWriteGuid first (§2.2.2: a
// differencing child made from this disk must no longer match it), in a header update of its own.

import { AppError } from '../../errors.js';
import { DiskFileUnsupportedError } from './unsupported.js';
import type { BlockDevice } from '../block-device.js';
import { differencingCopyRefusal, rawCopyHint } from './vdi-write.js';
import type { BatReader } from './vhdx-bat.js';
import { BlockState, MiB, overlaps, type Region } from './vhdx-format.js';
import { buildLogEntry, logEntryBytes, newGuid, nextHeader, ZERO_GUID, type HeaderChange, type HeaderState, type LogSector } from './vhdx-log-write.js';
import type { VhdxGeometry } from './vhdx-metadata.js';

const SECTOR = 4096;
/** Payload bytes allocated per batch (one log entry each); at least one block. */
const MAX_BATCH_BYTES = 64 * MiB;

export interface VhdxWritableFacts {
  path: string;
  geometry: VhdxGeometry;
  /** The log was replayed in memory at open: the file itself is not consistent yet. */
  logReplayed: boolean;
  log: Region;
  bat: Region;
  metadata: Region;
  fileSize: number;
}

/** Refuses writing into what this writer cannot keep consistent. */
export function checkVhdxWritable(facts: VhdxWritableFacts): void {
  const { path, geometry } = facts;
  // QEMU does not open a differencing VHDX: its copy comes from this tool's imaging, through the parent.
  const differencing = geometry.parentLocator !== null;
  const copy = differencing ? differencingCopyRefusal(path) : { hint: rawCopyHint(path) };
  const refuse = (code: string, why: string, hint = copy.hint): never => {
    throw new DiskFileUnsupportedError(code, `vhdx ${path}: ${why}; refusing to write into it`, { hint, ...('remedy' in copy ? { remedy: copy.remedy, details: copy.details } : {}) });
  };
  if (facts.logReplayed) {
    const repair = differencing ? 'open it once in Hyper-V' : `open it once in Hyper-V, or run qemu-img check -r all "${path}" (it replays the log into the file)`;
    // qemu-img convert refuses a file whose log is pending; this tool's imaging reads it with the log replayed.
    const own = { remedy: 'raw-image' as const, details: { path } };
    throw new DiskFileUnsupportedError('VHDX_WRITE_LOG_PENDING', `vhdx ${path}: its metadata log holds updates not yet applied to the file (they were replayed in memory only); refusing to write into it`, {
      hint: `${repair}, then try again; or make a raw copy of the whole disk with haos-rescue (qemu-img cannot open the file until its log is replayed) and write to that copy`,
      ...own,
    });
  }
  if (geometry.logicalSectorSize !== 512) {
    // qemu-img does not open such a file at all: the copy comes from this tool's imaging.
    const own = { hint: 'make a raw copy of the whole disk (qemu-img cannot open a VHDX with such sectors), run the command on that copy, and attach the copy to the VM', remedy: 'raw-image' as const, details: { path } };
    throw new DiskFileUnsupportedError('VHDX_WRITE_SECTOR_SIZE', `vhdx ${path}: has ${geometry.logicalSectorSize}-byte logical sectors, which this writer does not handle; refusing to write into it`, own);
  }
  const { log } = facts;
  if (log.length < MiB || log.length % MiB !== 0 || log.fileOffset < MiB || log.fileOffset % MiB !== 0 || log.fileOffset + log.length > facts.fileSize) {
    refuse('VHDX_WRITE_DAMAGED', `its log region (${log.length} bytes at ${log.fileOffset}) is not 1 MiB aligned inside the file`);
  }
  if (overlaps(log, facts.bat) || overlaps(log, facts.metadata)) refuse('VHDX_WRITE_DAMAGED', 'its log overlaps the BAT or the metadata region');
  if (facts.bat.length % SECTOR !== 0) refuse('VHDX_WRITE_DAMAGED', 'its BAT region is not whole 4 KiB sectors');
}

/** Refuses writing into a file whose blocks lie past its end (cut short) or share bytes: new blocks would land on them. */
export async function checkVhdxBlocks(path: string, geometry: VhdxGeometry, bat: BatReader): Promise<void> {
  try {
    await bat.checkEvery();
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    const copy = geometry.parentLocator !== null ? differencingCopyRefusal(path) : { hint: rawCopyHint(path) };
    throw new DiskFileUnsupportedError('VHDX_WRITE_DAMAGED', `vhdx ${path}: ${err.message}; refusing to write into it`, { hint: `the file is cut short or damaged (an interrupted copy?): copy it again from where it came from, or ${copy.hint}`, ...('remedy' in copy ? { remedy: copy.remedy, details: copy.details } : {}) });
  }
}

interface Piece {
  block: number;
  within: number;
  bytes: Uint8Array;
}

/** The guest disk's bytes as they read now (for a differencing disk, through to the parent). */
export type ReadGuest = (byteOffset: number, length: number) => Promise<Buffer>;

/** The write path of a VHDX device. */
export class VhdxWriter {
  private guidsChanged = false;
  private sequence = 1n;

  constructor(
    /** The container file, able to grow (container-file.ts). */
    private readonly file: BlockDevice,
    private readonly geometry: VhdxGeometry,
    private readonly batRegion: Region,
    private readonly bat: BatReader,
    private readonly log: Region,
    private readonly header: HeaderState,
  ) {}

  async write(byteOffset: number, data: Uint8Array, readGuest: ReadGuest): Promise<void> {
    if (data.length === 0) return;
    if (!this.guidsChanged) {
      await this.updateHeader({ newWriteGuids: true });
      this.guidsChanged = true;
    }
    const { blockSize } = this.geometry;
    const fresh: Piece[] = [];
    for (let pos = 0; pos < data.length; ) {
      const guest = byteOffset + pos;
      const block = Math.floor(guest / blockSize);
      const within = guest - block * blockSize;
      const take = Math.min(data.length - pos, blockSize - within);
      const bytes = data.subarray(pos, pos + take);
      const { state, fileOffset } = await this.bat.payload(block);
      if (state === BlockState.FULLY_PRESENT) await this.file.write(fileOffset + within, bytes);
      else fresh.push({ block, within, bytes });
      pos += take;
    }
    const perBatch = Math.max(1, Math.floor(MAX_BATCH_BYTES / blockSize));
    for (let at = 0; at < fresh.length; at += perBatch) await this.allocate(fresh.slice(at, at + perBatch), readGuest);
  }

  /** Allocates and writes the blocks of `pieces`, then points their BAT entries at them through the log. */
  private async allocate(pieces: Piece[], readGuest: ReadGuest): Promise<void> {
    const { blockSize, chunkRatio } = this.geometry;
    // The BAT sectors that change, read as the file holds them now (the log is empty between batches).
    const sectors = new Map<number, Buffer>();
    const entryOffsets = pieces.map((p) => (p.block + Math.floor(p.block / chunkRatio)) * 8);
    for (const offset of entryOffsets) {
      const sector = Math.floor(offset / SECTOR) * SECTOR;
      if (offset + 8 > this.batRegion.length) throw new DiskFileUnsupportedError('VHDX_WRITE_DAMAGED', 'vhdx BAT region is too small for the block written');
      if (!sectors.has(sector)) sectors.set(sector, Buffer.from(await this.file.read(this.batRegion.fileOffset + sector, SECTOR)));
    }
    if (logEntryBytes(sectors.size) > this.log.length) {
      throw new DiskFileUnsupportedError('VHDX_WRITE_LOG_FULL', `vhdx log of ${this.log.length} bytes cannot hold ${sectors.size} BAT sectors`);
    }
    // 1. The blocks, at the 1 MiB aligned end of the file.
    let next = Math.ceil(this.file.sizeBytes / MiB) * MiB;
    for (const [k, piece] of pieces.entries()) {
      await this.file.write(next, await this.newBlock(piece, readGuest));
      const entry = BigInt(BlockState.FULLY_PRESENT) | (BigInt(next / MiB) << 20n);
      const offset = entryOffsets[k]!;
      const sector = Math.floor(offset / SECTOR) * SECTOR;
      sectors.get(sector)!.writeBigUInt64LE(entry, offset - sector);
      next += blockSize;
    }
    await this.file.flush();
    // 2. The log entry, alone in the log under a fresh GUID.
    const logGuid = newGuid();
    const logSectors: LogSector[] = [...sectors].map(([sector, data]) => ({ fileOffset: this.batRegion.fileOffset + sector, data }));
    const size = this.file.sizeBytes;
    const entry = buildLogEntry({ logGuid, sequence: this.sequence++, tail: 0, flushedFileOffset: size, lastFileOffset: size, sectors: logSectors });
    await this.file.write(this.log.fileOffset, entry);
    await this.file.flush();
    // 3. The header names the log: the entry now takes effect.
    await this.updateHeader({ logGuid });
    // 4. The BAT sectors in place.
    for (const { fileOffset, data } of logSectors) await this.file.write(fileOffset, data);
    await this.file.flush();
    this.bat.forget();
    // 5. The log is empty again.
    await this.updateHeader({ logGuid: ZERO_GUID });
  }

  /** The whole block of `piece` as it will be: its current guest bytes (zeros past the disk's end) patched with the data. */
  private async newBlock(piece: Piece, readGuest: ReadGuest): Promise<Buffer> {
    const { blockSize, virtualSize } = this.geometry;
    const block = Buffer.alloc(blockSize);
    if (piece.bytes.length < blockSize) {
      const start = piece.block * blockSize;
      (await readGuest(start, Math.min(blockSize, virtualSize - start))).copy(block);
    }
    block.set(piece.bytes, piece.within);
    return block;
  }

  /** Writes the non-current header with the change and flushes: it becomes the current one. */
  private async updateHeader(change: HeaderChange): Promise<void> {
    const next = nextHeader(this.header, change);
    await this.file.write(next.fileOffset, next.bytes);
    await this.file.flush();
    this.header.bytes = next.bytes;
    this.header.copy = next.copy;
  }
}

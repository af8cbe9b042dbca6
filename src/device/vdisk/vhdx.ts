// Reads the guest disk inside a Hyper-V VHDX file (fixed, dynamic or differencing), after Microsoft
// [MS-VHDX] "Virtual Hard Disk v2 (VHDX) File Format". Layout: a 1 MiB header section (identifier
// "vhdxfile", two headers, two region tables), then regions found through the region table: the BAT
// (one 64-bit entry per payload block, with a sector bitmap entry after every chunkRatio of them) and the
// metadata region (block size, virtual size, sector size, parent locator); and the log (vhdx-log.ts),
// which is replayed in memory first when the current header says it is not empty.
//
// Payload block states (§2.5.1.1): FULLY_PRESENT reads the file; PARTIALLY_PRESENT (differencing only)
// reads the file for sectors whose bit is set in the sector bitmap and the parent for the others;
// NOT_PRESENT reads the parent of a differencing disk and zeros otherwise; UNDEFINED, ZERO and UNMAPPED
// read as zeros (the spec allows zeros for all three). Reads coalesce runs of blocks that lie one after
// another in the file into one file read, so a fixed or freshly converted disk reads near raw speed.
//
// Opened writable (OpenContext.writable), fixed, dynamic and differencing disks are written by
// vhdx-write.ts, BAT updates going through the log (a differencing disk's parent stays read-only);
// otherwise writes throw UnsupportedError. Read order of the code:
// openVhdx, then VhdxDevice.read.

import { UnsupportedError } from '../../errors.js';
import { DiskFileUnsupportedError } from './unsupported.js';
import type { BlockDevice } from '../block-device.js';
import { assertOpen, checkRange } from '../check-range.js';
import { containerFile } from './container-file.js';
import { pastFileEnd } from './cut-short.js';
import type { ContainerDevice, ContainerInfo, OpenContext } from './types.js';
import { BatReader } from './vhdx-bat.js';
import {
  BlockState,
  chooseHeader,
  corrupt,
  HEADER_BYTES,
  HEADER_OFFSETS,
  HEADER_SECTION_BYTES,
  overlaps,
  parseRegionTable,
  REGION_TABLE_BYTES,
  REGION_TABLE_OFFSETS,
  type Region,
} from './vhdx-format.js';
import { replayVhdxLog } from './vhdx-log.js';
import { readVhdxMetadata, type VhdxGeometry } from './vhdx-metadata.js';
import { openVhdxParent, type OpenedParent } from './vhdx-parent.js';
import { checkVhdxBlocks, checkVhdxWritable, VhdxWriter } from './vhdx-write.js';
import { checkForWrites, checkForWritesAsync } from './write-check.js';
import { detectVhdx } from './recognise.js';

export { detectVhdx };

/**
 * Opens the guest disk of the VHDX in `file` (read-only). On failure the parent opened so far is closed;
 * `file` stays with the caller. On success the device owns `file` and closes it.
 */
export async function openVhdx(file: BlockDevice, ctx: OpenContext): Promise<ContainerDevice> {
  if (file.sizeBytes < HEADER_SECTION_BYTES) {
    throw corrupt('VHDX_TRUNCATED', `vhdx ${ctx.path} is ${file.sizeBytes} bytes, shorter than its 1 MiB header section`, { fileSize: file.sizeBytes });
  }
  const id = await file.read(0, 8);
  const notes: string[] = [];
  const warnings: string[] = [];
  if (!detectVhdx(id)) {
    const refusal = corrupt('VHDX_BAD_SIGNATURE', `${ctx.path} does not start with "vhdxfile"`);
    if (ctx.damagedIdentifier !== true || ctx.writable === true) throw refusal;
    // Only the file identifier is damaged (a creator's name beside it): the headers and tables find the data.
    ctx.writeRefused?.(refusal);
    warnings.push('its file identifier ("vhdxfile" at byte 0) is damaged; it is read through its headers, and not written');
  }
  const headerBlocks: [Buffer, Buffer] = [await file.read(HEADER_OFFSETS[0], HEADER_BYTES), await file.read(HEADER_OFFSETS[1], HEADER_BYTES)];
  const header = chooseHeader(headerBlocks);
  const replay = await replayVhdxLog(file, header);
  // Everything past the headers and the log is read through the replayed view (§2.3.3). Writable: the
  // file itself (a replayed log refuses the write below), able to grow for new blocks.
  const writable = ctx.writable === true;
  const view = replay?.device ?? (writable ? containerFile(file, ctx.path) : file);
  if (replay !== null) notes.push(`metadata log replayed in memory (${replay.entries} ${replay.entries === 1 ? 'entry' : 'entries'})`);
  const regions = parseRegionTable(
    [await view.read(REGION_TABLE_OFFSETS[0], REGION_TABLE_BYTES), await view.read(REGION_TABLE_OFFSETS[1], REGION_TABLE_BYTES)],
    view.sizeBytes,
  );
  const geometry = await readVhdxMetadata(view, regions.metadata);
  if (geometry.batEntries > regions.bat.length / 8) {
    throw corrupt('VHDX_BAT_TOO_SMALL', `vhdx BAT region holds ${regions.bat.length / 8} entries, but a ${geometry.virtualSize}-byte disk needs ${geometry.batEntries}`, {
      batLength: regions.bat.length,
      batEntries: geometry.batEntries,
    });
  }
  const reserved: Region[] = [regions.bat, regions.metadata];
  if (replay !== null) {
    const log = { fileOffset: header.logOffset, length: header.logLength };
    if (overlaps(log, regions.bat) || overlaps(log, regions.metadata)) throw corrupt('VHDX_REGION_OVERLAP', 'vhdx log overlaps the BAT or the metadata region', { log });
    reserved.push(log);
  }
  const log = { fileOffset: header.logOffset, length: header.logLength };
  checkForWrites(ctx, () => checkVhdxWritable({ path: ctx.path, geometry, logReplayed: replay !== null, log, bat: regions.bat, metadata: regions.metadata, fileSize: file.sizeBytes }));
  if (writable) reserved.push(log);
  const bat = new BatReader(view, regions.bat, geometry, reserved, ctx.path);
  await checkForWritesAsync(ctx, () => checkVhdxBlocks(ctx.path, geometry, new BatReader(view, regions.bat, geometry, [...reserved, log])));
  const writer = writable ? new VhdxWriter(view, geometry, regions.bat, bat, log, { bytes: headerBlocks[header.copy], copy: header.copy }) : null;
  const parent = geometry.parentLocator === null ? null : await openVhdxParent(geometry.parentLocator, ctx, notes);
  try {
    const container = containerInfo(file, geometry, parent, notes, warnings);
    return new VhdxDevice(file, view, bat, geometry, parent?.device ?? null, container, `vhdx ${ctx.path}`, ctx.path, header.dataWriteGuid, writer);
  } catch (err) {
    await parent?.device.close().catch(() => undefined);
    throw err;
  }
}

function containerInfo(file: BlockDevice, geometry: VhdxGeometry, parent: OpenedParent | null, notes: string[], warnings: string[]): ContainerInfo {
  const parentChain = (parent?.device as Partial<ContainerDevice> | undefined)?.container?.backing ?? [];
  if (geometry.logicalSectorSize !== 512) notes.push(`logical sector size ${geometry.logicalSectorSize} bytes`);
  return {
    format: 'vhdx',
    variant: geometry.hasParent ? 'differencing' : geometry.leaveBlocksAllocated ? 'fixed' : 'dynamic',
    virtualSize: geometry.virtualSize,
    fileSize: file.sizeBytes,
    clusterSize: geometry.blockSize,
    backing: parent === null ? [] : [parent.path, ...parentChain],
    snapshots: [],
    notes,
    warnings,
  };
}

/** A piece of a read: bytes from the file, from the parent (at the same guest offset), or zeros. */
interface Piece {
  kind: 'file' | 'parent' | 'zero';
  /** Offset in the caller's buffer. */
  at: number;
  length: number;
  /** File offset for 'file', guest offset for 'parent'. */
  source: number;
}

class VhdxDevice implements ContainerDevice {
  readonly sizeBytes: number;
  readonly sectorSize: number;
  readonly writable: boolean;
  private closed = false;

  constructor(
    private readonly file: BlockDevice,
    private readonly view: BlockDevice,
    private readonly bat: BatReader,
    private readonly geometry: VhdxGeometry,
    private readonly parent: BlockDevice | null,
    readonly container: ContainerInfo,
    readonly description: string,
    private readonly path: string,
    /** For a child's parent_linkage check (vhdx-parent.ts). */
    readonly vhdxDataWriteGuid: string,
    private readonly writer: VhdxWriter | null = null,
  ) {
    this.writable = writer !== null;
    this.sizeBytes = geometry.virtualSize;
    this.sectorSize = geometry.logicalSectorSize;
  }

  async read(byteOffset: number, length: number, into?: Buffer): Promise<Buffer> {
    assertOpen(this.closed, this.description);
    checkRange(this, 'read', byteOffset, length);
    const out = into !== undefined && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafe(length);
    const pieces = await this.plan(byteOffset, length);
    for (const piece of pieces) await this.fill(out, piece, byteOffset);
    return out;
  }

  /** Splits a guest range into file, parent and zero pieces, merging neighbours of the same kind. */
  private async plan(byteOffset: number, length: number): Promise<Piece[]> {
    const { blockSize } = this.geometry;
    const pieces: Piece[] = [];
    let pos = byteOffset;
    const end = byteOffset + length;
    while (pos < end) {
      const block = Math.floor(pos / blockSize);
      const within = pos - block * blockSize;
      const n = Math.min(blockSize - within, end - pos);
      const { state, fileOffset } = await this.bat.payload(block, true);
      if (state === BlockState.FULLY_PRESENT) {
        push(pieces, { kind: 'file', at: pos - byteOffset, length: n, source: fileOffset + within });
      } else if (state === BlockState.PARTIALLY_PRESENT) {
        await this.planPartial(pieces, block, fileOffset, pos, n, byteOffset);
      } else if (state === BlockState.NOT_PRESENT && this.parent !== null) {
        push(pieces, { kind: 'parent', at: pos - byteOffset, length: n, source: pos });
      } else {
        push(pieces, { kind: 'zero', at: pos - byteOffset, length: n, source: 0 });
      }
      pos += n;
    }
    return pieces;
  }

  /** A partially present block: runs of sectors from the file or the parent, per the sector bitmap. */
  private async planPartial(pieces: Piece[], block: number, fileOffset: number, pos: number, n: number, base: number): Promise<void> {
    const { blockSize, chunkRatio, logicalSectorSize: ss } = this.geometry;
    const bits = await this.bat.bitmap(Math.floor(block / chunkRatio));
    const blockStart = block * blockSize;
    // Bit index of the block's first sector within its chunk's bitmap.
    const firstBit = (block % chunkRatio) * (blockSize / ss);
    let at = pos;
    const end = pos + n;
    while (at < end) {
      const sector = Math.floor((at - blockStart) / ss);
      const bit = firstBit + sector;
      const present = ((bits[bit >>> 3]! >>> (bit & 7)) & 1) === 1;
      const stop = Math.min(end, blockStart + (sector + 1) * ss);
      const length = stop - at;
      if (present) push(pieces, { kind: 'file', at: at - base, length, source: fileOffset + (at - blockStart) });
      else push(pieces, { kind: 'parent', at: at - base, length, source: at });
      at = stop;
    }
  }

  private async fill(out: Buffer, piece: Piece, base: number): Promise<void> {
    const target = out.subarray(piece.at, piece.at + piece.length);
    if (piece.kind === 'zero') {
      target.fill(0);
    } else if (piece.kind === 'file') {
      if (piece.source + piece.length > this.view.sizeBytes) {
        const what = `the disk's bytes at ${base + piece.at}`;
        throw pastFileEnd({ path: this.path, fileSize: this.view.sizeBytes, fileOffset: piece.source, length: piece.length, what, formatCode: 'VHDX_BLOCK_OUTSIDE_FILE' });
      }
      copyInto(target, await this.view.read(piece.source, piece.length, target));
    } else {
      // A parent smaller than the child (resized child): the part past its end reads as zeros.
      const parent = this.parent!;
      const available = Math.max(0, Math.min(piece.length, parent.sizeBytes - piece.source));
      if (available > 0) copyInto(target, await parent.read(piece.source, available, target));
      target.fill(0, available);
    }
  }

  async write(byteOffset: number, data: Uint8Array): Promise<void> {
    assertOpen(this.closed, this.description);
    if (this.writer === null) {
      throw new DiskFileUnsupportedError('VDISK_READ_ONLY', 'this vhdx file was opened read-only', {
        hint: `make a raw copy to write to: qemu-img convert -O raw "${this.path}" disk.img`,
      });
    }
    checkRange(this, 'write', byteOffset, data.length);
    await this.writer.write(byteOffset, data, (offset, length) => this.read(offset, length));
  }

  async flush(): Promise<void> {
    if (this.writer === null) return;
    assertOpen(this.closed, this.description);
    await this.view.flush();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      if (this.writer !== null) await this.view.flush();
      if (this.view !== this.file) await this.view.close();
      await this.parent?.close();
    } finally {
      await this.file.close();
    }
  }
}

/** Appends a piece, merging it into the previous one when they continue each other. */
function push(pieces: Piece[], piece: Piece): void {
  const last = pieces[pieces.length - 1];
  if (last !== undefined && last.kind === piece.kind && last.at + last.length === piece.at && (piece.kind === 'zero' || last.source + last.length === piece.source)) {
    last.length += piece.length;
    return;
  }
  pieces.push(piece);
}

/** Copies a device's result into `target` unless the device already read into it. */
function copyInto(target: Buffer, got: Buffer): void {
  if (got.buffer !== target.buffer || got.byteOffset !== target.byteOffset) got.copy(target, 0, 0, target.length);
}


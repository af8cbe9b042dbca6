// Writing inside a VHD file (fixed, dynamic and differencing disks), in the order of QEMU's block/vpc.c
// (alloc_block, vpc_co_pwritev). A fixed disk is written in place. In a dynamic or differencing disk, a
// write to an allocated block goes in place; a sector whose bitmap bit is clear (never written here:
// zeros on a dynamic disk, the parent's bytes on a differencing one) is written whole, its current bytes
// around the data, and its bit set afterwards. A write to an unallocated block appends a new block where
// the footer was: its sector bitmap (all ones, as QEMU and Hyper-V allocate) and its data (the block's
// current bytes, zeros or the parent's, patched with the written bytes), followed by the footer at the
// new end of the file; then the BAT entry points at it. The parent of a differencing disk is only read
// (OpenContext.openBacking opens it read-only): every sector written lands in the child.
//
// Crash order (VHD specification, "Block Allocation Table and Data Blocks": the footer must stay the last
// 512 bytes): (1) the data in place, the new blocks and the footer after them, in one write per batch;
// flush; (2) the BAT entries and the bitmap sectors; the caller's flush makes them durable. A cut before
// (2) leaves unreferenced blocks before a valid footer (QEMU reads the footer copy at byte 0 of a dynamic
// disk anyway), and sectors whose new bytes are invisible until their bit is set: the guest reads the old
// bytes (zeros or the parent's) there until then.

import { RefusedError } from '../../errors.js';
import { DiskFileUnsupportedError } from './unsupported.js';
import type { BlockDevice } from '../block-device.js';
import { differencingCopyRefusal, rawCopyHint } from './vdi-write.js';
import { FOOTER_SIZE } from './vhd-format.js';

const SECTOR = 512;
const BAT_UNUSED = 0xffffffff;
const MAX_BATCH_BYTES = 64 << 20;

export interface VhdWriteLayout {
  blockSize: number;
  bitmapBytes: number;
  /** Shared with the reader: updated when a block is allocated. */
  bat: Uint32Array;
  tableOffset: number;
  /** The file's own structures before the blocks: the footer copy, the dynamic header, the BAT. */
  metadata: ReadonlyArray<{ start: number; end: number }>;
}

/** Whether bytes `start`..`end` lie over one of the file's own structures. */
export function overMetadata(layout: Pick<VhdWriteLayout, 'metadata'>, start: number, end: number): boolean {
  return layout.metadata.some((m) => start < m.end && m.start < end);
}

/** What the writer needs from the device that reads the disk. */
export interface VhdBlockAccess {
  /** The guest size: the last block may be cut short by it. */
  readonly sizeBytes: number;
  bitmap(index: number, entry: number): Promise<Buffer>;
  forgetBitmap(index: number): void;
  readGuest(byteOffset: number, length: number): Promise<Buffer>;
}

export interface VhdWritableFacts {
  path: string;
  diskType: 'fixed' | 'dynamic' | 'differencing';
  /** The footer's saved-state flag: a suspended VM holds this disk's state in its memory image. */
  savedState: boolean;
  /** The footer at the end of the file failed its checks and the copy at byte 0 was used. */
  footerFromCopy: boolean;
  fileSize: number;
  /** Bytes the dynamic header and BAT end at (0 for a fixed disk). */
  metadataEnd: number;
}

/**
 * Refuses writing where QEMU's order cannot keep the disk consistent or the reader saw damage. A
 * differencing disk is written like a dynamic one; its parent is never written.
 */
export function checkVhdWritable(facts: VhdWritableFacts, layout: VhdWriteLayout | null): void {
  const refuse = (code: string, why: string): never => {
    const advice = facts.diskType === 'differencing' ? differencingCopyRefusal(facts.path) : { hint: rawCopyHint(facts.path) };
    throw new DiskFileUnsupportedError(code, `VHD ${facts.path}: ${why}; refusing to write into it`, advice);
  };
  if (facts.savedState) {
    // The specification forbids modifying a disk in saved state; the VM would resume with stale caches.
    throw new RefusedError('VHD_WRITE_SAVED_STATE', `VHD ${facts.path} belongs to a virtual machine in saved state; refusing to write into it`, {
      hint: 'start the virtual machine and shut it down properly (not save or suspend it), then try again',
    });
  }
  if (facts.footerFromCopy) refuse('VHD_WRITE_DAMAGED', 'the footer at the end of the file is damaged');
  if (layout === null) return;
  const footerAt = facts.fileSize - FOOTER_SIZE;
  if (facts.fileSize % SECTOR !== 0) refuse('VHD_WRITE_DAMAGED', `the file size ${facts.fileSize} is not a whole number of sectors`);
  if (facts.metadataEnd > footerAt) refuse('VHD_WRITE_DAMAGED', 'the dynamic header or BAT overlaps the footer');
  const problem = blockProblem(layout, footerAt);
  if (problem !== null) refuse('VHD_WRITE_DAMAGED', problem);
}

/**
 * A BAT entry whose block runs into the footer, lies over the file's own header or BAT (an entry of 0: a write
 * there went over the footer copy and the header), or shares bytes with another block: what is wrong, or null.
 */
function blockProblem(layout: VhdWriteLayout, footerAt: number): string | null {
  const placed: Array<{ index: number; start: number; end: number }> = [];
  for (let i = 0; i < layout.bat.length; i++) {
    const entry = layout.bat[i]!;
    if (entry === BAT_UNUSED) continue;
    const start = entry * SECTOR;
    const end = start + layout.bitmapBytes + layout.blockSize;
    if (end > footerAt) return `block ${i} at sector ${entry} runs into the footer or past the end of the file`;
    if (overMetadata(layout, start, end)) return `block ${i} at sector ${entry} lies over the file's own header or BAT`;
    placed.push({ index: i, start, end });
  }
  placed.sort((a, b) => a.start - b.start);
  for (let k = 1; k < placed.length; k++) {
    const [a, b] = [placed[k - 1]!, placed[k]!];
    if (b.start < a.end) return `blocks ${Math.min(a.index, b.index)} and ${Math.max(a.index, b.index)} share bytes of the file`;
  }
  return null;
}

interface Piece {
  index: number;
  within: number;
  bytes: Uint8Array;
}

/** The write path of a VHD device. */
export class VhdWriter {
  /** Where the next block goes: the footer's place. */
  private nextBlockOffset: number;

  constructor(
    private readonly file: BlockDevice,
    private readonly path: string,
    private readonly footer: Buffer,
    private readonly layout: VhdWriteLayout | null,
    private readonly access: VhdBlockAccess,
    private readonly differencing: boolean,
  ) {
    this.nextBlockOffset = file.sizeBytes - FOOTER_SIZE;
  }

  async write(byteOffset: number, data: Uint8Array): Promise<void> {
    const layout = this.layout;
    if (layout === null) return this.file.write(byteOffset, data);
    const fresh: Piece[] = [];
    const bitmaps: Array<{ index: number; entry: number; bitmap: Buffer }> = [];
    let pos = 0;
    while (pos < data.length) {
      const guest = byteOffset + pos;
      const index = Math.floor(guest / layout.blockSize);
      const within = guest - index * layout.blockSize;
      const take = Math.min(data.length - pos, layout.blockSize - within);
      const piece = { index, within, bytes: data.subarray(pos, pos + take) };
      const entry = layout.bat[index]!;
      if (entry === BAT_UNUSED) fresh.push(piece);
      else {
        const bitmap = await this.writeInPlace(layout, entry, piece);
        if (bitmap !== null) bitmaps.push({ index, entry, bitmap });
      }
      pos += take;
    }
    const entries = fresh.length > 0 ? await this.appendBlocks(layout, fresh) : [];
    if (entries.length === 0 && bitmaps.length === 0) return;
    await this.file.flush();
    if (entries.length > 0) {
      // The pieces of one write are consecutive guest blocks: their BAT entries are one run.
      const bytes = Buffer.alloc(entries.length * 4);
      entries.forEach((entry, k) => bytes.writeUInt32BE(entry, k * 4));
      await this.file.write(layout.tableOffset + fresh[0]!.index * 4, bytes);
      fresh.forEach((piece, k) => {
        layout.bat[piece.index] = entries[k]!;
      });
    }
    for (const { index, entry, bitmap } of bitmaps) {
      await this.file.write(entry * SECTOR, bitmap);
      this.access.forgetBitmap(index);
    }
  }

  /**
   * Writes a piece into its allocated block. Returns the block's new bitmap when sectors whose bit was
   * clear were written (whole, their current bytes around the data: zeros, or the parent's on a
   * differencing disk), to be written after a flush; else null.
   */
  private async writeInPlace(layout: VhdWriteLayout, entry: number, piece: Piece): Promise<Buffer | null> {
    const dataStart = entry * SECTOR + layout.bitmapBytes;
    const bitmap = await this.access.bitmap(piece.index, entry);
    const first = Math.floor(piece.within / SECTOR);
    const end = Math.ceil((piece.within + piece.bytes.length) / SECTOR);
    let allSet = true;
    for (let s = first; s < end && allSet; s++) allSet = (bitmap[s >>> 3]! & (0x80 >>> (s & 7))) !== 0;
    if (allSet) {
      await this.file.write(dataStart + piece.within, piece.bytes);
      return null;
    }
    const sectors = await this.access.readGuest(piece.index * layout.blockSize + first * SECTOR, (end - first) * SECTOR);
    sectors.set(piece.bytes, piece.within - first * SECTOR);
    await this.file.write(dataStart + first * SECTOR, sectors);
    const updated = Buffer.from(bitmap);
    for (let s = first; s < end; s++) updated[s >>> 3]! |= 0x80 >>> (s & 7);
    return updated;
  }

  /** Writes the new blocks where the footer was and the footer after them; returns their BAT entries. */
  private async appendBlocks(layout: VhdWriteLayout, pieces: Piece[]): Promise<number[]> {
    const slot = layout.bitmapBytes + layout.blockSize;
    const perBatch = Math.max(1, Math.floor(MAX_BATCH_BYTES / slot));
    const entries: number[] = [];
    for (let at = 0; at < pieces.length; at += perBatch) {
      const batch = pieces.slice(at, at + perBatch);
      const start = this.nextBlockOffset;
      const lastSector = (start + (batch.length - 1) * slot) / SECTOR;
      if (lastSector >= BAT_UNUSED) {
        const advice = this.differencing ? differencingCopyRefusal(this.path) : { hint: rawCopyHint(this.path) };
        throw new DiskFileUnsupportedError('VHD_WRITE_TOO_LARGE', `VHD ${this.path} would grow past the 2 TiB a BAT entry can address`, advice);
      }
      const buffer = Buffer.alloc(batch.length * slot + FOOTER_SIZE);
      for (const [k, piece] of batch.entries()) {
        buffer.fill(0xff, k * slot, k * slot + layout.bitmapBytes);
        await this.fillBlock(layout, piece, buffer.subarray(k * slot + layout.bitmapBytes, (k + 1) * slot));
        entries.push((start + k * slot) / SECTOR);
      }
      this.footer.copy(buffer, batch.length * slot, 0, FOOTER_SIZE);
      await this.file.write(start, buffer);
      this.nextBlockOffset = start + batch.length * slot;
    }
    return entries;
  }

  /**
   * The data of a new block: the block's current guest bytes (zeros on a dynamic disk, the parent's on a
   * differencing one, read through the device) patched with the piece; past the guest's end zeros.
   */
  private async fillBlock(layout: VhdWriteLayout, piece: Piece, data: Buffer): Promise<void> {
    const blockStart = piece.index * layout.blockSize;
    const current = Math.min(layout.blockSize, this.access.sizeBytes - blockStart);
    if (piece.within > 0 || piece.bytes.length < current) data.set(await this.access.readGuest(blockStart, current));
    data.set(piece.bytes, piece.within);
  }
}

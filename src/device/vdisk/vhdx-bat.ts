// The block allocation table of a VHDX ([MS-VHDX] §2.5), read lazily: a 2 TiB disk with 1 MiB blocks has
// a 16 MiB BAT, and opening it must not read it all. Entries are read in 64 KiB pages kept in a bounded
// cache; payload entry i sits at i + floor(i / chunkRatio), and the sector bitmap entry of chunk c at
// c * (chunkRatio + 1) + chunkRatio, because each chunk's bitmap entry follows its payload entries.
//
// Each entry is checked when it is used: a block must lie past the header section, inside the file, and
// clear of the BAT, the metadata region and the log; otherwise the disk is corrupt, and reads say so
// rather than return zeros. For reads, a block that runs past the end of the file is let through (a file
// cut short, as an interrupted copy leaves it): the reader fails only the reads of bytes past the end, and
// a sector bitmap past the end is said as the file cut short.

import type { BlockDevice } from '../block-device.js';
import { BlockState, corrupt, decodeBatEntry, HEADER_SECTION_BYTES, MiB, overlaps, SB_BLOCK_PRESENT, type BatEntry, type Region } from './vhdx-format.js';
import type { VhdxGeometry } from './vhdx-metadata.js';
import { pastFileEnd } from './cut-short.js';

const PAGE_BYTES = 64 * 1024;
const MAX_PAGES = 512;
const MAX_BITMAPS = 8;

export interface PayloadBlock {
  state: number;
  /** Byte offset of the block in the file (FULLY_PRESENT and PARTIALLY_PRESENT only; else -1). */
  fileOffset: number;
}

export class BatReader {
  private readonly pages = new Map<number, Buffer>();
  private readonly bitmaps = new Map<number, Buffer>();

  constructor(
    private readonly file: BlockDevice,
    private readonly bat: Region,
    private readonly geometry: VhdxGeometry,
    /** Regions no block may overlap: BAT, metadata, log. */
    private readonly reserved: Region[],
    /** The disk file's path, for what a read past its end says. */
    private readonly path = 'the VHDX file',
  ) {}

  /**
   * The state and file offset of payload block `block`. `pastEnd`: a block that runs past the end of the
   * file is returned (for reads, which check their own bytes) rather than refused.
   */
  async payload(block: number, pastEnd = false): Promise<PayloadBlock> {
    const { chunkRatio, blockSize, virtualSize } = this.geometry;
    const entry = await this.entry(block + Math.floor(block / chunkRatio));
    if (entry.state !== BlockState.FULLY_PRESENT && entry.state !== BlockState.PARTIALLY_PRESENT) {
      if (entry.state === 4) {
        throw corrupt('VHDX_BAD_BLOCK_STATE', `vhdx BAT entry of block ${block} has the reserved state 4`, { block, state: entry.state });
      }
      return { state: entry.state, fileOffset: -1 };
    }
    if (entry.state === BlockState.PARTIALLY_PRESENT && !this.geometry.hasParent) {
      throw corrupt('VHDX_BAD_BLOCK_STATE', `vhdx block ${block} is partially present, which only a differencing disk may be`, { block });
    }
    // The last block may extend past the virtual size; only the part the disk uses must be in the file.
    const used = Math.min(blockSize, virtualSize - block * blockSize);
    return { state: entry.state, fileOffset: this.place(entry, used, `block ${block}`, pastEnd) };
  }

  /**
   * Every allocated payload block checked (inside the file, clear of the regions) and no two sharing bytes of
   * the file: the writer's check before it allocates. A file cut short kept a BAT entry past its end, where
   * the next new block went: two guest blocks then shared those bytes.
   */
  async checkEvery(): Promise<void> {
    const { blockSize, virtualSize } = this.geometry;
    const placed: Array<[number, number]> = [];
    for (let b = 0; b < Math.ceil(virtualSize / blockSize); b++) {
      const p = await this.payload(b);
      if (p.fileOffset >= 0) placed.push([p.fileOffset, b]);
    }
    placed.sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < placed.length; i++) {
      const [prev, a] = placed[i - 1]!;
      const [at, b] = placed[i]!;
      if (prev + blockSize > at) throw corrupt('VHDX_BLOCK_SHARED', `vhdx blocks ${a} and ${b} share bytes of the file (at ${prev} and ${at}, ${blockSize}-byte blocks)`, { blocks: [a, b] });
    }
  }

  /** Drops the cached BAT pages and bitmaps: the writer changed the BAT in the file. */
  forget(): void {
    this.pages.clear();
    this.bitmaps.clear();
  }

  /** The bits of the sector bitmap block of `chunk` (1 = sector in this file, 0 = read the parent). */
  async bitmap(chunk: number): Promise<Buffer> {
    const cached = this.bitmaps.get(chunk);
    if (cached !== undefined) return cached;
    const { chunkRatio } = this.geometry;
    const entry = await this.entry(chunk * (chunkRatio + 1) + chunkRatio);
    if (entry.state !== SB_BLOCK_PRESENT) {
      throw corrupt('VHDX_MISSING_SECTOR_BITMAP', `vhdx chunk ${chunk} has partially present blocks but no sector bitmap (state ${entry.state})`, {
        chunk,
        state: entry.state,
      });
    }
    const what = `the sector bitmap of chunk ${chunk}`;
    const fileOffset = this.place(entry, MiB, what, true);
    if (fileOffset + MiB > this.file.sizeBytes) {
      throw pastFileEnd({ path: this.path, fileSize: this.file.sizeBytes, fileOffset, length: MiB, what, formatCode: 'VHDX_BLOCK_OUTSIDE_FILE' });
    }
    const bits = await this.file.read(fileOffset, MiB);
    if (this.bitmaps.size >= MAX_BITMAPS) this.bitmaps.clear();
    this.bitmaps.set(chunk, bits);
    return bits;
  }

  /** Checks where an allocated block lies and returns its byte offset. */
  private place(entry: BatEntry, length: number, what: string, pastEnd = false): number {
    const fileOffset = entry.fileOffsetMb * MiB;
    const block = { fileOffset, length };
    if (fileOffset < HEADER_SECTION_BYTES || (!pastEnd && fileOffset + length > this.file.sizeBytes)) {
      throw corrupt('VHDX_BLOCK_OUTSIDE_FILE', `vhdx ${what} at byte ${fileOffset} (${length} bytes) is not inside the ${this.file.sizeBytes}-byte file past its header`, {
        fileOffset,
        length,
        fileSize: this.file.sizeBytes,
      });
    }
    if (this.reserved.some((r) => overlaps(r, block))) {
      throw corrupt('VHDX_BLOCK_OVERLAP', `vhdx ${what} at byte ${fileOffset} overlaps the BAT, the metadata region or the log`, { fileOffset, length });
    }
    return fileOffset;
  }

  private async entry(index: number): Promise<BatEntry> {
    const byte = index * 8;
    const page = Math.floor(byte / PAGE_BYTES);
    let bytes = this.pages.get(page);
    if (bytes === undefined) {
      const start = page * PAGE_BYTES;
      bytes = await this.file.read(this.bat.fileOffset + start, Math.min(PAGE_BYTES, this.bat.length - start));
      if (this.pages.size >= MAX_PAGES) this.pages.clear();
      this.pages.set(page, bytes);
    }
    return decodeBatEntry(bytes, byte - page * PAGE_BYTES);
  }
}

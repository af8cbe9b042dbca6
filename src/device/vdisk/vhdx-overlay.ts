// The in-memory result of a VHDX log replay (vhdx-log.ts): the file as it would be after the replay,
// without writing it. Data descriptors put whole 4 KiB sectors; zero descriptors zero ranges that can be
// large (a crafted or a real log may zero gigabytes), so zeroed ranges are kept as intervals rather than
// as memory, which is why this is not a CowDevice. Later writes win: zeroing drops the sectors put
// before it, and a read applies the zero intervals first, then the sectors that remain.
//
// The replay may also extend the file (LastFileOffset, §2.3.3): bytes past the real file's end read as
// zeros, as the extended file would.

import type { BlockDevice } from '../block-device.js';
import { assertOpen, assertWritable, checkRange } from '../check-range.js';

const SECTOR = 4096;

export class LogOverlayDevice implements BlockDevice {
  readonly sectorSize: number;
  readonly description: string;
  readonly writable = false;
  private readonly sectors = new Map<number, Buffer>();
  private sortedSectors: number[] | null = [];
  private readonly zeros: Array<[number, number]> = [];
  private mergedZeros: Array<[number, number]> | null = [];
  private closed = false;

  constructor(
    private readonly inner: BlockDevice,
    readonly sizeBytes: number,
  ) {
    this.sectorSize = inner.sectorSize;
    this.description = `${inner.description} (vhdx log replayed in memory)`;
  }

  /** Records a 4 KiB sector written by the log at a 4 KiB aligned offset. */
  put(fileOffset: number, sector: Buffer): void {
    this.sectors.set(fileOffset / SECTOR, sector);
    this.sortedSectors = null;
  }

  /**
   * Records [fileOffset, fileOffset + length) zeroed by the log; sectors put earlier in it are dropped,
   * looking at whichever is fewer: the sectors in the range or the sectors put so far. Returns how many
   * it looked at, so the replay can bound its work.
   */
  zero(fileOffset: number, length: number): number {
    if (length === 0) return 0;
    const end = fileOffset + length;
    this.zeros.push([fileOffset, end]);
    this.mergedZeros = null;
    const rangeSectors = length / SECTOR;
    const looked = Math.min(rangeSectors, this.sectors.size);
    if (rangeSectors < this.sectors.size) {
      for (let index = fileOffset / SECTOR; index < end / SECTOR; index++) this.sectors.delete(index);
    } else {
      for (const index of this.sectors.keys()) if (index * SECTOR >= fileOffset && index * SECTOR < end) this.sectors.delete(index);
    }
    this.sortedSectors = null;
    return looked;
  }

  async read(byteOffset: number, length: number, into?: Buffer): Promise<Buffer> {
    assertOpen(this.closed, this.description);
    checkRange(this, 'read', byteOffset, length);
    const end = byteOffset + length;
    const innerEnd = Math.min(end, this.inner.sizeBytes);
    let out: Buffer;
    if (innerEnd > byteOffset) {
      const got = await this.inner.read(byteOffset, innerEnd - byteOffset, into);
      out = got.length === length ? got : Buffer.concat([got, Buffer.alloc(length - got.length)]);
    } else {
      out = Buffer.alloc(length);
    }
    const zeros = this.merged();
    for (let i = firstEndingAfter(zeros, byteOffset); i < zeros.length && zeros[i]![0] < end; i++) {
      const [a, b] = zeros[i]!;
      out.fill(0, Math.max(a, byteOffset) - byteOffset, Math.min(b, end) - byteOffset);
    }
    this.patchSectors(out, byteOffset, end);
    return out;
  }

  private patchSectors(out: Buffer, start: number, end: number): void {
    const keys = this.sorted();
    let lo = 0;
    let hi = keys.length;
    const first = Math.floor(start / SECTOR);
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (keys[mid]! < first) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < keys.length && keys[i]! * SECTOR < end; i++) {
      const at = keys[i]! * SECTOR;
      const sector = this.sectors.get(keys[i]!)!;
      const a = Math.max(at, start);
      const b = Math.min(at + SECTOR, end);
      sector.copy(out, a - start, a - at, b - at);
    }
  }

  /** The zeroed ranges sorted and merged: their order no longer matters once the sectors are settled. */
  private merged(): Array<[number, number]> {
    if (this.mergedZeros === null) {
      const sorted = [...this.zeros].sort((x, y) => x[0] - y[0]);
      const merged: Array<[number, number]> = [];
      for (const [a, b] of sorted) {
        const last = merged[merged.length - 1];
        if (last !== undefined && a <= last[1]) last[1] = Math.max(last[1], b);
        else merged.push([a, b]);
      }
      this.mergedZeros = merged;
    }
    return this.mergedZeros;
  }

  private sorted(): number[] {
    if (this.sortedSectors === null) this.sortedSectors = [...this.sectors.keys()].sort((x, y) => x - y);
    return this.sortedSectors;
  }

  async write(): Promise<void> {
    // Never called: the overlay is only handed to the VHDX parsers, which read.
    assertWritable(this);
  }

  async flush(): Promise<void> {}

  /** Discards the replay; the inner file is closed by its owner. */
  async close(): Promise<void> {
    this.closed = true;
    this.sectors.clear();
  }
}

/** Index of the first range ending after `offset` in ranges sorted and merged (ranges.length if none). */
function firstEndingAfter(ranges: Array<[number, number]>, offset: number): number {
  let lo = 0;
  let hi = ranges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ranges[mid]![1] > offset) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

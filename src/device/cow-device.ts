// A copy-on-write overlay: writes land in memory, reads see the overlay over the inner device, and the
// inner device is never written (it may be read-only). Journal replay writes into one so the reader
// sees the post-replay filesystem without touching the disk, and the password-reset plan is checked on
// one before anything is committed (design.md §5 steps 1 and 3).
//
// Written bytes live in fixed-size chunks keyed by offset / chunkSize; a separate sorted, merged list
// of written ranges says which bytes of those chunks are real, so partial chunk writes never need to
// read the inner device. A read makes at most ONE inner read for its whole range, then patches the
// written ranges over it; a read entirely covered by written ranges makes none.
//
// The overlay owns only its memory: close() discards it and does not close the inner device.

import { UsageError } from '../errors.js';
import type { BlockDevice } from './block-device.js';
import { assertOpen, checkRange } from './check-range.js';

const SLAB_BYTES = 1024 * 1024;

export interface ByteRange {
  byteOffset: number;
  length: number;
}

export interface CowDeviceOptions {
  /** Bytes per overlay chunk. Default 4096. */
  chunkSize?: number;
  description?: string;
}

/** A half-open interval [start, end) of written bytes. */
interface Span {
  start: number;
  end: number;
}

export class CowDevice implements BlockDevice {
  readonly sizeBytes: number;
  readonly sectorSize: number;
  readonly description: string;
  readonly writable = true;
  private readonly chunkSize: number;
  private readonly chunks = new Map<number, Buffer>();
  /** Chunks that are views of adopted data (adopt()), copied before any write changes them. */
  private readonly adopted = new Set<number>();
  /** Sorted by start, merged: spans[i].end < spans[i + 1].start (touching spans are merged too). */
  private spans: Span[] = [];
  private closed = false;
  private slab: Buffer | null = null;
  private slabUsed = 0;

  constructor(
    readonly inner: BlockDevice,
    options: CowDeviceOptions = {},
  ) {
    const chunkSize = options.chunkSize ?? 4096;
    if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) {
      throw new UsageError('BAD_CHUNK_SIZE', `copy-on-write chunk size ${chunkSize} is not a positive whole number`);
    }
    this.chunkSize = chunkSize;
    this.sizeBytes = inner.sizeBytes;
    this.sectorSize = inner.sectorSize;
    this.description = options.description ?? `${inner.description} (with in-memory changes)`;
  }

  async read(byteOffset: number, length: number, into?: Buffer): Promise<Buffer> {
    assertOpen(this.closed, this.description);
    checkRange(this, 'read', byteOffset, length);
    const end = byteOffset + length;
    if (length === 0) return Buffer.alloc(0);
    const first = this.spans[this.firstEndingAfter(byteOffset)];
    if (first !== undefined && first.start <= byteOffset && first.end >= end) {
      const result = into && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafeSlow(length);
      this.copyFromChunks(result, 0, byteOffset, end);
      return result;
    }
    const result = await this.inner.read(byteOffset, length, into);
    // Patch after the read completes, so writes made while it was in flight are seen too.
    this.patch(result, byteOffset, end);
    return result;
  }

  async write(byteOffset: number, data: Uint8Array): Promise<void> {
    assertOpen(this.closed, this.description);
    checkRange(this, 'write', byteOffset, data.length);
    if (data.length === 0) return;
    let pos = byteOffset;
    const end = byteOffset + data.length;
    while (pos < end) {
      const index = Math.floor(pos / this.chunkSize);
      const within = pos - index * this.chunkSize;
      const n = Math.min(this.chunkSize - within, end - pos);
      let chunk = this.chunks.get(index);
      if (chunk === undefined || this.adopted.delete(index)) {
        // A chunk that is a view of adopted data is copied before it changes: that data is not ours.
        const copy = this.newChunk();
        if (chunk !== undefined) copy.set(chunk);
        chunk = copy;
        this.chunks.set(index, chunk);
      }
      chunk.set(data.subarray(pos - byteOffset, pos - byteOffset + n), within);
      pos += n;
    }
    this.addSpan(byteOffset, end);
  }

  /**
   * Like write(), but the whole chunks inside `data` are kept as views of it, not copied: for large data
   * the caller will not change again (a new file's content, planned once). The ends are copied.
   */
  async adopt(byteOffset: number, data: Uint8Array): Promise<void> {
    const cs = this.chunkSize;
    const firstWhole = Math.ceil(byteOffset / cs) * cs;
    const endWhole = Math.floor((byteOffset + data.length) / cs) * cs;
    if (endWhole - firstWhole < cs) return this.write(byteOffset, data);
    assertOpen(this.closed, this.description);
    checkRange(this, 'write', byteOffset, data.length);
    const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    await this.write(byteOffset, view.subarray(0, firstWhole - byteOffset));
    for (let at = firstWhole; at < endWhole; at += cs) {
      this.chunks.set(at / cs, view.subarray(at - byteOffset, at - byteOffset + cs));
      this.adopted.add(at / cs);
    }
    this.addSpan(firstWhole, endWhole);
    await this.write(endWhole, view.subarray(endWhole - byteOffset));
  }

  /**
   * A zeroed chunk cut from a larger slab: one allocation per 256 chunks instead of one per chunk (a
   * journal replay writes tens of thousands of blocks, and each separate 4 KiB allocation cost ~10 µs).
   */
  private newChunk(): Buffer {
    if (this.slab === null || this.slabUsed + this.chunkSize > this.slab.length) {
      this.slab = Buffer.alloc(this.chunkSize * Math.max(1, Math.floor(SLAB_BYTES / this.chunkSize)));
      this.slabUsed = 0;
    }
    const chunk = this.slab.subarray(this.slabUsed, this.slabUsed + this.chunkSize);
    this.slabUsed += this.chunkSize;
    return chunk;
  }

  /** Nothing to make durable: the overlay is memory by design. */
  async flush(): Promise<void> {
    assertOpen(this.closed, this.description);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.discard();
  }

  /** Every byte range written so far, sorted and merged (adjacent writes form one range). */
  changedRanges(): ByteRange[] {
    return this.spans.map((s) => ({ byteOffset: s.start, length: s.end - s.start }));
  }

  /** Forgets all writes: reads see the inner device again. */
  discard(): void {
    this.chunks.clear();
    this.adopted.clear();
    this.spans = [];
  }

  /** Copies the written bytes within [start, end) over `target`, which holds the bytes from `start`. */
  private patch(target: Buffer, start: number, end: number): void {
    for (let i = this.firstEndingAfter(start); i < this.spans.length; i++) {
      const span = this.spans[i]!;
      if (span.start >= end) break;
      const a = Math.max(span.start, start);
      const b = Math.min(span.end, end);
      this.copyFromChunks(target, a - start, a, b);
    }
  }

  /**
   * Copies overlay bytes [a, b), all of them written, into target at targetOffset. Chunks that lie one after
   * another in the same memory (adopted data, or chunks cut from one slab in order) go in one copy: a
   * 100 MiB file put on the card is one copy a piece, not 25,600.
   */
  private copyFromChunks(target: Buffer, targetOffset: number, a: number, b: number): void {
    const cs = this.chunkSize;
    let pos = a;
    while (pos < b) {
      const index = Math.floor(pos / cs);
      const within = pos - index * cs;
      // Written spans always have their chunks; a missing one is a bug in this class.
      const chunk = this.chunks.get(index)!;
      let n = Math.min(cs - within, b - pos);
      for (let next = index + 1; pos + n < b; next++) {
        const c = this.chunks.get(next);
        if (c === undefined || c.buffer !== chunk.buffer || c.byteOffset !== chunk.byteOffset + (next - index) * cs) break;
        n += Math.min(cs, b - pos - n);
      }
      target.set(new Uint8Array(chunk.buffer, chunk.byteOffset + within, n), targetOffset + (pos - a));
      pos += n;
    }
  }

  /** Inserts [start, end), merging with every span it overlaps or touches. */
  private addSpan(start: number, end: number): void {
    const i = this.firstEndingAtOrAfter(start);
    let j = i;
    let mergedStart = start;
    let mergedEnd = end;
    while (j < this.spans.length && this.spans[j]!.start <= end) {
      mergedStart = Math.min(mergedStart, this.spans[j]!.start);
      mergedEnd = Math.max(mergedEnd, this.spans[j]!.end);
      j++;
    }
    this.spans.splice(i, j - i, { start: mergedStart, end: mergedEnd });
  }

  /** Index of the first span with end > offset (spans.length if none). */
  private firstEndingAfter(offset: number): number {
    return this.search((s) => s.end > offset);
  }

  /** Index of the first span with end >= offset: the first one a write at offset may touch. */
  private firstEndingAtOrAfter(offset: number): number {
    return this.search((s) => s.end >= offset);
  }

  /** Binary search for the first span satisfying a predicate that is monotonic over the sorted spans. */
  private search(pred: (s: Span) => boolean): number {
    let lo = 0;
    let hi = this.spans.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (pred(this.spans[mid]!)) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

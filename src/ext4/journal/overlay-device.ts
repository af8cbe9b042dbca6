// The filesystem as the journal replay leaves it, without copying the replay into memory: a read-only
// BlockDevice that reads the base device (the data slice) and, for each block the replay map names, the
// journal's newest copy of it instead, with escaped magic bytes restored. Byte for byte what replaying
// into a copy-on-write overlay gives. Mapped blocks read one at a time go through a small LRU cache
// (metadata blocks are read again and again); runs of blocks the journal keeps in a row are read in one go.
// Writers wrap their own CowDevice around this device. close() does not close the base device.

import type { BlockDevice } from '../../device/block-device.js';
import { assertOpen, assertWritable, checkRange } from '../../device/check-range.js';
import { type ReplayMap, type ReplayedBlock, restoreEscape } from './replay-map.js';

/** Bytes of journal copies kept in the cache. */
export const OVERLAY_CACHE_BYTES = 2 * 1024 * 1024;

export class JournalOverlayDevice implements BlockDevice {
  readonly sizeBytes: number;
  readonly sectorSize: number;
  readonly writable = false;
  private readonly bs: number;
  private readonly maxCached: number;
  /** fsBlock -> replayed content; Map order is the LRU order (oldest first). */
  private readonly cache = new Map<number, Buffer>();
  private closed = false;

  constructor(
    readonly base: BlockDevice,
    readonly map: ReplayMap,
    readonly description = `${base.description} (journal replayed by reference)`,
  ) {
    this.sizeBytes = base.sizeBytes;
    this.sectorSize = base.sectorSize;
    this.bs = map.blockSize;
    this.maxCached = Math.max(1, Math.floor(OVERLAY_CACHE_BYTES / this.bs));
  }

  /** Bytes the cache holds now (at most OVERLAY_CACHE_BYTES). */
  get cachedBytes(): number {
    return this.cache.size * this.bs;
  }

  async read(byteOffset: number, length: number, into?: Buffer): Promise<Buffer> {
    assertOpen(this.closed, this.description);
    checkRange(this, 'read', byteOffset, length);
    const result = await this.base.read(byteOffset, length, into);
    if (length === 0 || this.map.size === 0) return result;
    const end = byteOffset + length;
    const bs = this.bs;
    const last = Math.floor((end - 1) / bs);
    for (let b = Math.floor(byteOffset / bs); b <= last; b++) {
      const first = this.map.get(b);
      if (!first) continue;
      // A run: whole blocks inside the read, mapped to consecutive journal blocks, none cached.
      const run: ReplayedBlock[] = [first];
      const whole = (m: ReplayedBlock): boolean => m.fsBlock * bs >= byteOffset && (m.fsBlock + 1) * bs <= end && !this.cache.has(m.fsBlock);
      if (whole(first)) {
        for (let next = this.map.get(b + 1); next && b + 1 <= last && next.sourceBlock === first.sourceBlock + run.length && whole(next); next = this.map.get(b + 1)) {
          run.push(next);
          b++;
        }
      }
      if (run.length > 1) await this.readRun(run, result, byteOffset);
      else this.patch(result, byteOffset, end, first.fsBlock, await this.cached(first));
    }
    return result;
  }

  /** Reads a run of mapped blocks straight from the journal into `result` (which starts at byteOffset). */
  private async readRun(run: ReplayedBlock[], result: Buffer, byteOffset: number): Promise<void> {
    const bs = this.bs;
    const at = run[0]!.fsBlock * bs - byteOffset;
    const target = result.subarray(at, at + run.length * bs);
    const got = await this.base.read(run[0]!.sourceBlock * bs, run.length * bs, target);
    if (got.buffer !== target.buffer || got.byteOffset !== target.byteOffset) got.copy(target);
    run.forEach((m, i) => {
      if (m.escaped) restoreEscape(target, i * bs);
    });
  }

  /** The replayed content of one block, from the cache or read into it (evicting the oldest). Not to be changed. */
  private async cached(m: ReplayedBlock): Promise<Buffer> {
    const hit = this.cache.get(m.fsBlock);
    if (hit) {
      this.cache.delete(m.fsBlock);
      this.cache.set(m.fsBlock, hit);
      return hit;
    }
    // A fresh buffer each time: an evicted one may still be read by a caller.
    const data = await this.map.read(this.base, m);
    if (this.closed) return data;
    this.cache.set(m.fsBlock, data);
    while (this.cache.size > this.maxCached) this.cache.delete(this.cache.keys().next().value as number);
    return data;
  }

  /** Copies the part of replayed block `fsBlock` that lies in [byteOffset, end) into result. */
  private patch(result: Buffer, byteOffset: number, end: number, fsBlock: number, data: Buffer): void {
    const start = fsBlock * this.bs;
    const a = Math.max(start, byteOffset);
    const b = Math.min(start + this.bs, end);
    data.copy(result, a - byteOffset, a - start, b - start);
  }

  /** Always refused (READ_ONLY): writers put their own CowDevice on top. */
  async write(byteOffset: number, data: Uint8Array): Promise<void> {
    assertOpen(this.closed, this.description);
    assertWritable(this);
    checkRange(this, 'write', byteOffset, data.length);
  }

  async flush(): Promise<void> {
    assertOpen(this.closed, this.description);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.cache.clear();
  }
}

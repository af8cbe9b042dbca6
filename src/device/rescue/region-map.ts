// The status of every byte of a device being rescued, as GNU ddrescue keeps it in its mapfile
// ("Mapfile structure" in `info ddrescue`): a sorted list of contiguous regions covering
// [0, sizeBytes), each non-tried '?', non-trimmed '*', non-scraped '/', bad-sector '-' or finished '+'.
// Adjacent regions always have different statuses, so a region is exactly one ddrescue "area" and
// whole-range questions (all, statusAt) are one binary search. mapfile.ts reads and writes it.

import { InternalError } from '../../errors.js';

export type BlockStatus = '?' | '*' | '/' | '-' | '+';

export interface MapRegion {
  pos: number;
  size: number;
  status: BlockStatus;
}

export const BLOCK_STATUSES: readonly BlockStatus[] = ['?', '*', '/', '-', '+'];

export function isBlockStatus(value: unknown): value is BlockStatus {
  return typeof value === 'string' && (BLOCK_STATUSES as readonly string[]).includes(value);
}

export class RegionMap {
  #sizeBytes: number;
  // Region i is [starts[i], starts[i + 1] ?? sizeBytes) with status statuses[i]; starts[0] is 0.
  readonly #starts: number[] = [];
  readonly #statuses: BlockStatus[] = [];

  constructor(sizeBytes: number, initial: BlockStatus = '?') {
    checkCount('sizeBytes', sizeBytes);
    checkStatus(initial);
    this.#sizeBytes = sizeBytes;
    if (sizeBytes > 0) {
      this.#starts.push(0);
      this.#statuses.push(initial);
    }
  }

  get sizeBytes(): number {
    return this.#sizeBytes;
  }

  /** Number of regions (ddrescue's areas of every status together). */
  get regionCount(): number {
    return this.#starts.length;
  }

  /** Gives [pos, pos + size) the status `status`; the part outside the map is ignored. */
  set(pos: number, size: number, status: BlockStatus): void {
    checkCount('pos', pos);
    checkCount('size', size);
    checkStatus(status);
    const start = Math.min(pos, this.#sizeBytes);
    const end = Math.min(pos + size, this.#sizeBytes);
    if (start >= end) return;
    const first = this.#indexAt(start);
    const last = this.#indexAt(end - 1);
    // Rebuild regions first..last (plus the next one, so it can merge) as at most three entries.
    const entries: Array<[number, BlockStatus]> = [];
    if (this.#starts[first]! < start) entries.push([this.#starts[first]!, this.#statuses[first]!]);
    entries.push([start, status]);
    let replaced = last;
    if (end < this.#endOf(last)) entries.push([end, this.#statuses[last]!]);
    else if (last + 1 < this.#starts.length) entries.push([end, this.#statuses[++replaced]!]);
    const starts: number[] = [];
    const statuses: BlockStatus[] = [];
    let previous = first > 0 ? this.#statuses[first - 1] : undefined;
    for (const [entryStart, entryStatus] of entries) {
      if (entryStatus === previous) continue;
      starts.push(entryStart);
      statuses.push(entryStatus);
      previous = entryStatus;
    }
    this.#starts.splice(first, replaced - first + 1, ...starts);
    this.#statuses.splice(first, replaced - first + 1, ...statuses);
  }

  statusAt(pos: number): BlockStatus {
    checkCount('pos', pos);
    if (pos >= this.#sizeBytes) {
      throw new InternalError('INVALID_RANGE', `status asked at byte ${pos} of a map of ${this.#sizeBytes} bytes`, {
        details: { pos, sizeBytes: this.#sizeBytes },
      });
    }
    return this.#statuses[this.#indexAt(pos)]!;
  }

  /** The regions overlapping [start, end), clipped to it. */
  regions(start = 0, end = this.#sizeBytes): MapRegion[] {
    const out: MapRegion[] = [];
    const [from, to] = this.#clip(start, end);
    if (from >= to) return out;
    for (let i = this.#indexAt(from); i < this.#starts.length && this.#starts[i]! < to; i++) {
      out.push(this.#clipped(i, from, to));
    }
    return out;
  }

  /**
   * The first region at or after `from` (clipped to [from, end)) whose status is one of `statuses`,
   * or null. It walks forward from `from`, so a caller that advances `from` past each answer visits
   * every region once in total.
   */
  next(statuses: Iterable<BlockStatus> | string, from: number, end = this.#sizeBytes): MapRegion | null {
    const wanted = new Set<string>(statuses);
    const [lo, hi] = this.#clip(from, end);
    if (lo >= hi) return null;
    for (let i = this.#indexAt(lo); i < this.#starts.length && this.#starts[i]! < hi; i++) {
      if (wanted.has(this.#statuses[i]!)) return this.#clipped(i, lo, hi);
    }
    return null;
  }

  /** True when every byte of [pos, pos + size) inside the map has `status` (true for an empty range). */
  all(pos: number, size: number, status: BlockStatus): boolean {
    checkCount('pos', pos);
    checkCount('size', size);
    const [from, to] = this.#clip(pos, Math.min(pos + size, this.#sizeBytes));
    if (from >= to) return true;
    const i = this.#indexAt(from);
    return this.#statuses[i] === status && this.#endOf(i) >= to;
  }

  /** True when some byte of [pos, pos + size) inside the map has one of `statuses`. */
  any(pos: number, size: number, statuses: Iterable<BlockStatus> | string): boolean {
    checkCount('pos', pos);
    checkCount('size', size);
    return this.next(statuses, Math.min(pos, this.#sizeBytes), Math.min(pos + size, this.#sizeBytes)) !== null;
  }

  /** Bytes per status over the whole map. */
  totals(): Record<BlockStatus, number> {
    const totals: Record<BlockStatus, number> = { '?': 0, '*': 0, '/': 0, '-': 0, '+': 0 };
    for (let i = 0; i < this.#starts.length; i++) totals[this.#statuses[i]!] += this.#endOf(i) - this.#starts[i]!;
    return totals;
  }

  /** Number of separate regions with `status` (ddrescue's "bad areas" for '-'). */
  areas(status: BlockStatus): number {
    let count = 0;
    for (const s of this.#statuses) if (s === status) count++;
    return count;
  }

  /** Extends the map to `newSize` bytes; the added bytes are non-tried ('?'). */
  grow(newSize: number): void {
    checkCount('newSize', newSize);
    if (newSize < this.#sizeBytes) {
      throw new InternalError('INVALID_RANGE', `cannot grow a map of ${this.#sizeBytes} bytes to ${newSize} bytes`, {
        details: { sizeBytes: this.#sizeBytes, newSize },
      });
    }
    if (newSize === this.#sizeBytes) return;
    if (this.#statuses.at(-1) !== '?') {
      this.#starts.push(this.#sizeBytes);
      this.#statuses.push('?');
    }
    this.#sizeBytes = newSize;
  }

  /** Index of the region holding byte `pos` (0 <= pos < sizeBytes): the last start <= pos. */
  #indexAt(pos: number): number {
    let lo = 0;
    let hi = this.#starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.#starts[mid]! <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  #endOf(i: number): number {
    return this.#starts[i + 1] ?? this.#sizeBytes;
  }

  #clipped(i: number, from: number, to: number): MapRegion {
    const pos = Math.max(this.#starts[i]!, from);
    return { pos, size: Math.min(this.#endOf(i), to) - pos, status: this.#statuses[i]! };
  }

  #clip(start: number, end: number): [number, number] {
    checkCount('start', start);
    checkCount('end', end);
    return [Math.min(start, this.#sizeBytes), Math.min(end, this.#sizeBytes)];
  }
}

function checkCount(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InternalError('INVALID_RANGE', `region map: ${name} ${value} is not a non-negative safe integer`, {
      details: { [name]: value },
    });
  }
}

function checkStatus(status: unknown): void {
  if (!isBlockStatus(status)) {
    throw new InternalError('INVALID_RANGE', `region map: ${String(status)} is not a block status (one of ?*/-+)`);
  }
}

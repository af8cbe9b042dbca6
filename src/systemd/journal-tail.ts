// The last entries of a journal file found from its end, as journalctl finds them: the entry array objects
// list every entry's offset in order, chained from the header; read backwards from the newest, they give the
// last lines after reading a few pieces of the file instead of all of it (up to 128 MiB from a card). Used
// only on files journald closed (offline, archived): every entry must be an entry object, with sequence
// numbers falling as the walk goes back, or the answer is null and the caller walks the file in order.

import type { Field, JournalEntry, JournalHeader, UnpackBudget } from './journal-file.js';
import { ENTRY_ITEMS_AT, MAX_ENTRY_FIELDS, OBJECT_DATA, OBJECT_ENTRY, OBJECT_ENTRY_ARRAY, UNPACK_BUDGET_BYTES, decodeData, u64 } from './journal-file.js';

const ARRAY_ITEMS_AT = 24;
/** Largest entry or field object read here; journald's own objects are far smaller. */
const MAX_OBJECT = 16 * 1024 * 1024;
/** Longest chain of entry arrays: journald doubles each array, so 64 covers any file. */
const MAX_ARRAYS = 64;

export type ReadRange = (start: number, end: number) => Promise<Buffer>;

/** A file read in pieces of 256 KiB, each once (the most recent 64 kept). */
export class PieceCache {
  private static readonly PIECE = 256 * 1024;
  private readonly pieces = new Map<number, Buffer>();

  constructor(private readonly readRange: ReadRange, readonly size: number) {}

  /** `length` bytes at `at`, or null when they are not all inside the file. */
  async bytes(at: number, length: number): Promise<Buffer | null> {
    if (at < 0 || length < 0 || at + length > this.size) return null;
    const first = Math.floor(at / PieceCache.PIECE);
    const last = Math.floor((at + Math.max(length, 1) - 1) / PieceCache.PIECE);
    const parts: Buffer[] = [];
    for (let i = first; i <= last; i++) parts.push(await this.piece(i));
    const joined = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    const from = at - first * PieceCache.PIECE;
    return joined.subarray(from, from + length);
  }

  private async piece(i: number): Promise<Buffer> {
    let p = this.pieces.get(i);
    if (p === undefined) {
      p = await this.readRange(i * PieceCache.PIECE, Math.min(this.size, (i + 1) * PieceCache.PIECE));
      if (this.pieces.size >= 64) this.pieces.delete(this.pieces.keys().next().value!);
      this.pieces.set(i, p);
    }
    return p;
  }
}

export interface TailResult {
  /** Oldest first. */
  entries: JournalEntry[];
  /** Every entry of the file was looked at: there are no older matching ones. */
  reachedStart: boolean;
}

/** An object of the file, whole, with its type checked; null when it is not one. */
async function object(file: PieceCache, at: number, type: number, minSize: number): Promise<Buffer | null> {
  if (at % 8 !== 0) return null;
  const head = await file.bytes(at, 16);
  if (head === null || head[0] !== type) return null;
  const size = u64(head, 8);
  if (size < minSize || size > MAX_OBJECT) return null;
  return file.bytes(at, size);
}

/** The entry arrays: where each lies and how many of its items hold entries. */
async function arrays(file: PieceCache, header: JournalHeader, itemSize: number): Promise<Array<{ at: number; filled: number }> | null> {
  const out: Array<{ at: number; filled: number }> = [];
  let remaining = header.entries;
  let at = header.entryArrayOffset;
  while (remaining > 0) {
    if (at === 0 || out.length >= MAX_ARRAYS || (out.length > 0 && at <= out.at(-1)!.at)) return null;
    const head = await file.bytes(at, ARRAY_ITEMS_AT);
    if (head === null || head[0] !== OBJECT_ENTRY_ARRAY) return null;
    const capacity = Math.floor((u64(head, 8) - ARRAY_ITEMS_AT) / itemSize);
    if (capacity <= 0) return null;
    out.push({ at, filled: Math.min(capacity, remaining) });
    remaining -= Math.min(capacity, remaining);
    at = u64(head, 16);
  }
  return out;
}

/**
 * The last `limit` entries carrying one of `having` (whole "NAME=value" fields; null: every entry), oldest
 * first; null when the file's entry arrays do not check out.
 */
export async function tailEntries(file: PieceCache, header: JournalHeader, having: Buffer[] | null, limit: number): Promise<TailResult | null> {
  const itemSize = header.compact ? 4 : 8;
  const chain = await arrays(file, header, itemSize);
  if (chain === null) return null;
  const reader = new FieldReader(file, header.compact ? 72 : 64, having);
  const found: JournalEntry[] = [];
  let previous = Infinity;
  for (let k = chain.length - 1; k >= 0; k--) {
    const { at, filled } = chain[k]!;
    const items = await file.bytes(at + ARRAY_ITEMS_AT, filled * itemSize);
    if (items === null) return null;
    for (let i = filled - 1; i >= 0; i--) {
      const entry = await object(file, header.compact ? items.readUInt32LE(i * 4) : u64(items, i * 8), OBJECT_ENTRY, ENTRY_ITEMS_AT);
      if (entry === null) return null;
      const seqnum = u64(entry, 16);
      if (seqnum >= previous) return null;
      previous = seqnum;
      const offsets = fieldOffsets(entry, header.compact);
      if (having !== null && !(await reader.carriesOne(offsets))) continue;
      found.push(await reader.entry(entry, offsets));
      if (found.length >= limit) return { entries: found.reverse(), reachedStart: k === 0 && i === 0 };
    }
  }
  return { entries: found.reverse(), reachedStart: true };
}

function fieldOffsets(entry: Buffer, compact: boolean): number[] {
  const size = compact ? 4 : 16;
  const out: number[] = [];
  const end = Math.min(entry.length, ENTRY_ITEMS_AT + MAX_ENTRY_FIELDS * size);
  for (let at = ENTRY_ITEMS_AT; at + size <= end; at += size) out.push(compact ? entry.readUInt32LE(at) : u64(entry, at));
  return out;
}

/** Field objects read once each: the shared ones (who wrote the line) are met again at every entry. */
class FieldReader {
  private readonly wanted = new Map<number, boolean>();
  private readonly lengths: Set<number>;
  private readonly budget: UnpackBudget = { left: UNPACK_BUDGET_BYTES };

  constructor(private readonly file: PieceCache, private readonly payloadAt: number, private readonly having: Buffer[] | null) {
    this.lengths = new Set((having ?? []).map((h) => h.length));
  }

  async carriesOne(offsets: number[]): Promise<boolean> {
    for (const at of offsets) if (await this.isWanted(at)) return true;
    return false;
  }

  private async isWanted(at: number): Promise<boolean> {
    let yes = this.wanted.get(at);
    if (yes === undefined) {
      const head = at % 8 === 0 ? await this.file.bytes(at, 16) : null;
      const length = head === null ? -1 : u64(head, 8) - this.payloadAt;
      yes = false;
      if (head !== null && head[1] === 0 && this.lengths.has(length)) {
        const payload = await this.file.bytes(at + this.payloadAt, length);
        yes = payload !== null && this.having!.some((h) => h.equals(payload));
      }
      this.wanted.set(at, yes);
    }
    return yes;
  }

  async entry(entry: Buffer, offsets: number[]): Promise<JournalEntry> {
    const out: JournalEntry = { seqnum: u64(entry, 16), realtimeUs: u64(entry, 24), bootId: entry.subarray(40, 56).toString('hex'), fields: new Map(), unreadable: [] };
    // Each data object once: an entry that names one many times (damage, or a crafted file) reads it once.
    for (const at of new Set(offsets)) {
      const bytes = await object(this.file, at, OBJECT_DATA, this.payloadAt);
      const field: Field | null = bytes === null ? null : decodeData(bytes, 0, this.payloadAt, this.budget);
      if (field === null) continue;
      if ('unreadable' in field) out.unreadable.push(field.unreadable);
      else if (!out.fields.has(field.name)) out.fields.set(field.name, Buffer.from(field.value));
    }
    return out;
  }
}

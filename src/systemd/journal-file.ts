// Reads systemd journal files (https://systemd.io/JOURNAL_FILE_FORMAT), the binary logs journald keeps on the
// data partition of Home Assistant OS (/logs, haos-format.md §3.1): Docker hands every container's output to
// journald, so Home Assistant Core's log is there. Entries are read by walking the objects in file order (an
// append-only file: the order they were written), not through the hash tables and entry arrays, so a file
// whose end was torn by a power cut still yields every entry before the tear. Every offset read from the file is
// checked against the buffer; nothing here can loop past the end of the bytes it was given.

import { CorruptError } from '../errors.js';
import { zstdDecompress } from '../zstd.js';
import { lz4Block } from './lz4.js';

const SIGNATURE = Buffer.from('LPKSHHRH', 'latin1');
/** The header up to and including tail_entry_monotonic: the fields this reader uses. */
const MIN_HEADER = 208;
const OBJECT_HEADER = 16;
export const OBJECT_DATA = 1;
export const OBJECT_ENTRY = 3;
export const OBJECT_ENTRY_ARRAY = 6;
/** Where an entry object's list of its fields starts. */
export const ENTRY_ITEMS_AT = 64;

const INCOMPAT_XZ = 1;
const INCOMPAT_LZ4 = 2;
const INCOMPAT_ZSTD = 8;
const INCOMPAT_COMPACT = 16;
const OBJECT_COMPRESSED = { 1: 'xz', 2: 'lz4', 4: 'zstd' } as const;

export interface JournalHeader {
  state: 'offline' | 'online' | 'archived' | 'unknown';
  compact: boolean;
  /** Compression the file may use for large fields ('xz', 'lz4', 'zstd'), or none. */
  compression: string[];
  headerSize: number;
  /** End of the objects: the header plus the arena, clipped to the bytes present. */
  arenaEnd: number;
  tailObjectOffset: number;
  entries: number;
  /** Microseconds since 1970 of the first entry (0 when none). */
  headRealtimeUs: number;
  /** Microseconds since 1970 of the last entry (0 when none). */
  tailRealtimeUs: number;
  /** The first entry array object (0 when none): the entries in order, chained. */
  entryArrayOffset: number;
}

export interface JournalEntry {
  seqnum: number;
  realtimeUs: number;
  bootId: string;
  /** Field name to value (the first value when a field repeats). */
  fields: Map<string, Buffer>;
  /** Fields stored compressed in a way this Node cannot unpack: their names are unknown. */
  unreadable: string[];
}

/** A little-endian 64-bit number; above 2^53 it is imprecise, which only ever makes an offset or size impossible. */
export const u64 = (b: Buffer, at: number): number => b.readUInt32LE(at) + b.readUInt32LE(at + 4) * 0x1_0000_0000;
const align8 = (n: number): number => Math.ceil(n / 8) * 8;

/** The header of a journal file; NOT_A_JOURNAL when `head` does not start like one. */
export function readJournalHeader(head: Buffer, fileSize: number): JournalHeader {
  if (head.length < MIN_HEADER || !head.subarray(0, 8).equals(SIGNATURE)) {
    throw new CorruptError('NOT_A_JOURNAL', 'not a systemd journal file (no LPKSHHRH signature)');
  }
  const incompatible = head.readUInt32LE(12);
  const headerSize = u64(head, 88);
  if (headerSize < MIN_HEADER || headerSize > fileSize) throw new CorruptError('NOT_A_JOURNAL', `journal header size ${headerSize} is impossible`);
  const compression = [[INCOMPAT_XZ, 'xz'], [INCOMPAT_LZ4, 'lz4'], [INCOMPAT_ZSTD, 'zstd']].filter(([bit]) => (incompatible & (bit as number)) !== 0).map(([, name]) => name as string);
  return {
    state: (['offline', 'online', 'archived'] as const)[head[16]!] ?? 'unknown',
    compact: (incompatible & INCOMPAT_COMPACT) !== 0,
    compression,
    headerSize,
    arenaEnd: Math.min(fileSize, headerSize + Math.min(u64(head, 96), Number.MAX_SAFE_INTEGER - headerSize)),
    tailObjectOffset: u64(head, 136),
    entries: u64(head, 152),
    headRealtimeUs: u64(head, 184),
    tailRealtimeUs: u64(head, 192),
    entryArrayOffset: u64(head, 176),
  };
}

/** What a walk of a file found besides its entries. */
export interface WalkReport {
  /** Set when the objects stopped before the file's recorded last object: the rest is unreadable. */
  stoppedAt: number | null;
  /** Entries walked over, matched or not. */
  entries: number;
}

/** Where an entry lies in the file, with what sorts it; its fields are read by JournalFile.entry. */
export interface EntryRef {
  at: number;
  size: number;
  seqnum: number;
  realtimeUs: number;
}

/** One journal file's bytes. */
export class JournalFile {
  private readonly data: DataReader;
  private readonly end: number;

  constructor(private readonly buf: Buffer, private readonly header: JournalHeader) {
    this.data = new DataReader(buf, header.compact);
    this.end = Math.min(buf.length, header.arenaEnd);
  }

  /**
   * The entries in the order written. With `having` (whole fields, "NAME=value"), only the entries that carry
   * one of them: a field is one shared data object, written before the first entry that uses it, so an entry
   * is matched by comparing offsets, without reading its fields.
   */
  *entries(report: WalkReport = { stoppedAt: null, entries: 0 }, having: Buffer[] | null = null): Generator<EntryRef> {
    const wanted = new Set<number>();
    for (const { type, at, size } of this.objects(report)) {
      if (type === OBJECT_DATA && having !== null && this.data.isOneOf(at, size, having)) wanted.add(at);
      if (type !== OBJECT_ENTRY) continue;
      report.entries++;
      if (having === null || this.carries(at, size, wanted)) yield { at, size, seqnum: u64(this.buf, at + 16), realtimeUs: u64(this.buf, at + 24) };
    }
  }

  /** How many entries carry each value of `field` (SYSLOG_IDENTIFIER: which programs wrote to this file). */
  valueCounts(field: string): Map<string, number> {
    const prefix = Buffer.from(`${field}=`, 'latin1');
    const values = new Map<number, string>();
    const counts = new Map<string, number>();
    for (const { type, at, size } of this.objects({ stoppedAt: null, entries: 0 })) {
      if (type === OBJECT_DATA) {
        const value = this.data.valueAfter(at, size, prefix);
        if (value !== null) values.set(at, value);
      } else if (type === OBJECT_ENTRY) {
        for (const offset of this.items(at, size)) {
          const value = values.get(offset);
          if (value === undefined) continue;
          counts.set(value, (counts.get(value) ?? 0) + 1);
          break;
        }
      }
    }
    return counts;
  }

  /** The objects in file order, up to the last one the header names or the first that cannot be one. */
  private *objects(report: WalkReport): Generator<{ type: number; at: number; size: number }> {
    const { buf, end, header } = this;
    let at = align8(header.headerSize);
    while (at + OBJECT_HEADER <= end) {
      const type = buf[at]!;
      const size = u64(buf, at + 8);
      if (type === 0 || size < OBJECT_HEADER || size > end - at) break;
      if (type !== OBJECT_ENTRY || size >= ENTRY_ITEMS_AT) yield { type, at, size };
      if (at >= header.tailObjectOffset) return;
      at = align8(at + size);
    }
    // Left before the object the header names as the last one: the file ends early or is damaged there.
    if (at <= header.tailObjectOffset) report.stoppedAt = at;
  }

  /** The entry's boot and fields. */
  entry(ref: EntryRef): JournalEntry {
    const { buf } = this;
    const entry: JournalEntry = { seqnum: ref.seqnum, realtimeUs: ref.realtimeUs, bootId: buf.subarray(ref.at + 40, ref.at + 56).toString('hex'), fields: new Map(), unreadable: [] };
    for (const offset of this.items(ref.at, ref.size)) {
      const field = this.data.read(offset);
      if (field === null) continue;
      if ('unreadable' in field) entry.unreadable.push(field.unreadable);
      else if (!entry.fields.has(field.name)) entry.fields.set(field.name, field.value);
    }
    return entry;
  }

  private *items(at: number, size: number): Generator<number> {
    const compact = this.header.compact;
    const itemSize = compact ? 4 : 16;
    const end = Math.min(at + size, at + ENTRY_ITEMS_AT + MAX_ENTRY_FIELDS * itemSize);
    for (let item = at + ENTRY_ITEMS_AT; item + itemSize <= end; item += itemSize) yield compact ? this.buf.readUInt32LE(item) : u64(this.buf, item);
  }

  private carries(at: number, size: number, wanted: Set<number>): boolean {
    if (wanted.size === 0) return false;
    for (const offset of this.items(at, size)) if (wanted.has(offset)) return true;
    return false;
  }
}

export type Field = { name: string; value: Buffer } | { unreadable: string };

/** Data objects by offset, read once: journald stores each distinct FIELD=value once and shares it. */
class DataReader {
  private readonly cache = new Map<number, Field | null>();
  private readonly payloadAt: number;
  private readonly budget: UnpackBudget = { left: UNPACK_BUDGET_BYTES };

  constructor(private readonly buf: Buffer, compact: boolean) {
    this.payloadAt = compact ? 72 : 64;
  }

  /** The data object at `at` (of `size` bytes) holds one of `fields`, uncompressed. */
  isOneOf(at: number, size: number, fields: Buffer[]): boolean {
    const length = size - this.payloadAt;
    if ((this.buf[at + 1]! & 7) !== 0) return false;
    for (const f of fields) if (f.length === length && this.buf.compare(f, 0, length, at + this.payloadAt, at + size) === 0) return true;
    return false;
  }

  /** The text after `prefix` when the data object at `at` is an uncompressed `prefix`value field, else null. */
  valueAfter(at: number, size: number, prefix: Buffer): string | null {
    const start = at + this.payloadAt;
    if ((this.buf[at + 1]! & 7) !== 0 || size - this.payloadAt <= prefix.length || size - this.payloadAt > 4096) return null;
    if (this.buf.compare(prefix, 0, prefix.length, start, start + prefix.length) !== 0) return null;
    return this.buf.toString('utf8', start + prefix.length, at + size);
  }

  read(offset: number): Field | null {
    let field = this.cache.get(offset);
    if (field === undefined) {
      field = this.decode(offset);
      this.cache.set(offset, field);
    }
    return field;
  }

  private decode(offset: number): Field | null {
    return decodeData(this.buf, offset, this.payloadAt, this.budget);
  }
}

/**
 * Bytes one reading of a file unpacks in all. A crafted file can name one small compressed field (61 bytes of
 * zstd that unpack to 1 MiB) from every entry, or from one entry 50,000 times, or hold thousands of such
 * fields: unbounded, that took minutes and gigabytes. Past the budget a compressed field is named unreadable
 * in its place, like one that does not unpack; real logs (lines of up to 48 KiB) stay far below it.
 */
export const UNPACK_BUDGET_BYTES = 64 * 1024 * 1024;
export interface UnpackBudget {
  left: number;
}

/**
 * The fields of an entry that are read: journald writes at most 1024 per entry (ENTRY_FIELD_COUNT_MAX); a
 * crafted entry of 16 MiB names millions. The rest are left out.
 */
export const MAX_ENTRY_FIELDS = 4096;

/** The field in the data object at `offset` of `b` (its payload at `payloadAt`: 72 compact, 64 regular), or null. */
export function decodeData(b: Buffer, offset: number, payloadAt: number, budget: UnpackBudget = { left: UNPACK_BUDGET_BYTES }): Field | null {
  if (offset % 8 !== 0 || offset + OBJECT_HEADER > b.length || b[offset] !== OBJECT_DATA) return null;
  const size = u64(b, offset + 8);
  if (size < payloadAt || size > b.length - offset) return null;
  let payload = b.subarray(offset + payloadAt, offset + size);
  const compressed = OBJECT_COMPRESSED[(b[offset + 1]! & 7) as 1 | 2 | 4];
  if (compressed !== undefined) {
    const unpacked = budget.left > 0 ? unpack(compressed, payload) : null;
    if (unpacked === null) return { unreadable: compressed };
    budget.left -= unpacked.length;
    payload = unpacked;
  }
  const eq = payload.indexOf(0x3d);
  if (eq <= 0) return null;
  return { name: payload.subarray(0, eq).toString('latin1'), value: payload.subarray(eq + 1) };
}

/**
 * Largest field unpacked. A log line comes through Docker's journald driver, which cuts lines at 16 KiB, and
 * journald's LineMax is 48 KiB; a crafted field claiming 64 MiB, shared by the last hundred entries, cost
 * gigabytes when this was 64 MiB. A bigger one is named in its place, as one that does not unpack.
 */
const MAX_UNPACKED = 1024 * 1024;

function unpack(kind: 'xz' | 'lz4' | 'zstd', payload: Buffer): Buffer | null {
  if (kind === 'lz4') {
    // systemd writes the unpacked size first, as le64.
    if (payload.length < 8) return null;
    const size = u64(payload, 0);
    return size <= MAX_UNPACKED ? lz4Block(payload.subarray(8), size) : null;
  }
  if (kind !== 'zstd') return null;
  try {
    return zstdDecompress(payload, MAX_UNPACKED);
  } catch {
    return null;
  }
}

/** Whether a field compressed with `kind` can be unpacked here: LZ4 and zstd (journald's choices today), not xz. */
export function canUnpack(kind: string): boolean {
  return kind === 'lz4' || kind === 'zstd';
}

// Writing VHDX metadata through the log ([MS-VHDX] §2.3) and updating the headers (§2.2.2.1), the pieces
// vhdx-write.ts puts in order. A log entry here is one header sector ("loge", 64 bytes, then 32-byte
// descriptors) and one data sector per 4 KiB sector to write; the first 8 and last 4 bytes of each
// sector live in its descriptor (LeadingBytes, TrailingBytes), the data sector carries the sequence
// number split at both ends, and a CRC-32C covers the whole entry (the same layout vhdx-log.ts replays).
//
// A header update writes the non-current header (64 KiB or 128 KiB) with the sequence number plus one:
// once flushed it is the current one, and a torn write leaves the old current header in force.

import { randomBytes } from 'node:crypto';
import { crc32cWithZeroField, HEADER_BYTES, HEADER_OFFSETS, ZERO_GUID } from './vhdx-format.js';

const SECTOR = 4096;

/** Writes a GUID given in canonical text the way readGuid reads it (data1 LE32, data2 LE16, data3 LE16, data4 bytes). */
export function writeGuid(buf: Buffer, offset: number, text: string): void {
  const hex = text.replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new RangeError(`not a GUID: ${text}`);
  buf.writeUInt32LE(parseInt(hex.slice(0, 8), 16), offset);
  buf.writeUInt16LE(parseInt(hex.slice(8, 12), 16), offset + 4);
  buf.writeUInt16LE(parseInt(hex.slice(12, 16), 16), offset + 6);
  Buffer.from(hex.slice(16), 'hex').copy(buf, offset + 8);
}

/** A random (version 4) GUID in canonical text. */
export function newGuid(): string {
  const b = randomBytes(16);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export interface LogSector {
  /** 4 KiB aligned file offset of the sector. */
  fileOffset: number;
  /** The sector's new 4096 bytes. */
  data: Buffer;
}

export interface LogEntrySpec {
  logGuid: string;
  sequence: bigint;
  /** Offset in the log of the first entry of the active sequence (this entry's own offset when alone). */
  tail: number;
  flushedFileOffset: number;
  lastFileOffset: number;
  sectors: LogSector[];
}

/** Bytes of a log entry holding `count` data sectors. */
export function logEntryBytes(count: number): number {
  return (Math.ceil((count + 2) / 128) + count) * SECTOR;
}

/** One log entry (§2.3.1.1-2.3.1.4) writing whole 4 KiB sectors. */
export function buildLogEntry(spec: LogEntrySpec): Buffer {
  const count = spec.sectors.length;
  const descriptorSectors = Math.ceil((count + 2) / 128);
  const entry = Buffer.alloc(logEntryBytes(count));
  entry.write('loge', 0, 'latin1');
  entry.writeUInt32LE(entry.length, 8);
  entry.writeUInt32LE(spec.tail, 12);
  entry.writeBigUInt64LE(spec.sequence, 16);
  entry.writeUInt32LE(count, 24);
  writeGuid(entry, 32, spec.logGuid);
  entry.writeBigUInt64LE(BigInt(spec.flushedFileOffset), 48);
  entry.writeBigUInt64LE(BigInt(spec.lastFileOffset), 56);
  const hi = Number(spec.sequence >> 32n);
  const lo = Number(spec.sequence & 0xffffffffn);
  spec.sectors.forEach((sector, i) => {
    if (sector.data.length !== SECTOR || sector.fileOffset % SECTOR !== 0) throw new RangeError('log sectors are 4 KiB at 4 KiB offsets');
    const at = 64 + i * 32;
    entry.write('desc', at, 'latin1');
    sector.data.copy(entry, at + 4, 4092, 4096);
    sector.data.copy(entry, at + 8, 0, 8);
    entry.writeBigUInt64LE(BigInt(sector.fileOffset), at + 16);
    entry.writeBigUInt64LE(spec.sequence, at + 24);
    const s = (descriptorSectors + i) * SECTOR;
    entry.write('data', s, 'latin1');
    entry.writeUInt32LE(hi, s + 4);
    sector.data.copy(entry, s + 8, 8, 4092);
    entry.writeUInt32LE(lo, s + 4092);
  });
  entry.writeUInt32LE(crc32cWithZeroField(entry, 4), 4);
  return entry;
}

export interface HeaderChange {
  /** New FileWriteGuid and DataWriteGuid (the first update of a writing session, §2.2.2). */
  newWriteGuids?: boolean;
  /** New LogGuid; ZERO_GUID marks the log empty. Unset: unchanged. */
  logGuid?: string;
}

/** The current header and which copy it is; updated by nextHeader. */
export interface HeaderState {
  bytes: Buffer;
  copy: 0 | 1;
}

/**
 * The header to write over the non-current copy: the current one with the sequence number plus one and
 * the changes. Returns where to write it and its bytes; the caller writes, flushes, then calls
 * `state.bytes = bytes; state.copy = copy` (adoptHeader).
 */
export function nextHeader(state: HeaderState, change: HeaderChange): { fileOffset: number; copy: 0 | 1; bytes: Buffer } {
  const bytes = Buffer.from(state.bytes.subarray(0, HEADER_BYTES));
  bytes.writeBigUInt64LE(bytes.readBigUInt64LE(8) + 1n, 8);
  if (change.newWriteGuids === true) {
    writeGuid(bytes, 16, newGuid());
    writeGuid(bytes, 32, newGuid());
  }
  if (change.logGuid !== undefined) writeGuid(bytes, 48, change.logGuid);
  bytes.writeUInt32LE(crc32cWithZeroField(bytes, 4), 4);
  const copy: 0 | 1 = state.copy === 0 ? 1 : 0;
  return { fileOffset: HEADER_OFFSETS[copy], copy, bytes };
}

export { ZERO_GUID };

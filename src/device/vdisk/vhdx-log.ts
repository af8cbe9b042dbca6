// Replaying the VHDX metadata log in memory ([MS-VHDX] §2.3). Metadata updates (BAT, region table,
// metadata region) are written to a ring buffer of 4 KiB sectors before they reach their final place;
// after a crash, the file is consistent only once the newest complete "active sequence" of log entries
// has been applied. A reader MUST do so before reading anything but the headers and the log (§2.3.3).
// The replay never writes the file: it lands in an overlay (LogOverlayDevice) that the parsers read
// through, as the ext4 journal replay does (a writable open of a file whose log needed replaying is
// refused; vhdx-write.ts writes its own entries with vhdx-log-write.ts and empties the log after each).
//
// Log entry (§2.3.1): descriptor sectors (a 64-byte header "loge" then 32-byte descriptors: "desc" =
// one 4 KiB sector to write, "zero" = a range to zero), then one data sector ("data") per data
// descriptor. Bytes 0-7 and 4092-4095 of a written sector live in its descriptor (LeadingBytes,
// TrailingBytes); the data sector carries the sequence number split at both ends to catch torn writes,
// and a CRC-32C covers the whole entry. The active sequence is found as §2.3.3 describes: walk the ring
// from each candidate tail, chain entries whose sequence numbers step by one, keep the chain whose head
// names (Tail) an entry inside it and has the largest sequence number.
//
// Every loop is bounded by the log length, and checksum work by SCAN_WORK_FACTOR times the log length,
// so a crafted log cannot hang the open.

import { CorruptError } from '../../errors.js';
import { DiskFileUnsupportedError } from './unsupported.js';
import type { BlockDevice } from '../block-device.js';
import { crc32cWithZeroField, isMultiple, MiB, readGuid, ZERO_GUID, type VhdxHeader } from './vhdx-format.js';
import { LogOverlayDevice } from './vhdx-overlay.js';

const SECTOR = 4096;
/** Largest log read into memory; Hyper-V and QEMU make 1 MiB logs. */
const MAX_LOG_BYTES = 256 * MiB;
const SCAN_WORK_FACTOR = 64;
const MAX_ZERO_WORK = 1 << 26;
const LOG_HINT = 'run qemu-img check -r all on a copy of the file (it replays the log into the copy), then read the copy';

interface Descriptor {
  fileOffset: number;
  /** Zero descriptors: bytes to zero. Data descriptors: 4096. */
  length: number;
  /** Data descriptors: the full 4 KiB sector, leading and trailing bytes restored. */
  data: Buffer | null;
}

interface LogEntry {
  position: number;
  length: number;
  tail: number;
  sequence: bigint;
  flushedFileOffset: number;
  lastFileOffset: number;
  descriptors: Descriptor[];
}

export interface LogReplay {
  /** The file with the active sequence applied (and extended to LastFileOffset when that is larger). */
  device: BlockDevice;
  entries: number;
}

/** Replays the log of `file` into memory; null when the header says the log is empty. */
export async function replayVhdxLog(file: BlockDevice, header: VhdxHeader): Promise<LogReplay | null> {
  if (header.logGuid === ZERO_GUID) return null;
  checkLogRegion(file, header);
  const log = await file.read(header.logOffset, header.logLength);
  const sequence = findActiveSequence(log, header.logGuid);
  if (sequence === null) {
    throw new CorruptError('VHDX_LOG_NO_SEQUENCE', `vhdx header names log ${header.logGuid}, but the log holds no complete sequence of its entries`, {
      hint: 'QEMU reads such a file as it is, ignoring the log: qemu-img convert -O raw on a copy gives a raw image that may miss the last metadata updates',
      details: { logGuid: header.logGuid },
    });
  }
  const head = sequence[sequence.length - 1]!;
  if (head.flushedFileOffset > file.sizeBytes) {
    throw logError('VHDX_TRUNCATED', `vhdx file is ${file.sizeBytes} bytes, but its log says it was at least ${head.flushedFileOffset}: the file was truncated`, {
      fileSize: file.sizeBytes,
      flushedFileOffset: head.flushedFileOffset,
    });
  }
  return { device: applySequence(file, sequence, Math.max(file.sizeBytes, head.lastFileOffset)), entries: sequence.length };
}

function checkLogRegion(file: BlockDevice, header: VhdxHeader): void {
  const { logOffset, logLength } = header;
  if (header.logVersion !== 0) {
    throw new DiskFileUnsupportedError('VHDX_LOG_VERSION', `vhdx log version ${header.logVersion} is not supported (only 0 exists)`, { hint: LOG_HINT });
  }
  if (logLength === 0 || !isMultiple(logLength, MiB) || logOffset < MiB || !isMultiple(logOffset, MiB) || logOffset + logLength > file.sizeBytes) {
    throw logError('VHDX_BAD_LOG_REGION', `vhdx log at byte ${logOffset}, ${logLength} bytes, is not 1 MiB aligned inside the ${file.sizeBytes}-byte file`, {
      logOffset,
      logLength,
    });
  }
  if (logLength > MAX_LOG_BYTES) {
    throw new DiskFileUnsupportedError('VHDX_LOG_TOO_LARGE', `vhdx log of ${logLength} bytes is larger than this tool replays (${MAX_LOG_BYTES})`, { hint: LOG_HINT });
  }
}

/** Every descriptor of the sequence, in order, into an overlay of `size` bytes over the file. */
function applySequence(file: BlockDevice, sequence: LogEntry[], size: number): LogOverlayDevice {
  const overlay = new LogOverlayDevice(file, size);
  let work = 0;
  for (const entry of sequence) {
    for (const d of entry.descriptors) {
      if (d.fileOffset + d.length > size) {
        throw logError('VHDX_LOG_BEYOND_END', `vhdx log entry ${entry.sequence} writes ${d.length} bytes at ${d.fileOffset}, past the file's last offset ${size}`, {
          fileOffset: d.fileOffset,
          length: d.length,
          size,
        });
      }
      if (d.data !== null) overlay.put(d.fileOffset, d.data);
      else work += overlay.zero(d.fileOffset, d.length);
      // Only a crafted log interleaves this many zeroings with this many written sectors.
      if (work > MAX_ZERO_WORK) throw logError('VHDX_LOG_SCAN_LIMIT', `vhdx log zeroes over its own writes more than ${MAX_ZERO_WORK} times`, {});
    }
  }
  return overlay;
}

function logError(code: string, message: string, details: Record<string, unknown>): CorruptError {
  return new CorruptError(code, message, { hint: LOG_HINT, details });
}

/** The active sequence (§2.3.3), tail entry first, or null when the log holds none. */
export function findActiveSequence(log: Buffer, logGuid: string): LogEntry[] | null {
  const reader = new EntryReader(log, logGuid);
  let candidate: LogEntry[] | null = null;
  // `tail` runs over one lap of the ring: unwrapped, so the scan ends when it passes the log's end.
  let tail = 0;
  while (tail < log.length) {
    const chain: LogEntry[] = [];
    let bytes = 0;
    for (;;) {
      const entry = reader.at((tail + bytes) % log.length);
      if (entry === null || bytes + entry.length > log.length) break;
      if (chain.length > 0 && entry.sequence !== chain[chain.length - 1]!.sequence + 1n) break;
      chain.push(entry);
      bytes += entry.length;
    }
    const head = chain[chain.length - 1];
    const first = head === undefined ? -1 : chain.findIndex((e) => e.position === head.tail);
    if (head !== undefined && first !== -1) {
      if (candidate === null || head.sequence > candidate[candidate.length - 1]!.sequence) candidate = chain.slice(first);
      tail += bytes;
    } else {
      tail += SECTOR;
    }
  }
  return candidate;
}

/** Validates log entries at sector positions of the ring, each at most once, within a work budget. */
class EntryReader {
  private readonly seen = new Map<number, LogEntry | null>();
  private budget: number;

  constructor(
    private readonly log: Buffer,
    private readonly logGuid: string,
  ) {
    this.budget = SCAN_WORK_FACTOR * log.length;
  }

  at(position: number): LogEntry | null {
    let entry = this.seen.get(position);
    if (entry === undefined) {
      entry = this.parse(position);
      this.seen.set(position, entry);
    }
    return entry;
  }

  private parse(position: number): LogEntry | null {
    const log = this.log;
    if (log.toString('latin1', position, position + 4) !== 'loge') return null;
    const length = log.readUInt32LE(position + 8);
    const tail = log.readUInt32LE(position + 12);
    const sequence = log.readBigUInt64LE(position + 16);
    const count = log.readUInt32LE(position + 24);
    const descriptorSectors = Math.ceil((count + 2) / 128);
    if (length === 0 || length > log.length || !isMultiple(length, SECTOR) || !isMultiple(tail, SECTOR) || tail >= log.length) return null;
    if (sequence === 0n || descriptorSectors * SECTOR > length || readGuid(log, position + 32) !== this.logGuid) return null;
    this.budget -= length;
    if (this.budget < 0) {
      throw logError('VHDX_LOG_SCAN_LIMIT', `vhdx log scan gave up after checksumming ${SCAN_WORK_FACTOR} times the log's ${log.length} bytes`, {});
    }
    const bytes = ringSlice(log, position, length);
    if (crc32cWithZeroField(bytes, 4) !== bytes.readUInt32LE(4)) return null;
    const descriptors = parseDescriptors(bytes, count, descriptorSectors, sequence);
    if (descriptors === null) return null;
    const flushedFileOffset = safe(bytes.readBigUInt64LE(48));
    const lastFileOffset = safe(bytes.readBigUInt64LE(56));
    if (flushedFileOffset === null || lastFileOffset === null) return null;
    return { position, length, tail, sequence, flushedFileOffset, lastFileOffset, descriptors };
  }
}

/** The descriptors of an entry, or null when one fails its checks (the entry is then not valid). */
function parseDescriptors(entry: Buffer, count: number, descriptorSectors: number, sequence: bigint): Descriptor[] | null {
  const descriptors: Descriptor[] = [];
  let dataSector = descriptorSectors;
  for (let i = 0; i < count; i++) {
    const at = 64 + i * 32;
    const signature = entry.toString('latin1', at, at + 4);
    const fileOffset = safe(entry.readBigUInt64LE(at + 16));
    if (entry.readBigUInt64LE(at + 24) !== sequence || fileOffset === null || !isMultiple(fileOffset, SECTOR)) return null;
    if (signature === 'zero') {
      const length = safe(entry.readBigUInt64LE(at + 8));
      if (length === null || !isMultiple(length, SECTOR)) return null;
      descriptors.push({ fileOffset, length, data: null });
    } else if (signature === 'desc') {
      const data = dataSectorFor(entry, dataSector++, sequence);
      if (data === null) return null;
      // LeadingBytes (8 at +8) and TrailingBytes (4 at +4) are the sector's own first and last bytes.
      entry.copy(data, 0, at + 8, at + 16);
      entry.copy(data, 4092, at + 4, at + 8);
      descriptors.push({ fileOffset, length: SECTOR, data });
    } else {
      return null;
    }
  }
  return descriptors;
}

/** A copy of data sector `index` of the entry with its bytes 8-4091 in place, or null if it is not one. */
function dataSectorFor(entry: Buffer, index: number, sequence: bigint): Buffer | null {
  const at = index * SECTOR;
  if (at + SECTOR > entry.length || entry.toString('latin1', at, at + 4) !== 'data') return null;
  const stamped = (BigInt(entry.readUInt32LE(at + 4)) << 32n) | BigInt(entry.readUInt32LE(at + 4092));
  if (stamped !== sequence) return null;
  return Buffer.from(entry.subarray(at, at + SECTOR));
}

/** `length` bytes of the ring from `position`, wrapping past the end (copied when they wrap). */
function ringSlice(log: Buffer, position: number, length: number): Buffer {
  if (position + length <= log.length) return log.subarray(position, position + length);
  return Buffer.concat([log.subarray(position), log.subarray(0, position + length - log.length)]);
}

function safe(value: bigint): number | null {
  return value > BigInt(Number.MAX_SAFE_INTEGER) ? null : Number(value);
}


// The fixed structures of a VHDX file, after [MS-VHDX] "Virtual Hard Disk v2 (VHDX) File Format":
// the file type identifier (§2.2.1), the two headers (§2.2.2), the region table (§2.2.3) and the BAT
// entry layout (§2.5). Little-endian throughout; GUIDs are Microsoft GUIDs (data1 LE32, data2 LE16,
// data3 LE16, data4 as bytes), compared here in their canonical lower-case text form.
//
// Pure parsers: bytes in, values out. Every field is checked before it is used, and damage is a
// CorruptError naming the structure and the numbers, never a RangeError from a crafted file.

import { CorruptError } from '../../errors.js';
import { DiskFileUnsupportedError } from './unsupported.js';
import { crc32cUpdate } from '../../ext4/checksum.js';
import { DAMAGED_FILE_HINT } from './cut-short.js';

export const KiB = 1024;
export const MiB = 1024 * 1024;
/** Bytes at the start of every VHDX: identifier, two headers, two region tables, reserved (§2.1). */
export const HEADER_SECTION_BYTES = MiB;
export const HEADER_OFFSETS = [64 * KiB, 128 * KiB] as const;
export const HEADER_BYTES = 4 * KiB;
export const REGION_TABLE_OFFSETS = [192 * KiB, 256 * KiB] as const;
export const REGION_TABLE_BYTES = 64 * KiB;
export const VHDX_HINT = DAMAGED_FILE_HINT;

/** Known GUIDs (§2.2.3.2, §2.6.2). */
export const GUID = {
  bat: '2dc27766-f623-4200-9d64-115e9bfd4a08',
  metadata: '8b7ca206-4790-4b9a-b8fe-575f050f886e',
  fileParameters: 'caa16737-fa36-4d43-b3b6-33f0aa44e76b',
  virtualDiskSize: '2fa54224-cd1b-4876-b211-5dbed83bf4b8',
  page83: 'beca12ab-b2e6-4523-93ef-c309e000c746',
  logicalSectorSize: '8141bf1d-a96f-4709-ba47-f233a8faab5f',
  physicalSectorSize: 'cda348c7-445d-4471-9cc9-e9885251c556',
  parentLocator: 'a8d35f2d-b30b-454d-abf7-d3d84834ab0c',
  vhdxParentLocatorType: 'b04aefb7-d19e-4a81-b789-25b8e9445913',
} as const;

export const ZERO_GUID = '00000000-0000-0000-0000-000000000000';

export function corrupt(code: string, message: string, details: Record<string, unknown> = {}): CorruptError {
  return new CorruptError(code, message, { hint: VHDX_HINT, details });
}

/** A Microsoft GUID at `offset` as canonical text ("2dc27766-f623-4200-9d64-115e9bfd4a08"). */
export function readGuid(buf: Uint8Array, offset: number): string {
  const b = Buffer.from(buf.buffer, buf.byteOffset + offset, 16);
  const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');
  const tail = b.subarray(8, 16).toString('hex');
  return `${hex(b.readUInt32LE(0), 8)}-${hex(b.readUInt16LE(4), 4)}-${hex(b.readUInt16LE(6), 4)}-${tail.slice(0, 4)}-${tail.slice(4)}`;
}

/** A 64-bit field as a number; a value beyond 2^53 is damage (no real VHDX offset or size gets there). */
export function readSafeU64(buf: Buffer, offset: number, what: string): number {
  const value = buf.readBigUInt64LE(offset);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw corrupt('VHDX_FIELD_TOO_LARGE', `vhdx ${what} is ${value}, beyond what any file can hold`, { what, value: value.toString() });
  }
  return Number(value);
}

/** CRC-32C of `buf` with the 4-byte checksum field at `checksumOffset` taken as zero (§2.2.2, §2.3.1.1). */
export function crc32cWithZeroField(buf: Uint8Array, checksumOffset: number): number {
  let crc = crc32cUpdate(0xffffffff, buf, 0, checksumOffset);
  crc = crc32cUpdate(crc, ZERO4);
  crc = crc32cUpdate(crc, buf, checksumOffset + 4, buf.length);
  return (crc ^ 0xffffffff) >>> 0;
}
const ZERO4 = new Uint8Array(4);

export function isMultiple(value: number, unit: number): boolean {
  return value % unit === 0;
}

// ---------------------------------------------------------------------------------------------------
// Headers (§2.2.2): two 4 KiB copies; the current one is the valid one with the larger SequenceNumber.

export interface VhdxHeader {
  /** 0 for the copy at 64 KiB, 1 for 128 KiB. */
  copy: 0 | 1;
  sequenceNumber: bigint;
  fileWriteGuid: string;
  dataWriteGuid: string;
  /** Zero when the log is empty (§2.2.2 LogGuid). */
  logGuid: string;
  logVersion: number;
  version: number;
  logLength: number;
  logOffset: number;
}

/** The header in a 4 KiB block, or null when its signature or checksum does not hold. */
export function parseHeader(block: Buffer, copy: 0 | 1): VhdxHeader | null {
  if (block.length < HEADER_BYTES || block.toString('latin1', 0, 4) !== 'head') return null;
  const stored = block.readUInt32LE(4);
  if (crc32cWithZeroField(block.subarray(0, HEADER_BYTES), 4) !== stored) return null;
  return {
    copy,
    sequenceNumber: block.readBigUInt64LE(8),
    fileWriteGuid: readGuid(block, 16),
    dataWriteGuid: readGuid(block, 32),
    logGuid: readGuid(block, 48),
    logVersion: block.readUInt16LE(64),
    version: block.readUInt16LE(66),
    logLength: block.readUInt32LE(68),
    // A nonsense offset only matters when there is a log to replay; vhdx-log.ts checks it then.
    logOffset: Number(block.readBigUInt64LE(72)),
  };
}

/**
 * The current header: the only valid one, or the valid one with the larger sequence number. Two valid
 * headers with the same number are accepted only when identical (Disk2VHD writes them so; QEMU agrees).
 */
export function chooseHeader(blocks: [Buffer, Buffer]): VhdxHeader {
  const a = parseHeader(blocks[0], 0);
  const b = parseHeader(blocks[1], 1);
  let current: VhdxHeader;
  if (a === null && b === null) {
    throw corrupt('VHDX_NO_VALID_HEADER', 'vhdx has no valid header: both copies (at 64 KiB and 128 KiB) fail their signature or CRC-32C');
  } else if (a === null || b === null) {
    current = (a ?? b)!;
  } else if (a.sequenceNumber !== b.sequenceNumber) {
    current = a.sequenceNumber > b.sequenceNumber ? a : b;
  } else if (blocks[0].subarray(0, HEADER_BYTES).equals(blocks[1].subarray(0, HEADER_BYTES))) {
    current = a;
  } else {
    throw corrupt('VHDX_HEADER_CONFLICT', `vhdx headers differ but carry the same sequence number ${a.sequenceNumber}`);
  }
  if (current.version !== 1) {
    throw new DiskFileUnsupportedError('VHDX_VERSION', `vhdx version ${current.version} is not supported (only version 1 exists)`, {
      details: { version: current.version },
    });
  }
  return current;
}

// ---------------------------------------------------------------------------------------------------
// Region table (§2.2.3): where the BAT and the metadata region are.

export interface Region {
  fileOffset: number;
  length: number;
}

export interface RegionTable {
  bat: Region;
  metadata: Region;
}

/** Whether a 64 KiB block holds a region table with a good signature and checksum. */
function regionTableIsValid(block: Buffer): boolean {
  return (
    block.length >= REGION_TABLE_BYTES &&
    block.toString('latin1', 0, 4) === 'regi' &&
    crc32cWithZeroField(block.subarray(0, REGION_TABLE_BYTES), 4) === block.readUInt32LE(4)
  );
}

/**
 * The BAT and metadata regions from the first valid copy of the region table. `fileSize` is the size of
 * the (log-replayed) file: every region must lie inside it, 1 MiB aligned, past the header section.
 */
export function parseRegionTable(blocks: [Buffer, Buffer], fileSize: number): RegionTable {
  const block = regionTableIsValid(blocks[0]) ? blocks[0] : regionTableIsValid(blocks[1]) ? blocks[1] : null;
  if (block === null) {
    throw corrupt('VHDX_NO_VALID_REGION_TABLE', 'vhdx has no valid region table: both copies (at 192 KiB and 256 KiB) fail their signature or CRC-32C');
  }
  const count = block.readUInt32LE(8);
  if (count > 2047) throw corrupt('VHDX_REGION_COUNT', `vhdx region table claims ${count} entries (at most 2047)`, { count });
  const found = new Map<string, Region>();
  for (let i = 0; i < count; i++) {
    const at = 16 + i * 32;
    const guid = readGuid(block, at);
    const region = { fileOffset: readSafeU64(block, at + 16, `region ${guid} offset`), length: block.readUInt32LE(at + 24) };
    const required = (block.readUInt32LE(at + 28) & 1) === 1;
    if (guid !== GUID.bat && guid !== GUID.metadata) {
      if (required) {
        throw new DiskFileUnsupportedError('VHDX_UNKNOWN_REGION', `vhdx requires region ${guid}, which this tool does not know`, { details: { guid } });
      }
      continue;
    }
    if (found.has(guid)) throw corrupt('VHDX_DUPLICATE_REGION', `vhdx region table lists region ${guid} twice`, { guid });
    checkRegion(region, guid === GUID.bat ? 'BAT' : 'metadata', fileSize);
    found.set(guid, region);
  }
  const bat = found.get(GUID.bat);
  const metadata = found.get(GUID.metadata);
  if (bat === undefined || metadata === undefined) {
    throw corrupt('VHDX_MISSING_REGION', `vhdx region table has no ${bat === undefined ? 'BAT' : 'metadata'} region`);
  }
  if (overlaps(bat, metadata)) throw corrupt('VHDX_REGION_OVERLAP', 'vhdx BAT and metadata regions overlap', { bat, metadata });
  return { bat, metadata };
}

function checkRegion(region: Region, name: string, fileSize: number): void {
  const { fileOffset, length } = region;
  if (fileOffset < HEADER_SECTION_BYTES || !isMultiple(fileOffset, MiB) || length === 0 || !isMultiple(length, MiB) || fileOffset + length > fileSize) {
    throw corrupt('VHDX_BAD_REGION', `vhdx ${name} region at byte ${fileOffset}, ${length} bytes, is not 1 MiB aligned inside the ${fileSize}-byte file`, {
      region: name,
      fileOffset,
      length,
      fileSize,
    });
  }
}

export function overlaps(a: Region, b: Region): boolean {
  return a.fileOffset < b.fileOffset + b.length && b.fileOffset < a.fileOffset + a.length;
}

// ---------------------------------------------------------------------------------------------------
// BAT entries (§2.5.1): State in bits 0-2, FileOffsetMB in bits 20-63.

export const BlockState = {
  NOT_PRESENT: 0,
  UNDEFINED: 1,
  ZERO: 2,
  UNMAPPED: 3,
  /** PAYLOAD_BLOCK_UNMAPPED in the 0.95 draft of the format; QEMU reads it as unmapped too. */
  UNMAPPED_V095: 5,
  FULLY_PRESENT: 6,
  PARTIALLY_PRESENT: 7,
} as const;
/** SB_BLOCK_PRESENT (§2.5.1.2). */
export const SB_BLOCK_PRESENT = 6;

export interface BatEntry {
  state: number;
  /** FileOffsetMB: up to 2^44, so a number (bytes = fileOffsetMb * MiB may exceed 2^53: compare, never add). */
  fileOffsetMb: number;
}

export function decodeBatEntry(buf: Buffer, offset: number): BatEntry {
  const lo = buf.readUInt32LE(offset);
  const hi = buf.readUInt32LE(offset + 4);
  return { state: lo & 7, fileOffsetMb: hi * 4096 + (lo >>> 20) };
}

// VHD on-disk structures: the 512-byte footer and the 1024-byte dynamic disk header, decoded and
// validated (Microsoft "Virtual Hard Disk Image Format Specification" 1.0, 2006; all fields big-endian).
//
// Footer ("hard disk footer"; at the end of every VHD, and copied to byte 0 of dynamic/differencing ones):
//   0 cookie "conectix", 8 features, 12 file format version 0x00010000, 16 data offset (u64: the
//   dynamic header, all ones for fixed disks), 24 time stamp, 28 creator application, 32 creator version,
//   36 creator host OS, 40 original size (u64), 48 current size (u64), 56 disk geometry (cylinders u16,
//   heads u8, sectors per track u8), 60 disk type (2 fixed, 3 dynamic, 4 differencing), 64 checksum,
//   68 unique id (16), 84 saved state (u8), 85 reserved.
// Dynamic disk header:
//   0 cookie "cxsparse", 8 data offset (unused), 16 table offset (u64: the BAT), 24 header version
//   0x00010000, 28 max table entries, 32 block size, 36 checksum, 40 parent unique id (16),
//   56 parent time stamp, 60 reserved, 64 parent unicode name (512 bytes UTF-16BE),
//   576 eight parent locator entries of 24 bytes (platform code u32, platform data space u32,
//   platform data length u32, reserved u32, platform data offset u64), 768 reserved.
// Checksum (both structures): the ones' complement of the sum of all bytes, the checksum field taken as 0.

import { CorruptError } from '../../errors.js';
import { DiskFileUnsupportedError } from './unsupported.js';
import { DAMAGED_FILE_HINT } from './cut-short.js';

export const VHD_HINT = DAMAGED_FILE_HINT;
export const FOOTER_SIZE = 512;
export const DYNAMIC_HEADER_SIZE = 1024;
const FOOTER_COOKIE = 'conectix';
const DYNAMIC_COOKIE = 'cxsparse';
/** 65535 cylinders x 16 heads x 255 sectors: the largest geometry, used when the size does not fit CHS. */
const MAX_CHS_SECTORS = 65535 * 16 * 255;
/**
 * Creators whose images are sized by the footer's current size. Virtual PC (and older QEMU, 'qemu') size
 * the disk by its CHS geometry instead; QEMU's block/vpc.c uses the same table.
 */
const CURRENT_SIZE_CREATORS = new Set(['win ', 'qem2', 'd2v ', 'CTXS', 'tap\0']);

export type VhdDiskType = 'fixed' | 'dynamic' | 'differencing';

export interface VhdFooter {
  dataOffset: bigint;
  creatorApp: string;
  currentSizeBytes: number;
  cylinders: number;
  heads: number;
  sectorsPerTrack: number;
  diskType: VhdDiskType;
  uniqueId: string;
  savedState: boolean;
}

export interface ParentLocator {
  platformCode: string;
  dataLength: number;
  dataOffset: bigint;
}

export interface DynamicHeader {
  tableOffset: bigint;
  maxTableEntries: number;
  blockSize: number;
  parentUniqueId: string;
  parentName: string;
  locators: ParentLocator[];
}

export function hasFooterCookie(bytes: Buffer): boolean {
  return bytes.length >= FOOTER_SIZE && bytes.toString('latin1', 0, 8) === FOOTER_COOKIE;
}

/** Ones' complement of the byte sum of `bytes` with the 4 bytes at `checksumOffset` counted as zero. */
export function vhdChecksum(bytes: Buffer, checksumOffset: number): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (i < checksumOffset || i >= checksumOffset + 4) sum += bytes[i]!;
  }
  return ~sum >>> 0;
}

export function footerChecksumOk(bytes: Buffer): boolean {
  return hasFooterCookie(bytes) && vhdChecksum(bytes.subarray(0, FOOTER_SIZE), 64) === bytes.readUInt32BE(64);
}

/**
 * Picks the footer to trust: the one at the end of the file when its checksum holds, else the copy at
 * byte 0 (dynamic and differencing disks only). Returns the notes worth showing.
 */
export function chooseFooter(head: Buffer, tail: Buffer): { footer: VhdFooter; notes: string[] } {
  if (footerChecksumOk(tail)) return { footer: parseFooter(tail), notes: [] };
  if (footerChecksumOk(head)) {
    const footer = parseFooter(head);
    if (footer.diskType !== 'fixed') {
      const why = hasFooterCookie(tail) ? 'has a bad checksum' : 'is missing (file truncated or extended?)';
      return { footer, notes: [`the footer at the end of the file ${why}; using its copy at the start of the file`] };
    }
  }
  const bad = hasFooterCookie(tail) ? tail : hasFooterCookie(head) ? head : undefined;
  if (bad === undefined) {
    throw new CorruptError('VHD_NO_FOOTER', 'VHD footer ("conectix") is neither at the end nor at the start of the file', { hint: VHD_HINT });
  }
  const stored = bad.readUInt32BE(64);
  const computed = vhdChecksum(bad.subarray(0, FOOTER_SIZE), 64);
  throw new CorruptError(
    'VHD_FOOTER_CHECKSUM',
    `VHD footer checksum is 0x${hex32(stored)}, computed 0x${hex32(computed)}, and no good copy exists`,
    { hint: VHD_HINT, details: { stored, computed } },
  );
}

/** Decodes a footer whose cookie and checksum have been checked. */
export function parseFooter(bytes: Buffer): VhdFooter {
  const version = bytes.readUInt32BE(12);
  if (version >>> 16 !== 1) {
    throw new DiskFileUnsupportedError('VHD_VERSION', `VHD file format version ${version >>> 16}.${version & 0xffff} is not supported (only 1.x)`, {
      hint: 'convert the disk with qemu-img convert -O raw',
    });
  }
  const typeCode = bytes.readUInt32BE(60);
  const diskType = typeCode === 2 ? 'fixed' : typeCode === 3 ? 'dynamic' : typeCode === 4 ? 'differencing' : undefined;
  if (diskType === undefined) {
    throw new CorruptError('VHD_DISK_TYPE', `VHD disk type ${typeCode} is unknown (2 fixed, 3 dynamic, 4 differencing)`, { hint: VHD_HINT });
  }
  return {
    dataOffset: bytes.readBigUInt64BE(16),
    creatorApp: bytes.toString('latin1', 28, 32),
    currentSizeBytes: safeU64(bytes.readBigUInt64BE(48), 'current size'),
    cylinders: bytes.readUInt16BE(56),
    heads: bytes[58]!,
    sectorsPerTrack: bytes[59]!,
    diskType,
    uniqueId: bytes.toString('hex', 68, 84),
    savedState: bytes[84] !== 0,
  };
}

/**
 * The guest size, as the program that made the disk shows it to its guest: Virtual PC by the CHS
 * geometry (the current size is usually a little larger), Hyper-V and others by the current size; a
 * disk at the largest geometry is always sized by its current size. Sizes are whole sectors.
 */
export function guestSize(footer: VhdFooter): { sizeBytes: number; note: string | null } {
  const chsSectors = footer.cylinders * footer.heads * footer.sectorsPerTrack;
  const currentBytes = Math.floor(footer.currentSizeBytes / 512) * 512;
  const byCurrent = CURRENT_SIZE_CREATORS.has(footer.creatorApp) || chsSectors === MAX_CHS_SECTORS || chsSectors === 0;
  const chsBytes = chsSectors * 512;
  if (byCurrent || chsBytes === currentBytes) return { sizeBytes: currentBytes, note: null };
  const creator = JSON.stringify(footer.creatorApp.replace(/\0/g, ''));
  return {
    sizeBytes: chsBytes,
    note: `size ${chsBytes} bytes taken from the CHS geometry ${footer.cylinders}/${footer.heads}/${footer.sectorsPerTrack} as Virtual PC does (creator ${creator}); the footer's current size is ${footer.currentSizeBytes}`,
  };
}

/** Decodes and validates the dynamic disk header (1024 bytes). */
export function parseDynamicHeader(bytes: Buffer): DynamicHeader {
  if (bytes.length < DYNAMIC_HEADER_SIZE || bytes.toString('latin1', 0, 8) !== DYNAMIC_COOKIE) {
    throw new CorruptError('VHD_DYNAMIC_HEADER', 'VHD dynamic disk header has no "cxsparse" cookie', { hint: VHD_HINT });
  }
  const stored = bytes.readUInt32BE(36);
  const computed = vhdChecksum(bytes.subarray(0, DYNAMIC_HEADER_SIZE), 36);
  if (stored !== computed) {
    throw new CorruptError('VHD_DYNAMIC_HEADER_CHECKSUM', `VHD dynamic disk header checksum is 0x${hex32(stored)}, computed 0x${hex32(computed)}`, {
      hint: VHD_HINT,
      details: { stored, computed },
    });
  }
  const version = bytes.readUInt32BE(24);
  if (version >>> 16 !== 1) {
    throw new DiskFileUnsupportedError('VHD_HEADER_VERSION', `VHD dynamic header version ${version >>> 16}.${version & 0xffff} is not supported (only 1.x)`);
  }
  const locators: ParentLocator[] = [];
  for (let i = 0; i < 8; i++) {
    const at = 576 + i * 24;
    const code = bytes.readUInt32BE(at);
    if (code === 0) continue;
    locators.push({ platformCode: bytes.toString('latin1', at, at + 4), dataLength: bytes.readUInt32BE(at + 8), dataOffset: bytes.readBigUInt64BE(at + 16) });
  }
  return {
    tableOffset: bytes.readBigUInt64BE(16),
    maxTableEntries: bytes.readUInt32BE(28),
    blockSize: bytes.readUInt32BE(32),
    parentUniqueId: bytes.toString('hex', 40, 56),
    parentName: decodeUtf16Be(bytes.subarray(64, 576)),
    locators,
  };
}

/** UTF-16BE up to the first NUL. */
export function decodeUtf16Be(bytes: Buffer): string {
  const swapped = Buffer.from(bytes.subarray(0, bytes.length & ~1));
  swapped.swap16();
  const text = swapped.toString('utf16le');
  const nul = text.indexOf('\0');
  return nul === -1 ? text : text.slice(0, nul);
}

export function safeU64(value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new CorruptError('VHD_FIELD_TOO_LARGE', `VHD ${what} ${value} is too large`, { hint: VHD_HINT });
  }
  return Number(value);
}

function hex32(n: number): string {
  return n.toString(16).padStart(8, '0');
}

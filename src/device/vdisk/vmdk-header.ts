// The binary structures of a VMDK sparse extent (VMware "Virtual Disk Format 5.0", §"Hosted Sparse
// Extent Header" and §"Stream-Optimized Compressed Sparse Extents"; QEMU block/vmdk.c VMDK4Header):
//
//   SparseExtentHeader, 512 bytes little-endian at sector 0 (and again in the footer of a stream):
//     0 magicNumber 'KDMV'   4 version (1..3)   8 flags   12 capacity (sectors, u64)
//    20 grainSize (sectors)  28 descriptorOffset  36 descriptorSize (sectors)   44 numGTEsPerGT (u32)
//    48 rgdOffset  56 gdOffset (sectors; GD_AT_END = ~0 in a stream: the footer has the real value)
//    64 overHead (sectors)   72 uncleanShutdown   73..76 "\n \r\n" newline test   77 compressAlgorithm (u16)
//
//   A stream marker, at a sector boundary: u64 val, u32 size, then for size > 0 `size` bytes of deflated
//   grain (val = the grain's first guest sector); for size == 0 a metadata marker: u32 type at 12 (0 EOS,
//   1 GT, 2 GD, 3 footer) and `val` sectors of metadata after the marker's sector.
//
// Every field is validated here so the readers never see a value that could overflow or point nowhere.

import { CorruptError } from '../../errors.js';
import { DiskFileUnsupportedError } from './unsupported.js';
import { DAMAGED_FILE_HINT } from './cut-short.js';

export const SECTOR = 512;
export const KDMV_MAGIC = 0x564d444b; // "KDMV" read little-endian
export const COWD_MAGIC = 0x44574f43; // "COWD": the ESX 2 / vmfsSparse extent, not read here
export const GD_AT_END = 0xffffffffffffffffn;

const FLAG_NEWLINE_TEST = 1 << 0; // bytes 73..76 hold "\n \r\n" to detect text-mode (FTP ASCII) copies
const FLAG_ZERO_GRAIN = 1 << 2; // a GTE of 1 means "zeroed grain" (do not read the parent)
const FLAG_COMPRESSED = 1 << 16;
const FLAG_MARKERS = 1 << 17;
/** QEMU refuses larger grains (1 GiB); a compressed grain is inflated whole, so this also bounds memory. */
const MAX_GRAIN_SECTORS = 0x200000;
const MAX_GTES_PER_GT = 512;

export const MARKER_EOS = 0;
export const MARKER_GT = 1;
export const MARKER_GD = 2;
export const MARKER_FOOTER = 3;

export const CHECK_HINT = DAMAGED_FILE_HINT;

export interface SparseHeader {
  version: number;
  flags: number;
  capacitySectors: number;
  grainSectors: number;
  descriptorSector: number;
  descriptorSectors: number;
  gtesPerGt: number;
  /** Sector of the grain directory, or null for GD_AT_END (a stream: see the footer). */
  gdSector: number | null;
  rgdSector: number;
  overheadSectors: number;
  compressed: boolean;
  markers: boolean;
  zeroGrain: boolean;
  /** uncleanShutdown: the disk was open for writing when its host stopped. */
  unclean: boolean;
}

export function corrupt(code: string, message: string, details: Record<string, unknown> = {}): CorruptError {
  return new CorruptError(code, message, { details, hint: CHECK_HINT });
}

/** A u64 field as a safe integer, or a CorruptError naming it. */
export function u64(buf: Buffer, offset: number, what: string, where: string): number {
  const v = buf.readBigUInt64LE(offset);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw corrupt('VMDK_BAD_HEADER', `${where}: ${what} ${v} is out of range`, { field: what, value: v.toString() });
  }
  return Number(v);
}

/**
 * Parses and validates a SparseExtentHeader. `where` names the file for messages; `fileSize` bounds the
 * descriptor. The grain directory's own bounds are checked by the reader, which knows the footer.
 */
export function parseSparseHeader(buf: Buffer, where: string, fileSize: number): SparseHeader {
  if (buf.length < SECTOR) throw corrupt('VMDK_TRUNCATED', `${where}: file is shorter than a sparse header (${buf.length} bytes)`);
  const magic = buf.readUInt32LE(0);
  if (magic === COWD_MAGIC) {
    throw new DiskFileUnsupportedError('VMDK_COWD', `${where} is a VMFS sparse (COWD) extent, which haos-rescue cannot read yet`, {
      hint: `convert it on a machine with qemu-img: qemu-img convert -O raw "<descriptor>.vmdk" disk.img`,
    });
  }
  if (magic !== KDMV_MAGIC) throw corrupt('VMDK_BAD_MAGIC', `${where}: no sparse extent header (magic 0x${magic.toString(16)})`);
  const version = buf.readUInt32LE(4);
  if (version < 1 || version > 3) {
    throw new DiskFileUnsupportedError('VMDK_VERSION', `${where}: sparse extent version ${version} is not supported (1 to 3 are)`);
  }
  const flags = buf.readUInt32LE(8);
  const compressAlgorithm = buf.readUInt16LE(77);
  const gdRaw = buf.readBigUInt64LE(56);
  const header: SparseHeader = {
    version,
    flags,
    capacitySectors: u64(buf, 12, 'capacity', where),
    grainSectors: u64(buf, 20, 'grainSize', where),
    descriptorSector: u64(buf, 28, 'descriptorOffset', where),
    descriptorSectors: u64(buf, 36, 'descriptorSize', where),
    gtesPerGt: buf.readUInt32LE(44),
    rgdSector: Number(buf.readBigUInt64LE(48) & 0xffffffffffffn),
    gdSector: gdRaw === GD_AT_END ? null : u64(buf, 56, 'gdOffset', where),
    overheadSectors: Number(buf.readBigUInt64LE(64) & 0xffffffffffffn),
    // As QEMU reads it: deflate named as the algorithm makes the grains compressed, whatever the flag says (a
    // streamOptimized file whose flag bit was cleared was read as raw grains, "no Home Assistant data").
    compressed: (flags & FLAG_COMPRESSED) !== 0 || compressAlgorithm === 1,
    markers: (flags & FLAG_MARKERS) !== 0,
    zeroGrain: (flags & FLAG_ZERO_GRAIN) !== 0,
    unclean: buf[72] !== 0,
  };
  if ((flags & FLAG_NEWLINE_TEST) !== 0 && buf.toString('latin1', 73, 77) !== '\n \r\n') {
    throw corrupt('VMDK_NEWLINE_MANGLED', `${where}: the newline test bytes are changed: the file was copied in text mode (FTP ASCII?) and is damaged throughout`);
  }
  validateHeader(header, compressAlgorithm, where, fileSize);
  return header;
}

function validateHeader(h: SparseHeader, compressAlgorithm: number, where: string, fileSize: number): void {
  const g = h.grainSectors;
  if (g < 1 || g > MAX_GRAIN_SECTORS || (g & (g - 1)) !== 0) {
    throw corrupt('VMDK_BAD_HEADER', `${where}: grainSize ${g} sectors is not a power of two up to ${MAX_GRAIN_SECTORS}`, { grainSectors: g });
  }
  if (h.gtesPerGt < 1 || h.gtesPerGt > MAX_GTES_PER_GT) {
    throw corrupt('VMDK_BAD_HEADER', `${where}: numGTEsPerGT ${h.gtesPerGt} is not between 1 and ${MAX_GTES_PER_GT}`, { gtesPerGt: h.gtesPerGt });
  }
  if (!Number.isSafeInteger(h.capacitySectors * SECTOR)) {
    throw corrupt('VMDK_BAD_HEADER', `${where}: capacity ${h.capacitySectors} sectors is too large`, { capacitySectors: h.capacitySectors });
  }
  if (h.compressed && compressAlgorithm !== 1) {
    throw new DiskFileUnsupportedError('VMDK_COMPRESSION', `${where}: compressAlgorithm ${compressAlgorithm} is not supported (1, deflate, is)`, {
      hint: CHECK_HINT,
    });
  }
  if (h.descriptorSectors > 0 && (h.descriptorSector + h.descriptorSectors) * SECTOR > fileSize) {
    throw corrupt('VMDK_BAD_HEADER', `${where}: embedded descriptor (sector ${h.descriptorSector}, ${h.descriptorSectors} sectors) lies past the end of the file (${fileSize} bytes)`, {
      descriptorSector: h.descriptorSector,
      descriptorSectors: h.descriptorSectors,
      fileSize,
    });
  }
}

export interface Marker {
  /** Grain markers: the grain's first guest sector; metadata markers: sectors of metadata that follow. */
  val: number;
  /** Bytes of compressed data after the 12-byte grain marker; 0 for metadata markers. */
  size: number;
  /** Metadata marker type (EOS, GT, GD, FOOTER); -1 for a grain marker. */
  type: number;
}

/** Reads a marker from at least 16 bytes. `val` above 2^53 is corrupt. */
export function parseMarker(buf: Buffer, where: string): Marker {
  const size = buf.readUInt32LE(8);
  return { val: u64(buf, 0, 'marker value', where), size, type: size === 0 ? buf.readUInt32LE(12) : -1 };
}

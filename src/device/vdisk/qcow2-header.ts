// The qcow2 header and its extensions (QEMU docs/interop/qcow2.txt, "Header", "Header extensions",
// "Feature name table"). parseQcow2Header reads every field at its spec offset, then validates each one
// against the file size and QEMU's own limits, so that later code can trust offsets and sizes: a crafted
// header must never make the reader allocate or seek far beyond what the file holds.

import { CorruptError, UnsupportedError } from '../../errors.js';
import { DiskFileUnsupportedError } from './unsupported.js';
import { DAMAGED_FILE_HINT } from './cut-short.js';

export const QCOW2_MAGIC = 0x514649fb; // "QFI\xfb"

/** incompatible_features bits (spec: "Bits 5-63: Reserved"). */
export const INCOMPAT_DIRTY = 1;
export const INCOMPAT_CORRUPT = 2;
export const INCOMPAT_DATA_FILE = 4;
export const INCOMPAT_COMPRESSION_TYPE = 8;
export const INCOMPAT_EXTENDED_L2 = 16;

/** QEMU limits (block/qcow2.h): 2 MiB clusters, 32 MiB L1 table, 65536 snapshots, 1023-byte backing name. */
const MAX_CLUSTER_BITS = 21;
const MAX_L1_BYTES = 32 * 1024 * 1024;
export const MAX_SNAPSHOTS = 65536;
const MAX_BACKING_NAME = 1023;

const EXT_END = 0x00000000;
const EXT_BACKING_FORMAT = 0xe2792aca;
const EXT_FEATURE_NAMES = 0x6803f857;
const EXT_DATA_FILE = 0x44415441;

export const QCOW2_HINT = DAMAGED_FILE_HINT;

export type CompressionType = 'zlib' | 'zstd';

export interface Qcow2Header {
  version: 2 | 3;
  backingFileOffset: number;
  backingFileSize: number;
  clusterBits: number;
  clusterSize: number;
  virtualSize: number;
  cryptMethod: number;
  l1Size: number;
  l1TableOffset: number;
  snapshotCount: number;
  snapshotsOffset: number;
  /** Low 32 bits of incompatible_features (the known bits are all there). */
  incompatible: number;
  /** Reserved incompatible_features bits that are set: checkFeatures refuses the image. */
  unknownIncompatibleBits: number[];
  compressionType: CompressionType;
  extendedL2: boolean;
  headerLength: number;
  /** From the header extensions. */
  backingFormat: string | null;
  dataFileName: string | null;
  /** Names of incompatible feature bits from the feature name table, by bit number. */
  incompatibleNames: Map<number, string>;
}

/** Bytes an L2 entry takes: 8, or 16 with extended L2 entries (an extra subcluster bitmap). */
export function l2EntryBytes(header: Qcow2Header): number {
  return header.extendedL2 ? 16 : 8;
}

export function corrupt(code: string, message: string, details: Record<string, unknown> = {}): CorruptError {
  return new CorruptError(code, message, { hint: QCOW2_HINT, details });
}

/**
 * A big-endian u64 as a number; above Number.MAX_SAFE_INTEGER it is damage (no qcow2 field a reader
 * needs can legitimately be that large).
 */
export function readU64(bytes: Buffer, at: number, field: string, path: string): number {
  const hi = bytes.readUInt32BE(at);
  const lo = bytes.readUInt32BE(at + 4);
  if (hi > 0x1fffff) {
    throw corrupt('QCOW2_BAD_HEADER', `corrupt qcow2 header in ${path}: ${field} 0x${bytes.subarray(at, at + 8).toString('hex')} is too large`, { field });
  }
  return hi * 2 ** 32 + lo;
}

/**
 * Parses the header cluster `bytes` (the first cluster of the file, or all of a shorter file).
 * `fileSize` bounds every offset. Throws CorruptError for damage, UnsupportedError for valid features
 * this reader does not implement (encryption, external data files, unknown incompatible bits).
 */
export function parseQcow2Header(bytes: Buffer, fileSize: number, path: string): Qcow2Header {
  const bad = (message: string, details: Record<string, unknown> = {}): CorruptError =>
    corrupt('QCOW2_BAD_HEADER', `corrupt qcow2 header in ${path}: ${message}`, details);
  if (bytes.length < 72) throw bad(`the file is only ${bytes.length} bytes, shorter than a header`);
  if (bytes.readUInt32BE(0) !== QCOW2_MAGIC) throw bad(`bad magic 0x${bytes.readUInt32BE(0).toString(16)}`);
  const version = bytes.readUInt32BE(4); // version
  if (version !== 2 && version !== 3) {
    throw new DiskFileUnsupportedError('QCOW2_VERSION', `${path} is qcow2 version ${version}; only versions 2 and 3 exist so far`, {
      hint: 'convert it with a newer qemu-img: qemu-img convert -O raw',
      details: { version },
    });
  }
  const clusterBits = bytes.readUInt32BE(20); // cluster_bits
  if (clusterBits < 9 || clusterBits > MAX_CLUSTER_BITS) throw bad(`cluster_bits ${clusterBits} is outside 9..${MAX_CLUSTER_BITS}`, { clusterBits });
  const clusterSize = 2 ** clusterBits;
  const header: Qcow2Header = {
    version,
    backingFileOffset: readU64(bytes, 8, 'backing_file_offset', path),
    backingFileSize: bytes.readUInt32BE(16),
    clusterBits,
    clusterSize,
    virtualSize: readU64(bytes, 24, 'size', path),
    cryptMethod: bytes.readUInt32BE(32),
    l1Size: bytes.readUInt32BE(36),
    l1TableOffset: readU64(bytes, 40, 'l1_table_offset', path),
    snapshotCount: bytes.readUInt32BE(60),
    snapshotsOffset: readU64(bytes, 64, 'snapshots_offset', path),
    incompatible: 0,
    unknownIncompatibleBits: [],
    compressionType: 'zlib',
    extendedL2: false,
    headerLength: 72,
    backingFormat: null,
    dataFileName: null,
    incompatibleNames: new Map(),
  };
  if (version === 3) parseV3Fields(bytes, header, bad);
  if (header.cryptMethod !== 0) throw encrypted(header.cryptMethod, path);
  parseExtensions(bytes, header, path);
  checkFeatures(header, path);
  checkLayout(header, fileSize, bad);
  return header;
}

type Bad = (message: string, details?: Record<string, unknown>) => CorruptError;

/** Version 3 fields: feature bitmasks, refcount_order, header_length, compression_type. */
function parseV3Fields(bytes: Buffer, header: Qcow2Header, bad: Bad): void {
  if (bytes.length < 104) throw bad(`the file is only ${bytes.length} bytes, shorter than a version 3 header`);
  const headerLength = bytes.readUInt32BE(100); // header_length
  if (headerLength < 104 || headerLength % 8 !== 0 || headerLength > Math.min(bytes.length, header.clusterSize)) {
    throw bad(`header_length ${headerLength} is not a multiple of 8 between 104 and the cluster size`, { headerLength });
  }
  header.headerLength = headerLength;
  const refcountOrder = bytes.readUInt32BE(96); // refcount_order
  if (refcountOrder > 6) throw bad(`refcount_order ${refcountOrder} is above 6`, { refcountOrder });
  // incompatible_features: a u64 whose bits 5-63 are reserved, so each of them is an unknown feature.
  const incompatHigh = bytes.readUInt32BE(72);
  header.incompatible = bytes.readUInt32BE(76);
  for (let bit = 5; bit < 64; bit++) {
    const word = bit < 32 ? header.incompatible : incompatHigh;
    if (((word >>> bit % 32) & 1) !== 0) header.unknownIncompatibleBits.push(bit);
  }
  header.extendedL2 = (header.incompatible & INCOMPAT_EXTENDED_L2) !== 0;
  // compression_type (byte 104) is present only when header_length covers it.
  const compression = headerLength > 104 ? bytes[104]! : 0;
  const typeBit = (header.incompatible & INCOMPAT_COMPRESSION_TYPE) !== 0;
  if (typeBit !== (compression !== 0)) {
    throw bad(`compression_type ${compression} does not match the compression type feature bit (${typeBit ? 'set' : 'clear'})`, { compression });
  }
  if (compression > 1) {
    throw new DiskFileUnsupportedError('QCOW2_COMPRESSION_TYPE', `qcow2 compression type ${compression} is not supported (only zlib and zstd)`, {
      hint: 'convert it to raw with qemu-img convert -O raw',
      details: { compression },
    });
  }
  header.compressionType = compression === 1 ? 'zstd' : 'zlib';
}

function encrypted(cryptMethod: number, path: string): UnsupportedError {
  const method = cryptMethod === 1 ? 'AES' : cryptMethod === 2 ? 'LUKS' : `method ${cryptMethod}`;
  return new DiskFileUnsupportedError('VDISK_ENCRYPTED', `${path} is an encrypted qcow2 image (${method}); haos-rescue cannot decrypt it`, {
    hint:
      `decrypt a copy with the passphrase first: qemu-img convert --object secret,id=sec0,file=passphrase.txt ` +
      `--image-opts driver=qcow2,file.filename="${path}",encrypt.key-secret=sec0 -O raw disk.img`,
    details: { cryptMethod },
  });
}

/**
 * Header extensions follow the header up to the end of the first cluster: type (u32), length (u32),
 * data padded to 8 bytes, until type 0 or (as QEMU reads it) the backing file name. Unknown types are
 * skipped, as the spec allows.
 */
function parseExtensions(bytes: Buffer, header: Qcow2Header, path: string): void {
  const nameAt = header.backingFileOffset > header.headerLength ? header.backingFileOffset : Infinity;
  const limit = Math.min(bytes.length, header.clusterSize, nameAt);
  let at = header.headerLength;
  while (at + 8 <= limit) {
    const type = bytes.readUInt32BE(at);
    const length = bytes.readUInt32BE(at + 4);
    if (type === EXT_END) return;
    const data = at + 8;
    if (length > limit - data) {
      throw corrupt('QCOW2_BAD_HEADER', `corrupt qcow2 header in ${path}: extension 0x${type.toString(16)} at byte ${at} runs past the first cluster`, {
        type,
        length,
      });
    }
    const body = bytes.subarray(data, data + length);
    if (type === EXT_BACKING_FORMAT) header.backingFormat = body.toString('utf8');
    if (type === EXT_DATA_FILE) header.dataFileName = body.toString('utf8');
    if (type === EXT_FEATURE_NAMES) parseFeatureNames(body, header);
    at = data + Math.ceil(length / 8) * 8;
  }
}

/** Feature name table entries: type (0 = incompatible), bit number, 46-byte zero-padded name. */
function parseFeatureNames(body: Buffer, header: Qcow2Header): void {
  for (let at = 0; at + 48 <= body.length; at += 48) {
    if (body[at] !== 0) continue;
    const name = body.subarray(at + 2, at + 48).toString('latin1').replace(/\0.*$/s, '');
    header.incompatibleNames.set(body[at + 1]!, name);
  }
}

function checkFeatures(header: Qcow2Header, path: string): void {
  const bits = header.unknownIncompatibleBits;
  if (bits.length > 0) {
    const names = bits.map((bit) => header.incompatibleNames.get(bit) ?? `bit ${bit}`);
    throw new DiskFileUnsupportedError('QCOW2_INCOMPATIBLE_FEATURE', `${path} uses qcow2 features haos-rescue does not know: ${names.join(', ')}`, {
      hint: 'convert it with the qemu-img that made it: qemu-img convert -O raw',
      details: { bits },
    });
  }
  if ((header.incompatible & INCOMPAT_DATA_FILE) !== 0) {
    const name = header.dataFileName === null ? '' : ` (${header.dataFileName})`;
    throw new DiskFileUnsupportedError('QCOW2_EXTERNAL_DATA_FILE', `${path} keeps its guest data in an external data file${name}; haos-rescue cannot read those yet`, {
      hint: `make a standalone raw copy: qemu-img convert -O raw "${path}" disk.img`,
      details: { dataFile: header.dataFileName },
    });
  }
  if (header.extendedL2 && header.clusterBits < 14) {
    throw corrupt('QCOW2_BAD_HEADER', `corrupt qcow2 header in ${path}: extended L2 entries need clusters of at least 16 KiB, not ${header.clusterSize}`, {
      clusterBits: header.clusterBits,
    });
  }
}

/**
 * Offsets and sizes against the file: the L1 table must cover the virtual size, lie cluster-aligned
 * inside the file and stay within QEMU's 32 MiB limit; the backing file name must lie in the first cluster.
 */
function checkLayout(header: Qcow2Header, fileSize: number, bad: Bad): void {
  const { clusterSize, l1Size, l1TableOffset } = header;
  const guestBytesPerL2 = (clusterSize / l2EntryBytes(header)) * clusterSize;
  const l1Needed = Math.ceil(header.virtualSize / guestBytesPerL2);
  if (l1Size < l1Needed) {
    throw bad(`l1_size ${l1Size} is too small for a virtual size of ${header.virtualSize} bytes (needs ${l1Needed})`, { l1Size, l1Needed });
  }
  if (l1Size * 8 > MAX_L1_BYTES) throw bad(`l1_size ${l1Size} is above QEMU's limit of ${MAX_L1_BYTES / 8} entries`, { l1Size });
  if (l1Size > 0) {
    if (l1TableOffset === 0 || l1TableOffset % clusterSize !== 0) {
      throw bad(`l1_table_offset ${l1TableOffset} is not a cluster boundary past the header`, { l1TableOffset });
    }
    if (l1TableOffset + l1Size * 8 > fileSize) {
      const message = `the L1 table (${l1Size} entries at byte ${l1TableOffset}) runs past the end of the file (${fileSize} bytes)`;
      throw bad(message, { l1TableOffset, l1Size, fileSize });
    }
  }
  if (header.backingFileOffset !== 0) {
    const { backingFileOffset: offset, backingFileSize: size } = header;
    if (size === 0 || size > MAX_BACKING_NAME) throw bad(`backing_file_size ${size} is outside 1..${MAX_BACKING_NAME}`, { size });
    if (offset < header.headerLength || offset + size > Math.min(clusterSize, fileSize)) {
      throw bad(`the backing file name (${size} bytes at byte ${offset}) is not inside the first cluster`, { offset, size });
    }
  }
  if (header.snapshotCount > MAX_SNAPSHOTS) throw bad(`nb_snapshots ${header.snapshotCount} is above ${MAX_SNAPSHOTS}`, { count: header.snapshotCount });
}

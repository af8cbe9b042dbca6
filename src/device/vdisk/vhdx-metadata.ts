// The metadata region of a VHDX ([MS-VHDX] §2.6): a 64 KiB table of items (§2.6.1) and the known items
// this reader needs (§2.6.2): File Parameters (block size, LeaveBlockAllocated, HasParent), Virtual Disk
// Size, Logical and Physical Sector Size, and the Parent Locator of a differencing disk (§2.6.2.6: a
// locator type GUID and key/value pairs of UTF-16LE strings such as parent_linkage and relative_path).
// Derived here too: the chunk ratio and the number of BAT entries the disk needs (§2.4, §2.5).

import { DiskFileUnsupportedError } from './unsupported.js';
import type { BlockDevice } from '../block-device.js';
import { corrupt, GUID, isMultiple, KiB, MiB, readGuid, readSafeU64, type Region } from './vhdx-format.js';

const TABLE_BYTES = 64 * KiB;
const MAX_ITEM_BYTES = MiB;
/** A virtual disk is at most 64 TiB (§2.6.2.2). */
const MAX_VIRTUAL_SIZE = 64 * 1024 * 1024 * MiB;
/** Sectors described by one 1 MiB sector bitmap block: 2^23 (§2.4). */
export const SECTORS_PER_BITMAP_BLOCK = 2 ** 23;

interface ItemRef {
  offset: number;
  length: number;
}

export interface VhdxGeometry {
  blockSize: number;
  leaveBlocksAllocated: boolean;
  hasParent: boolean;
  virtualSize: number;
  logicalSectorSize: number;
  physicalSectorSize: number;
  /** Payload blocks per sector bitmap block: 2^23 * logical sector size / block size. */
  chunkRatio: number;
  payloadBlocks: number;
  /** BAT entries the disk needs, payload and sector bitmap entries interleaved (§2.5). */
  batEntries: number;
  /** Key/value pairs of the parent locator; null unless HasParent. */
  parentLocator: Map<string, string> | null;
}

/** Reads the metadata table and the items it points to, inside the metadata region of `file`. */
export async function readVhdxMetadata(file: BlockDevice, region: Region): Promise<VhdxGeometry> {
  const table = await file.read(region.fileOffset, Math.min(TABLE_BYTES, region.length));
  const items = parseMetadataTable(table, region.length);
  const item = async (guid: string, name: string, minBytes: number): Promise<Buffer> => {
    const ref = items.get(guid);
    if (ref === undefined) throw corrupt('VHDX_MISSING_METADATA', `vhdx metadata has no ${name} item`, { item: name });
    if (ref.length < minBytes) {
      throw corrupt('VHDX_BAD_METADATA', `vhdx ${name} metadata item is ${ref.length} bytes, fewer than ${minBytes}`, { item: name, length: ref.length });
    }
    return file.read(region.fileOffset + ref.offset, ref.length);
  };
  const params = await item(GUID.fileParameters, 'File Parameters', 8);
  const size = await item(GUID.virtualDiskSize, 'Virtual Disk Size', 8);
  const logical = await item(GUID.logicalSectorSize, 'Logical Sector Size', 4);
  const physical = items.has(GUID.physicalSectorSize) ? (await item(GUID.physicalSectorSize, 'Physical Sector Size', 4)).readUInt32LE(0) : 0;
  const flags = params.readUInt32LE(4);
  const hasParent = (flags & 2) !== 0;
  const locator = hasParent ? parseParentLocator(await item(GUID.parentLocator, 'Parent Locator', 20)) : null;
  return deriveGeometry({
    blockSize: params.readUInt32LE(0),
    leaveBlocksAllocated: (flags & 1) !== 0 && !hasParent,
    hasParent,
    virtualSize: readSafeU64(size, 0, 'virtual disk size'),
    logicalSectorSize: logical.readUInt32LE(0),
    physicalSectorSize: physical,
    parentLocator: locator,
  });
}

/** Item GUID → where its bytes are, relative to the region; every entry checked against the region. */
export function parseMetadataTable(table: Buffer, regionLength: number): Map<string, ItemRef> {
  if (table.length < TABLE_BYTES || table.toString('latin1', 0, 8) !== 'metadata') {
    throw corrupt('VHDX_BAD_METADATA_TABLE', 'vhdx metadata table has no "metadata" signature');
  }
  const count = table.readUInt16LE(10);
  if (count > 2047) throw corrupt('VHDX_BAD_METADATA_TABLE', `vhdx metadata table claims ${count} entries (at most 2047)`, { count });
  const items = new Map<string, ItemRef>();
  for (let i = 0; i < count; i++) {
    const at = 32 + i * 32;
    const guid = readGuid(table, at);
    const ref = { offset: table.readUInt32LE(at + 16), length: table.readUInt32LE(at + 20) };
    const isRequired = (table.readUInt32LE(at + 24) & 4) !== 0;
    if (!KNOWN_ITEMS.has(guid)) {
      if (isRequired) {
        throw new DiskFileUnsupportedError('VHDX_UNKNOWN_METADATA', `vhdx requires metadata item ${guid}, which this tool does not know`, { details: { guid } });
      }
      continue;
    }
    if (items.has(guid)) throw corrupt('VHDX_DUPLICATE_METADATA', `vhdx metadata table lists item ${guid} twice`, { guid });
    const inside = ref.length === 0 || (ref.offset >= TABLE_BYTES && ref.offset + ref.length <= regionLength);
    if (!inside || ref.length > MAX_ITEM_BYTES) {
      throw corrupt('VHDX_BAD_METADATA', `vhdx metadata item ${guid} (${ref.length} bytes at ${ref.offset}) lies outside the ${regionLength}-byte metadata region`, {
        guid,
        ...ref,
        regionLength,
      });
    }
    items.set(guid, ref);
  }
  return items;
}

const KNOWN_ITEMS = new Set<string>([
  GUID.fileParameters,
  GUID.virtualDiskSize,
  GUID.page83,
  GUID.logicalSectorSize,
  GUID.physicalSectorSize,
  GUID.parentLocator,
]);

type GeometryInput = Omit<VhdxGeometry, 'chunkRatio' | 'payloadBlocks' | 'batEntries'>;

/** Validates the items against §2.6.2 and computes the BAT layout. */
export function deriveGeometry(input: GeometryInput): VhdxGeometry {
  const { blockSize, logicalSectorSize, virtualSize } = input;
  if (blockSize < MiB || blockSize > 256 * MiB || (blockSize & (blockSize - 1)) !== 0) {
    throw corrupt('VHDX_BAD_BLOCK_SIZE', `vhdx block size ${blockSize} is not a power of two from 1 MiB to 256 MiB`, { blockSize });
  }
  if (logicalSectorSize !== 512 && logicalSectorSize !== 4096) {
    throw corrupt('VHDX_BAD_SECTOR_SIZE', `vhdx logical sector size ${logicalSectorSize} is neither 512 nor 4096`, { logicalSectorSize });
  }
  if (virtualSize > MAX_VIRTUAL_SIZE || !isMultiple(virtualSize, logicalSectorSize)) {
    throw corrupt('VHDX_BAD_VIRTUAL_SIZE', `vhdx virtual disk size ${virtualSize} is not a multiple of ${logicalSectorSize} up to 64 TiB`, { virtualSize });
  }
  const chunkRatio = (SECTORS_PER_BITMAP_BLOCK * logicalSectorSize) / blockSize;
  const payloadBlocks = Math.ceil(virtualSize / blockSize);
  const bitmapBlocks = Math.ceil(payloadBlocks / chunkRatio);
  // §2.5: a fixed or dynamic BAT ends with the last payload entry; a differencing one with the sector
  // bitmap entry of the last chunk.
  const batEntries = input.hasParent ? bitmapBlocks * (chunkRatio + 1) : payloadBlocks === 0 ? 0 : payloadBlocks + Math.floor((payloadBlocks - 1) / chunkRatio);
  return { ...input, chunkRatio, payloadBlocks, batEntries };
}

/**
 * The key/value pairs of a VHDX parent locator (§2.6.2.6). Only the VHDX locator type is defined; keys
 * and values are UTF-16LE without terminators, at offsets relative to the start of the item.
 */
export function parseParentLocator(item: Buffer): Map<string, string> {
  const type = readGuid(item, 0);
  if (type !== GUID.vhdxParentLocatorType) {
    throw new DiskFileUnsupportedError('VHDX_PARENT_LOCATOR_TYPE', `vhdx parent locator type ${type} is not the VHDX one`, { details: { type } });
  }
  const count = item.readUInt16LE(18);
  if (20 + count * 12 > item.length) {
    throw corrupt('VHDX_BAD_PARENT_LOCATOR', `vhdx parent locator claims ${count} entries, more than its ${item.length} bytes hold`, { count });
  }
  const pairs = new Map<string, string>();
  for (let i = 0; i < count; i++) {
    const at = 20 + i * 12;
    const key = utf16At(item, item.readUInt32LE(at), item.readUInt16LE(at + 8), 'key');
    const value = utf16At(item, item.readUInt32LE(at + 4), item.readUInt16LE(at + 10), 'value');
    if (!pairs.has(key)) pairs.set(key, value);
  }
  return pairs;
}

function utf16At(item: Buffer, offset: number, length: number, what: string): string {
  if (offset + length > item.length || length % 2 !== 0) {
    throw corrupt('VHDX_BAD_PARENT_LOCATOR', `vhdx parent locator ${what} (${length} bytes at ${offset}) lies outside its ${item.length}-byte item`, {
      offset,
      length,
    });
  }
  return item.toString('utf16le', offset, offset + length);
}

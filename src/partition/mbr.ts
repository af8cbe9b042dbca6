// Master Boot Record and the extended-partition EBR chain, as Linux reads them
// (block/partitions/msdos.c): the 0x55AA boot signature at byte 510, the 32-bit disk signature at 440, four
// 16-byte primary entries at 446 (status, CHS, type, LBA start, sector count). Extended containers (types
// 0x05, 0x0F, 0x85) hold a chain of EBRs: in each EBR the data entries are relative to that EBR, and the
// first extended-type entry points to the next EBR relative to the container start. Logical partitions
// are numbered from 5 in chain order. HAOS MBR boards put logicals p5-p9 physically before p3/p4
// (haos-format.md §1.4); hybrid images carry a 0xEE entry next to hassos-boot (§1.5).

import type { BlockDevice } from '../device/block-device.js';
import { FieldReader } from '../bytes.js';
import { AppError, CorruptError, IoError } from '../errors.js';

export const MBR_PROTECTIVE_TYPE = 0xee;
export const MBR_EXTENDED_TYPES: readonly number[] = [0x05, 0x0f, 0x85];
/** Stop following an EBR chain after this many links: real disks have a handful. */
export const MBR_MAX_EBRS = 256;

export interface MbrEntry {
  /** 1-4: position in the sector. */
  slot: number;
  /** 0x80 bootable, 0x00 not; anything else is invalid. */
  status: number;
  type: number;
  /** As stored: absolute for the MBR, relative for EBR entries. */
  firstLba: number;
  sectorCount: number;
}

export interface MbrSector {
  diskSignature: number;
  /** Always four entries, empty ones included. */
  entries: MbrEntry[];
}

export interface MbrPartition {
  /** Linux number: 1-4 for primaries (their slot), 5 and up for logicals in chain order. */
  index: number;
  type: number;
  bootable: boolean;
  /** Absolute, in units of the table's sector size. */
  firstLba: number;
  sectorCount: number;
  byteOffset: number;
  sizeBytes: number;
  /** An extended container (0x05, 0x0F, 0x85); its logicals are listed separately. */
  extended: boolean;
  logical: boolean;
  /** Why this entry cannot be a real partition: bad status, starts at LBA 0, overlaps another. */
  problems: string[];
}

export interface Mbr {
  sectorSize: number;
  diskSignature: number;
  /** Non-empty primaries and logicals, sorted by index. Includes invalid ones (see `problems`). */
  partitions: MbrPartition[];
  /** A 0xEE entry is present: the disk is GPT. */
  protective: boolean;
  /** 0xEE plus other entries (haos-format.md §1.5). */
  hybrid: boolean;
  /** Last LBA covered by the 0xEE entry: the original disk end for a plain protective MBR. */
  protectiveEndLba: number | null;
  /** At least one primary is a valid partition; false for a FAT boot sector or an empty table. */
  plausible: boolean;
  warnings: string[];
}

/** Decodes one MBR or EBR sector. Throws CorruptError MBR_TRUNCATED or MBR_NO_SIGNATURE. */
export function parseMbr(bytes: Uint8Array): MbrSector {
  if (bytes.length < 512) {
    throw new CorruptError('MBR_TRUNCATED', `MBR is truncated: ${bytes.length} of 512 bytes`, { details: { length: bytes.length } });
  }
  const r = new FieldReader(bytes, 'MBR');
  if (r.u8(510) !== 0x55 || r.u8(511) !== 0xaa) {
    throw new CorruptError('MBR_NO_SIGNATURE', `no MBR: boot signature is 0x${hex(r.u8(510), 2)}${hex(r.u8(511), 2)}, not 0x55AA`);
  }
  const entries: MbrEntry[] = [];
  for (let slot = 1; slot <= 4; slot++) {
    const at = 446 + (slot - 1) * 16;
    entries.push({ slot, status: r.u8(at), type: r.u8(at + 4), firstLba: r.u32(at + 8), sectorCount: r.u32(at + 12) });
  }
  return { diskSignature: r.u32(440), entries };
}

export function isEmptyEntry(e: MbrEntry): boolean {
  return e.type === 0 || e.sectorCount === 0;
}

export function isExtendedType(type: number): boolean {
  return MBR_EXTENDED_TYPES.includes(type);
}

function hex(n: number, digits: number): string {
  return n.toString(16).toUpperCase().padStart(digits, '0');
}

/** Boot sectors of FAT, exFAT and NTFS also end in 0x55AA; their BPB marks them. */
function looksLikeFilesystemBootSector(bytes: Uint8Array): boolean {
  const text = (at: number, len: number): string => Buffer.from(bytes.subarray(at, at + len)).toString('latin1');
  if (bytes[0] !== 0xeb && bytes[0] !== 0xe9) return false;
  return text(54, 3) === 'FAT' || text(82, 3) === 'FAT' || text(3, 8) === 'NTFS    ' || text(3, 8) === 'EXFAT   ';
}

function toPartition(e: MbrEntry, index: number, baseLba: number, sectorSize: number, logical: boolean): MbrPartition {
  const firstLba = baseLba + e.firstLba;
  return {
    index,
    type: e.type,
    bootable: e.status === 0x80,
    firstLba,
    sectorCount: e.sectorCount,
    byteOffset: firstLba * sectorSize,
    sizeBytes: e.sectorCount * sectorSize,
    extended: isExtendedType(e.type),
    logical,
    problems: [],
  };
}

function checkPrimaries(entries: MbrEntry[], parts: MbrPartition[]): void {
  for (const p of parts) {
    const e = entries[p.index - 1]!;
    if (e.status !== 0x00 && e.status !== 0x80) p.problems.push(`bad status byte 0x${hex(e.status, 2)}`);
    if (p.firstLba === 0) p.problems.push('starts at LBA 0, over the MBR itself');
  }
}

/**
 * Valid entries that overlap (a table edited by hand): Linux makes a device of each, so each is looked at,
 * and the overlap said. An extended container and its own logicals are not counted.
 */
function overlapWarnings(parts: MbrPartition[]): string[] {
  const real = parts.filter((p) => p.type !== MBR_PROTECTIVE_TYPE && p.problems.length === 0);
  const out: string[] = [];
  for (const a of real) {
    for (const b of real) {
      if (a.index < b.index && a.firstLba < b.firstLba + b.sectorCount && b.firstLba < a.firstLba + a.sectorCount) {
        out.push(`MBR partitions ${a.index} and ${b.index} overlap (the table was edited by hand, or damaged): each is looked at, as Linux does`);
      }
    }
  }
  return out;
}

interface ChainState {
  nextIndex: number;
  ebrsRead: number;
}

async function readEbr(device: BlockDevice, sectorSize: number, lba: number, warnings: string[]): Promise<MbrSector | null> {
  const byteOffset = lba * sectorSize;
  if (byteOffset + sectorSize > device.sizeBytes) {
    warnings.push(`EBR at LBA ${lba} is beyond the device end: logical partitions from there on are missing (truncated image?)`);
    return null;
  }
  try {
    return parseMbr(await device.read(byteOffset, sectorSize));
  } catch (err) {
    if (!(err instanceof CorruptError) && !(err instanceof IoError)) throw err;
    warnings.push(`EBR at LBA ${lba} is unusable (${err.message}): logical partitions from there on are missing`);
    return null;
  }
}

/** Logical entries of one EBR (Linux accepts them in any slot; slots 3-4 only when inside the container). */
function takeLogicals(
  ebr: MbrSector,
  ebrLba: number,
  ext: MbrPartition,
  sectorSize: number,
  state: ChainState,
  warnings: string[],
): MbrPartition[] {
  const out: MbrPartition[] = [];
  const extEnd = ext.firstLba + ext.sectorCount;
  for (const e of ebr.entries) {
    if (isEmptyEntry(e) || isExtendedType(e.type)) continue;
    const p = toPartition(e, state.nextIndex, ebrLba, sectorSize, true);
    const inside = p.firstLba > ebrLba && p.firstLba + p.sectorCount <= extEnd;
    if (!inside && e.slot > 2) {
      warnings.push(`EBR at LBA ${ebrLba}: ignored entry ${e.slot}, which lies outside extended partition ${ext.index}`);
      continue;
    }
    if (!inside) {
      warnings.push(`logical partition ${p.index} (LBA ${p.firstLba}+${p.sectorCount}) lies outside extended partition ${ext.index}`);
    }
    out.push(p);
    state.nextIndex++;
  }
  return out;
}

async function readLogicals(
  device: BlockDevice,
  sectorSize: number,
  ext: MbrPartition,
  state: ChainState,
  warnings: string[],
): Promise<MbrPartition[]> {
  const logicals: MbrPartition[] = [];
  const visited = new Set<number>();
  let ebrLba = ext.firstLba;
  for (;;) {
    if (visited.has(ebrLba)) {
      warnings.push(`EBR chain of extended partition ${ext.index} loops back to LBA ${ebrLba}; stopped following it`);
      break;
    }
    if (state.ebrsRead >= MBR_MAX_EBRS) {
      warnings.push(`EBR chain longer than ${MBR_MAX_EBRS} links; stopped following it`);
      break;
    }
    visited.add(ebrLba);
    state.ebrsRead++;
    const ebr = await readEbr(device, sectorSize, ebrLba, warnings);
    if (ebr === null) break;
    logicals.push(...takeLogicals(ebr, ebrLba, ext, sectorSize, state, warnings));
    const link = ebr.entries.find((e) => !isEmptyEntry(e) && isExtendedType(e.type));
    if (link === undefined) break;
    const next = ext.firstLba + link.firstLba;
    if (next >= ext.firstLba + ext.sectorCount) {
      warnings.push(`EBR at LBA ${ebrLba} links to LBA ${next}, outside extended partition ${ext.index}; stopped following it`);
      break;
    }
    ebrLba = next;
  }
  return logicals;
}

/**
 * Reads the MBR of `device` and follows every extended partition's EBR chain. Returns null when sector 0
 * has no 0x55AA signature (or the device is smaller than a sector). `sectorSize` is the unit of the LBA
 * fields: 512, or 4096 on 4Kn disks.
 */
export async function readMbr(device: BlockDevice, sectorSize = 512): Promise<Mbr | null> {
  if (device.sizeBytes < sectorSize) return null;
  const bytes = await device.read(0, sectorSize);
  let sector: MbrSector;
  try {
    sector = parseMbr(bytes);
  } catch (err) {
    if (err instanceof AppError && err.code === 'MBR_NO_SIGNATURE') return null;
    throw err;
  }
  const diskSectors = Math.floor(device.sizeBytes / sectorSize);
  const primaries = sector.entries.filter((e) => !isEmptyEntry(e)).map((e) => toPartition(e, e.slot, 0, sectorSize, false));
  checkPrimaries(sector.entries, primaries);
  const warnings: string[] = [];
  // A partition starting past the end is kept (a partial image), but it does not make the sector a table.
  const valid = primaries.filter((p) => p.problems.length === 0 && p.firstLba < diskSectors);
  const fsBootSector = looksLikeFilesystemBootSector(bytes) && valid.length < primaries.length;
  const plausible = valid.length > 0 && !fsBootSector;
  const ee = primaries.find((p) => p.type === MBR_PROTECTIVE_TYPE);
  const partitions = [...primaries];
  if (plausible) {
    const state: ChainState = { nextIndex: 5, ebrsRead: 0 };
    const containers = primaries.filter((p) => p.extended && p.problems.length === 0);
    for (const ext of containers) partitions.push(...(await readLogicals(device, sectorSize, ext, state, warnings)));
    for (const p of primaries) if (p.problems.length > 0) warnings.push(`MBR partition ${p.index} ignored: ${p.problems.join(', ')}`);
    warnings.push(...overlapWarnings(primaries));
  }
  return {
    sectorSize,
    diskSignature: sector.diskSignature,
    partitions: partitions.sort((a, b) => a.index - b.index),
    protective: ee !== undefined,
    hybrid: ee !== undefined && primaries.some((p) => p.type !== MBR_PROTECTIVE_TYPE),
    protectiveEndLba: ee === undefined ? null : ee.firstLba + ee.sectorCount - 1,
    plausible,
    warnings,
  };
}

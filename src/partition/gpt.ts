// GUID Partition Table reader (UEFI 2.10 §5.3: GPT header §5.3.2, partition entry §5.3.3). The primary
// header sits at LBA 1 and points to its partition entry array; a backup header, normally at the last LBA,
// points to a second copy. Both are CRC-32 protected. When the primary is damaged we use the backup, found
// from the primary's AlternateLBA, then the last sector of the device, then any hint the caller has (the
// end of the protective MBR entry). A never-booted HAOS image written to a larger disk keeps its backup at
// the image end, not the disk end (haos-format.md §7.5), which is why AlternateLBA comes first.
// Logical sectors of 512 and 4096 bytes are both tried: a 4Kn disk's GPT lives at byte 4096.

import type { BlockDevice } from '../device/block-device.js';
import { FieldReader } from '../bytes.js';
import { AppError, CorruptError, IoError } from '../errors.js';
import { crc32 } from './crc32.js';
import { guidFromBytes, GptType } from './guid.js';

export const GPT_SIGNATURE = 'EFI PART';
/** Bytes of the header that the UEFI spec defines; HeaderSize may be larger, up to one sector. */
export const GPT_MIN_HEADER_BYTES = 92;
/** Refuse more entries than this: real tables have 128, and a crafted count must not drive reads. */
export const GPT_MAX_ENTRIES = 16384;
/** Refuse partition entry arrays larger than this (128 entries of 128 bytes is 16 KiB). */
export const GPT_MAX_ENTRIES_BYTES = 4 * 1024 * 1024;

export interface GptHeader {
  /** MyLBA: where this header says it is; checked against where it was read. */
  lba: number;
  revision: number;
  headerSizeBytes: number;
  alternateLba: number;
  firstUsableLba: number;
  lastUsableLba: number;
  diskGuid: string;
  /** PartitionEntryLBA */
  entriesLba: number;
  entryCount: number;
  entrySizeBytes: number;
  /** PartitionEntryArrayCRC32 */
  entriesCrc: number;
}

export interface GptEntry {
  /** 1-based slot in the entry array: the Linux partition number. */
  index: number;
  typeGuid: string;
  uniqueGuid: string;
  firstLba: number;
  /** Inclusive, as on disk. */
  lastLba: number;
  attributes: bigint;
  /** UTF-16LE name up to the first NUL. */
  name: string;
  byteOffset: number;
  sizeBytes: number;
}

export interface Gpt {
  sectorSize: number;
  headerUsed: 'primary' | 'backup';
  header: GptHeader;
  entries: GptEntry[];
  warnings: string[];
}

export interface ReadGptOptions {
  /** More LBAs (in units of the sector size being tried) where a backup header might be. */
  backupLbaHints?: (sectorSize: number) => number[];
}

/** Decodes and validates one GPT header sector. Throws CorruptError with a GPT_* code. */
export function parseGptHeader(bytes: Uint8Array, lba: number): GptHeader {
  if (bytes.length < GPT_MIN_HEADER_BYTES) {
    throw new CorruptError('GPT_HEADER_TRUNCATED', `GPT header at LBA ${lba} is truncated: ${bytes.length} bytes`, {
      details: { lba, length: bytes.length },
    });
  }
  const r = new FieldReader(bytes, `GPT header at LBA ${lba}`);
  if (Buffer.from(r.bytes(0, 8)).toString('latin1') !== GPT_SIGNATURE) {
    throw new CorruptError('GPT_NO_SIGNATURE', `no GPT header at LBA ${lba}: signature is not "EFI PART"`, {
      details: { lba },
    });
  }
  const headerSizeBytes = r.u32(12); // HeaderSize
  if (headerSizeBytes < GPT_MIN_HEADER_BYTES || headerSizeBytes > bytes.length) {
    throw new CorruptError('GPT_BAD_HEADER_SIZE', `corrupt GPT header at LBA ${lba}: header size ${headerSizeBytes}`, {
      details: { lba, headerSizeBytes, sectorBytes: bytes.length },
    });
  }
  const storedCrc = r.u32(16); // HeaderCRC32
  const copy = Buffer.from(bytes.subarray(0, headerSizeBytes));
  copy.fill(0, 16, 20);
  const actualCrc = crc32(copy);
  if (actualCrc !== storedCrc) {
    throw new CorruptError(
      'GPT_HEADER_CRC',
      `corrupt GPT header at LBA ${lba}: CRC 0x${hex32(actualCrc)}, header says 0x${hex32(storedCrc)}`,
      { details: { lba, storedCrc, actualCrc } },
    );
  }
  const header: GptHeader = {
    lba: r.u64(24), // MyLBA
    revision: r.u32(8),
    headerSizeBytes,
    alternateLba: r.u64(32), // AlternateLBA
    firstUsableLba: r.u64(40),
    lastUsableLba: r.u64(48),
    diskGuid: guidFromBytes(r.bytes(56, 16)),
    entriesLba: r.u64(72),
    entryCount: r.u32(80), // NumberOfPartitionEntries
    entrySizeBytes: r.u32(84), // SizeOfPartitionEntry
    entriesCrc: r.u32(88),
  };
  validateHeader(header, lba);
  return header;
}

function validateHeader(h: GptHeader, lba: number): void {
  const fail = (code: string, what: string, details: Record<string, unknown>): never => {
    throw new CorruptError(code, `corrupt GPT header at LBA ${lba}: ${what}`, { details: { lba, ...details } });
  };
  if (h.lba !== lba) fail('GPT_LBA_MISMATCH', `it says it is at LBA ${h.lba}`, { myLba: h.lba });
  if (h.entrySizeBytes < 128 || h.entrySizeBytes % 8 !== 0) {
    fail('GPT_BAD_ENTRY_SIZE', `partition entry size ${h.entrySizeBytes}`, { entrySizeBytes: h.entrySizeBytes });
  }
  if (h.entryCount > GPT_MAX_ENTRIES || h.entryCount * h.entrySizeBytes > GPT_MAX_ENTRIES_BYTES) {
    fail('GPT_TOO_MANY_ENTRIES', `${h.entryCount} partition entries of ${h.entrySizeBytes} bytes`, {
      entryCount: h.entryCount,
      entrySizeBytes: h.entrySizeBytes,
    });
  }
  if (h.firstUsableLba > h.lastUsableLba + 1) {
    fail('GPT_BAD_USABLE_RANGE', `first usable LBA ${h.firstUsableLba} is after last usable LBA ${h.lastUsableLba}`, {
      firstUsableLba: h.firstUsableLba,
      lastUsableLba: h.lastUsableLba,
    });
  }
  if (h.entriesLba === 0) fail('GPT_BAD_ENTRIES_LBA', 'partition entries at LBA 0', { entriesLba: 0 });
}

/**
 * Checks the entry array's CRC against `header` and decodes the used entries. `bytes` holds at least
 * entryCount × entrySize bytes. Damaged single entries become warnings, not errors: the CRC matched, so
 * the table is what the partitioning tool wrote.
 */
export function parseGptEntries(
  bytes: Uint8Array,
  header: GptHeader,
  sectorSize: number,
): { entries: GptEntry[]; warnings: string[] } {
  const arrayBytes = header.entryCount * header.entrySizeBytes;
  if (bytes.length < arrayBytes) {
    throw new CorruptError('GPT_ENTRIES_TRUNCATED', `GPT partition entries are truncated: ${bytes.length} of ${arrayBytes} bytes`, {
      details: { length: bytes.length, arrayBytes },
    });
  }
  const actualCrc = crc32(bytes.subarray(0, arrayBytes));
  if (actualCrc !== header.entriesCrc) {
    throw new CorruptError(
      'GPT_ENTRIES_CRC',
      `corrupt GPT partition entries at LBA ${header.entriesLba}: CRC 0x${hex32(actualCrc)}, header says 0x${hex32(header.entriesCrc)}`,
      { details: { entriesLba: header.entriesLba, storedCrc: header.entriesCrc, actualCrc } },
    );
  }
  const entries: GptEntry[] = [];
  const warnings: string[] = [];
  for (let i = 0; i < header.entryCount; i++) {
    const start = i * header.entrySizeBytes;
    const raw = bytes.subarray(start, start + header.entrySizeBytes);
    const typeGuid = guidFromBytes(raw, 0);
    if (typeGuid === GptType.unused) continue;
    const entry = decodeEntry(raw, i + 1, typeGuid, sectorSize, warnings);
    if (entry === null) continue;
    if (entry.firstLba < header.firstUsableLba || entry.lastLba > header.lastUsableLba) {
      warnings.push(
        `GPT partition ${entry.index} (LBA ${entry.firstLba}-${entry.lastLba}) lies outside the usable range ` +
          `${header.firstUsableLba}-${header.lastUsableLba}`,
      );
    }
    entries.push(entry);
  }
  return { entries, warnings };
}

function decodeEntry(raw: Uint8Array, index: number, typeGuid: string, sectorSize: number, warnings: string[]): GptEntry | null {
  const r = new FieldReader(raw, `GPT partition entry ${index}`);
  let firstLba: number;
  let lastLba: number;
  try {
    firstLba = r.u64(32); // StartingLBA
    lastLba = r.u64(40); // EndingLBA (inclusive)
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    warnings.push(`GPT partition ${index} skipped: ${err.message}`);
    return null;
  }
  const byteOffset = firstLba * sectorSize;
  const sizeBytes = (lastLba - firstLba + 1) * sectorSize;
  if (lastLba < firstLba || !Number.isSafeInteger(byteOffset + sizeBytes)) {
    warnings.push(`GPT partition ${index} skipped: impossible range LBA ${firstLba}-${lastLba}`);
    return null;
  }
  const attrs = r.bytes(48, 8);
  return {
    index,
    typeGuid,
    uniqueGuid: guidFromBytes(raw, 16),
    firstLba,
    lastLba,
    attributes: Buffer.from(attrs).readBigUInt64LE(0),
    name: decodeName(r.bytes(56, 72)),
    byteOffset,
    sizeBytes,
  };
}

/** PartitionName: 36 UTF-16LE code units, ended by the first NUL when shorter. */
function decodeName(bytes: Uint8Array): string {
  let end = 0;
  while (end + 1 < bytes.length && (bytes[end] !== 0 || bytes[end + 1] !== 0)) end += 2;
  return Buffer.from(bytes.subarray(0, end)).toString('utf16le');
}

function hex32(n: number): string {
  return n.toString(16).padStart(8, '0');
}

interface Failure {
  where: string;
  error: AppError;
}

/** Was a GPT structure actually there (as opposed to nothing, or unreadable)? */
function isDamage(f: Failure): boolean {
  return !(f.error instanceof IoError) && f.error.code !== 'GPT_NO_SIGNATURE' && f.error.code !== 'GPT_HEADER_BEYOND_END';
}

async function readHeaderAt(device: BlockDevice, sectorSize: number, lba: number): Promise<GptHeader> {
  return parseGptHeader(await readSector(device, sectorSize, lba), lba);
}

async function readSector(device: BlockDevice, sectorSize: number, lba: number): Promise<Buffer> {
  const byteOffset = lba * sectorSize;
  if (!Number.isSafeInteger(byteOffset) || byteOffset + sectorSize > device.sizeBytes) {
    throw new CorruptError('GPT_HEADER_BEYOND_END', `GPT header LBA ${lba} is beyond the end of ${device.description}`, {
      details: { lba, sectorSize, deviceBytes: device.sizeBytes },
    });
  }
  return device.read(byteOffset, sectorSize);
}

async function readEntries(
  device: BlockDevice,
  sectorSize: number,
  header: GptHeader,
): Promise<{ entries: GptEntry[]; warnings: string[] }> {
  const byteOffset = header.entriesLba * sectorSize;
  const length = header.entryCount * header.entrySizeBytes;
  if (!Number.isSafeInteger(byteOffset) || byteOffset + length > device.sizeBytes) {
    throw new CorruptError(
      'GPT_ENTRIES_BEYOND_END',
      `GPT partition entries at LBA ${header.entriesLba} (${length} bytes) are beyond the end of ${device.description}`,
      { details: { entriesLba: header.entriesLba, length, deviceBytes: device.sizeBytes } },
    );
  }
  return parseGptEntries(await device.read(byteOffset, length), header, sectorSize);
}

/** Runs `fn`, turning an AppError into a recorded failure; anything else is a bug and propagates. */
async function attempt<T>(failures: Failure[], where: string, fn: () => Promise<T>): Promise<T | null> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    failures.push({ where, error: err });
    return null;
  }
}

/** The AlternateLBA of a header whose signature is there but whose CRC fails: a hint worth trying. */
function rawAlternateLba(sector: Buffer | null): number | null {
  if (sector === null || sector.length < GPT_MIN_HEADER_BYTES) return null;
  if (sector.toString('latin1', 0, 8) !== GPT_SIGNATURE) return null;
  const hi = sector.readUInt32LE(36);
  return hi < 0x200000 ? hi * 0x100000000 + sector.readUInt32LE(32) : null;
}

async function checkBackup(device: BlockDevice, sectorSize: number, primary: GptHeader): Promise<string[]> {
  const lba = primary.alternateLba;
  const lastLba = Math.floor(device.sizeBytes / sectorSize) - 1;
  if (lba > lastLba) {
    return [`backup GPT header at LBA ${lba} is beyond the device end (last LBA ${lastLba}): the image looks truncated`];
  }
  const failures: Failure[] = [];
  const backup = await attempt(failures, 'backup', () => readHeaderAt(device, sectorSize, lba));
  if (backup === null) {
    // A read that failed (bad sectors, a disk file cut short) says nothing of the header itself.
    const error = failures[0]!.error;
    return [`backup GPT header at LBA ${lba} ${error instanceof IoError ? 'could not be read' : 'is damaged'}: ${error.message}`];
  }
  if (backup.entriesCrc !== primary.entriesCrc) return [`backup GPT partition entries differ from the primary's (CRC)`];
  return [];
}

type SizeResult = { gpt: Gpt } | { failures: Failure[] };

/** Slots whose entry was skipped (a damaged field), from the warnings decodeEntry left. */
const skippedSlots = (warnings: string[]): number[] => warnings.flatMap((w) => /^GPT partition (\d+) skipped: /.exec(w)?.[1] ?? []).map(Number);

/**
 * A primary table whose CRC matches but with an entry that cannot be real (a partitioning tool's bug, a flipped
 * bit before the CRC was computed): that slot is taken from the backup table when the backup's entry for it is
 * whole, and said (the data partition was "found by searching", the table said to be erased).
 */
async function withBackupEntries(device: BlockDevice, sectorSize: number, primary: GptHeader, read: { entries: GptEntry[]; warnings: string[] }): Promise<GptEntry[]> {
  const skipped = skippedSlots(read.warnings);
  if (skipped.length === 0) return read.entries;
  const backup = await readHeaderAt(device, sectorSize, primary.alternateLba)
    .then((h) => readEntries(device, sectorSize, h))
    .catch((err: unknown) => {
      if (err instanceof AppError) return null;
      throw err;
    });
  const taken = (backup?.entries ?? []).filter((e) => skipped.includes(e.index));
  for (const e of taken) read.warnings.push(`GPT partition ${e.index}: its entry in the primary table is damaged; the backup table's entry is used (LBA ${e.firstLba}-${e.lastLba})`);
  return [...read.entries, ...taken].sort((a, b) => a.index - b.index);
}

async function readGptWithSectorSize(device: BlockDevice, sectorSize: number, options: ReadGptOptions): Promise<SizeResult> {
  const failures: Failure[] = [];
  const primarySector = await attempt(failures, 'primary GPT header', () => readSector(device, sectorSize, 1));
  const primary =
    primarySector === null ? null : await attempt(failures, 'primary GPT header', async () => parseGptHeader(primarySector, 1));
  if (primary !== null) {
    const read = await attempt(failures, 'primary GPT partition entries', () => readEntries(device, sectorSize, primary));
    if (read !== null) {
      const entries = await withBackupEntries(device, sectorSize, primary, read);
      const warnings = [...read.warnings, ...(await checkBackup(device, sectorSize, primary))];
      return { gpt: { sectorSize, headerUsed: 'primary', header: primary, entries, warnings } };
    }
  }
  const lastLba = Math.floor(device.sizeBytes / sectorSize) - 1;
  const candidates = [primary?.alternateLba ?? rawAlternateLba(primarySector), lastLba, ...(options.backupLbaHints?.(sectorSize) ?? [])];
  const tried = new Set<number>([1]);
  for (const lba of candidates) {
    if (lba === null || lba < 2 || lba > lastLba || tried.has(lba)) continue;
    tried.add(lba);
    const where = `backup GPT header at LBA ${lba}`;
    const backup = await attempt(failures, where, () => readHeaderAt(device, sectorSize, lba));
    if (backup === null) continue;
    const read = await attempt(failures, `backup GPT partition entries at LBA ${backup.entriesLba}`, () =>
      readEntries(device, sectorSize, backup),
    );
    if (read === null) continue;
    const primaryProblem = failures.find((f) => f.where.startsWith('primary'));
    const why = primaryProblem ? `${primaryProblem.where} damaged (${primaryProblem.error.message})` : 'primary GPT unusable';
    const warnings = [`${why}; used ${where}`, ...read.warnings];
    return { gpt: { sectorSize, headerUsed: 'backup', header: backup, entries: read.entries, warnings } };
  }
  return { failures };
}

/**
 * Reads the GPT of `device`. `sectorSize` is the logical sector size to try first (default: the device's
 * when it is 4096, else 512); the other of 512/4096 is tried next. Returns null when no GPT header is
 * found anywhere. Throws CorruptError GPT_DAMAGED when a GPT is there but neither copy validates, and
 * rethrows the device's IoError when the headers could not be read at all.
 */
export async function readGpt(device: BlockDevice, sectorSize?: number, options: ReadGptOptions = {}): Promise<Gpt | null> {
  const asked = sectorSize ?? device.sectorSize;
  const first = asked === 512 || asked === 4096 ? asked : 512;
  const sizes = first === 4096 ? [4096, 512] : [first, 4096];
  const allFailures: Failure[] = [];
  for (const size of sizes) {
    const result = await readGptWithSectorSize(device, size, options);
    if ('gpt' in result) return result.gpt;
    allFailures.push(...result.failures.map((f) => ({ ...f, where: `${f.where} (${size}-byte sectors)` })));
  }
  const damage = allFailures.filter(isDamage);
  if (damage.length > 0) {
    const what = damage.map((f) => `${f.where}: ${f.error.message}`).join('; ');
    throw new CorruptError('GPT_DAMAGED', `GPT on ${device.description} is damaged: ${what}`, {
      hint: 'both GPT copies failed their checks; if you know the byte offset where the data partition starts, give it',
      remedy: 'data-offset',
      details: { failures: damage.map((f) => ({ where: f.where, code: f.error.code, message: f.error.message })) },
    });
  }
  // A failed read of the primary header leaves the question open; one of a place a backup header could be (the
  // last sector), with no GPT signature at LBA 1, does not: a bare filesystem whose last sector is bad (an
  // image with its map, the end not rescued) was refused as a whole.
  const ioFailure = allFailures.find((f) => f.error instanceof IoError && f.where.startsWith('primary'));
  if (ioFailure) throw ioFailure.error;
  return null;
}

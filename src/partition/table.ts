// One partition list for any disk: GPT, hybrid GPT+MBR, MBR with logical partitions, or nothing (a bare
// filesystem). Rules follow what Linux does with HAOS media (haos-format.md §1.2-§1.5, §7.1, §7.4, §7.5):
// a 0xEE entry means GPT, and in a hybrid MBR the GPT wins because the MBR shows only hassos-boot; a
// plain MBR without 0xEE is used as is; a sector that ends in 0x55AA but holds no valid entry (a FAT boot
// sector) is no table. Partitions are numbered as Linux numbers them and sorted by that number.

import type { BlockDevice } from '../device/block-device.js';
import { AppError, CorruptError, IoError } from '../errors.js';
import { readGpt, type Gpt } from './gpt.js';
import { MBR_PROTECTIVE_TYPE, readMbr, type Mbr } from './mbr.js';

export type PartitionTableType = 'gpt' | 'mbr' | 'none';

export interface Partition {
  /** Linux partition number: GPT slot, MBR slot 1-4, logicals from 5 in EBR chain order. */
  index: number;
  /** GPT partition name; null on MBR (and for an empty GPT name). */
  name: string | null;
  typeGuid?: string;
  mbrType?: number;
  uniqueGuid?: string;
  byteOffset: number;
  sizeBytes: number;
  /** MBR status 0x80. */
  bootable?: boolean;
  /** An MBR extended container: it holds the EBR chain, not a filesystem. */
  extended?: boolean;
  /** The partition extends past the end of the device (a partial image of a card). */
  truncated?: boolean;
}

export interface PartitionTable {
  type: PartitionTableType;
  partitions: Partition[];
  warnings: string[];
  /** GPT with a hybrid MBR (0xEE plus other MBR entries). */
  hybrid?: boolean;
  /** Logical sector size the table uses. */
  sectorSize: number;
  /** MBR disk signature (0x48617373 "Hass" on HAOS MBR boards). */
  diskSignature?: number;
  diskGuid?: string;
  /** Which GPT header the partitions came from. */
  gptHeader?: 'primary' | 'backup';
}

function fromGpt(gpt: Gpt, mbr: Mbr | null, warnings: string[]): PartitionTable {
  const partitions: Partition[] = gpt.entries.map((e) => ({
    index: e.index,
    name: e.name === '' ? null : e.name,
    typeGuid: e.typeGuid,
    uniqueGuid: e.uniqueGuid,
    byteOffset: e.byteOffset,
    sizeBytes: e.sizeBytes,
  }));
  if (mbr === null) warnings.push('GPT found but sector 0 has no MBR signature (protective MBR missing or damaged)');
  else if (!mbr.protective) warnings.push('GPT found but the MBR has no protective 0xEE entry');
  const table: PartitionTable = {
    type: 'gpt',
    partitions,
    warnings: [...warnings, ...gpt.warnings],
    sectorSize: gpt.sectorSize,
    diskGuid: gpt.header.diskGuid,
    gptHeader: gpt.headerUsed,
  };
  if (mbr?.hybrid) table.hybrid = true;
  return table;
}

function fromMbr(mbr: Mbr, warnings: string[]): PartitionTable {
  const partitions: Partition[] = mbr.partitions
    .filter((p) => p.problems.length === 0 && p.type !== MBR_PROTECTIVE_TYPE)
    .map((p) => {
      const out: Partition = { index: p.index, name: null, mbrType: p.type, byteOffset: p.byteOffset, sizeBytes: p.sizeBytes };
      if (!p.logical) out.bootable = p.bootable;
      if (p.extended) out.extended = true;
      return out;
    });
  return {
    type: 'mbr',
    partitions,
    warnings: [...warnings, ...mbr.warnings],
    sectorSize: mbr.sectorSize,
    diskSignature: mbr.diskSignature,
  };
}

function flagTruncated(table: PartitionTable, deviceBytes: number): void {
  for (const p of table.partitions) {
    const end = p.byteOffset + p.sizeBytes;
    if (end <= deviceBytes) continue;
    p.truncated = true;
    if (p.extended) continue;
    const name = p.name === null ? '' : ` (${p.name})`;
    table.warnings.push(
      p.byteOffset >= deviceBytes
        ? `partition ${p.index}${name} starts at byte ${p.byteOffset}, beyond the device end at ${deviceBytes}: the image looks truncated`
        : `partition ${p.index}${name} ends at byte ${end}, beyond the device end at ${deviceBytes}: the image looks truncated`,
    );
  }
  table.partitions.sort((a, b) => a.index - b.index);
}

/** The last LBA the 0xEE entry covers, converted to `sectorSize` units: the image end of a fresh image. */
function protectiveHint(mbr: Mbr | null): (sectorSize: number) => number[] {
  return (sectorSize) => {
    if (mbr?.protectiveEndLba == null) return [];
    const endBytes = (mbr.protectiveEndLba + 1) * mbr.sectorSize;
    return endBytes % sectorSize === 0 ? [endBytes / sectorSize - 1] : [];
  };
}

async function readMbrOrWarn(device: BlockDevice, sectorSize: number, warnings: string[]): Promise<Mbr | null> {
  try {
    return await readMbr(device, sectorSize);
  } catch (err) {
    if (!(err instanceof IoError)) throw err;
    warnings.push(`sector 0 (MBR) is unreadable: ${err.message}`);
    return null;
  }
}

async function readGptOrError(device: BlockDevice, mbr: Mbr | null): Promise<Gpt | AppError | null> {
  try {
    return await readGpt(device, undefined, { backupLbaHints: protectiveHint(mbr) });
  } catch (err) {
    if (err instanceof CorruptError || err instanceof IoError) return err;
    throw err;
  }
}

/**
 * Reads the partition table of `device`. Throws CorruptError (GPT_DAMAGED or GPT_MISSING) only when the
 * disk is clearly GPT and no copy of the GPT can be used and the MBR has no other entries to fall back on.
 */
export async function readPartitionTable(device: BlockDevice): Promise<PartitionTable> {
  const warnings: string[] = [];
  const sectorSize = device.sectorSize === 4096 ? 4096 : 512;
  const mbr = await mbrInItsUnits(device, await readMbrOrWarn(device, sectorSize, warnings), warnings);
  let table: PartitionTable;
  if (mbr?.plausible && !mbr.protective) {
    table = fromMbr(mbr, warnings);
  } else {
    const gpt = await readGptOrError(device, mbr);
    if (gpt !== null && !(gpt instanceof AppError)) {
      table = fromGpt(gpt, mbr, warnings);
    } else if (mbr?.protective) {
      table = fallBackToHybridMbr(mbr, gpt, warnings);
    } else if (gpt instanceof AppError) {
      throw gpt;
    } else {
      if (mbr !== null) {
        warnings.push(
          'sector 0 ends in 0x55AA but holds no valid partition entry (a filesystem boot sector?): treated as no partition table',
        );
      }
      table = { type: 'none', partitions: [], warnings, sectorSize };
    }
  }
  flagTruncated(table, device.sizeBytes);
  return table;
}

/** The MBR's partitions lie on the device, and none is unusable (an EBR chain that leads nowhere). */
function fits(mbr: Mbr, device: BlockDevice): boolean {
  return mbr.warnings.length === 0 && mbr.partitions.every((p) => p.problems.length === 0 && p.byteOffset + p.sizeBytes <= device.sizeBytes);
}

/**
 * A card written in 512-byte sectors (as every box writes it), read through a reader that reports 4096-byte
 * ones: its MBR counts 512-byte sectors. Read in 4096-byte units it lies past the end (the card looked
 * erased); then the 512-byte reading is taken when that one fits. The GPT reader does the same.
 */
async function mbrInItsUnits(device: BlockDevice, mbr: Mbr | null, warnings: string[]): Promise<Mbr | null> {
  if (mbr === null || mbr.sectorSize !== 4096 || !mbr.plausible || mbr.protective || fits(mbr, device)) return mbr;
  const small = await readMbr(device, 512).catch(() => null);
  if (small === null || !small.plausible || small.protective || !fits(small, device)) return mbr;
  warnings.push('the reader reports 4096-byte sectors, but the MBR counts 512-byte ones (as the card was written): read so');
  return small;
}

function fallBackToHybridMbr(mbr: Mbr, gptError: AppError | null, warnings: string[]): PartitionTable {
  const others = mbr.partitions.filter((p) => p.type !== MBR_PROTECTIVE_TYPE && p.problems.length === 0);
  const why = gptError === null ? 'the MBR has a protective 0xEE entry but no GPT header was found' : gptError.message;
  if (others.length === 0) {
    if (gptError !== null) throw gptError;
    throw new CorruptError('GPT_MISSING', `GPT expected but not found: ${why}`, {
      hint: 'the partition table is gone; if you know the byte offset where the data partition starts, give it',
      remedy: 'data-offset',
    });
  }
  warnings.push(
    `GPT unusable (${why}); fell back to the other MBR ${others.length === 1 ? 'entry' : 'entries'}, ` +
      'which on HAOS do not include the data partition',
  );
  return fromMbr(mbr, warnings);
}

/**
 * The partitions of `table` whose bytes overlap those of partition `index` (an MBR extended container holds its
 * logical partitions by design and is left out): a table damaged or edited by hand, where a write to one
 * partition changes the other.
 */
function overlapping(table: PartitionTable, index: number): Partition[] {
  const self = table.partitions.find((p) => p.index === index && !p.extended);
  if (self === undefined) return [];
  const end = self.byteOffset + self.sizeBytes;
  return table.partitions.filter((p) => p !== self && !p.extended && p.sizeBytes > 0 && p.byteOffset < end && self.byteOffset < p.byteOffset + p.sizeBytes);
}

/** What overlapping's answer means, said alike by the warning (discover.ts) and the refusal (preconditions.ts). */
export function overlapSentence(table: PartitionTable, index: number): string | null {
  const others = overlapping(table, index);
  if (others.length === 0) return null;
  return `partition ${index}, the data, shares bytes with ${others.map((p) => `partition ${p.index}`).join(', ')}: the partition table is damaged or was edited by hand`;
}

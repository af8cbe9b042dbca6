// When no partition lists the Home Assistant data filesystem: the partition table was erased or replaced (a
// "format" by SD Card Formatter or Windows, "Initialize disk", `diskpart clean`, a new empty table), which
// writes only the first (and last) few MiB of the card, while the data filesystem starts hundreds of MiB in.
// As TestDisk does, the disk is searched for it: every HAOS layout and every data disk puts its partitions
// on 1 MiB boundaries (haos-format.md §1.1), and all of them start the data filesystem within the first
// GiB, so one probe per MiB of the first 2 GiB finds it (one 1 KiB superblock read where nothing is; the
// few ext4 filesystems met are looked into). Only a hassos-data filesystem with a /supervisor folder counts,
// the same test as a listed partition's: a backup copy of a superblock, or an ext4 image stored inside the
// data, does not.

import type { BlockDevice } from '../device/block-device.js';
import { AppError } from '../errors.js';
import { formatBytes } from '../units.js';
import type { Candidate, FilesystemProbe, ProbeResult } from './discover.js';
import { DATA_LABELS } from './labels.js';

/** Partitions of every HAOS layout start on these boundaries. */
export const SCAN_STEP_BYTES = 1024 * 1024;
/** The data filesystem of every HAOS layout starts below 1 GiB; twice that for margin. */
export const SCAN_LIMIT_BYTES = 2 * 1024 * 1024 * 1024;

/**
 * The data filesystem at a 1 MiB boundary that no partition lists, or null. `probed`: the offsets the
 * partition table's candidates were probed at already. A place that cannot be read is passed over.
 */
export async function scanForData(device: BlockDevice, probe: FilesystemProbe, probed: Set<number>): Promise<Candidate | null> {
  const end = Math.min(device.sizeBytes, SCAN_LIMIT_BYTES);
  let best: Candidate | null = null;
  for (let at = 0; at < end; at += SCAN_STEP_BYTES) {
    if (probed.has(at)) continue;
    const found = await probeAt(device, probe, at);
    if (found === null) continue;
    const rank = DATA_LABELS.indexOf(found.label);
    if (best === null || rank < DATA_LABELS.indexOf(best.label!)) best = candidate(device, at, found, rank);
    if (rank === 0) break;
  }
  return best;
}

async function probeAt(device: BlockDevice, probe: FilesystemProbe, at: number): Promise<ProbeResult | null> {
  let found: ProbeResult | null;
  try {
    found = await probe({ byteOffset: at, sizeBytes: device.sizeBytes - at });
  } catch (err) {
    if (err instanceof AppError) return null;
    throw err;
  }
  if (found === null || found.error !== undefined || !found.hasSupervisorDir || !DATA_LABELS.includes(found.label)) return null;
  return found;
}

function candidate(device: BlockDevice, at: number, probe: ProbeResult, rank: number): Candidate {
  return {
    partitionIndex: null,
    partitionName: null,
    byteOffset: at,
    sizeBytes: device.sizeBytes - at,
    label: probe.label,
    probe,
    // After every listed candidate: found this way only when none of them is a data filesystem.
    rank: 10 + rank,
    reason: `ext4 label ${probe.label} with /supervisor, found by searching the disk at byte ${at} (${formatBytes(at)}): no partition lists it`,
    foundByScan: true,
  };
}

/** What the user is told when the data was found by searching. */
export function scanWarning(c: Candidate, tableDamage: string | null = null, named: Candidate | null = null): string {
  const table =
    tableDamage !== null
      ? `The partition table is damaged (${tableDamage})`
      : named !== null
        ? `Partition ${named.partitionIndex} is named hassos-data but starts at byte ${named.byteOffset}, ${formatBytes(Math.abs(c.byteOffset - named.byteOffset))} ${named.byteOffset < c.byteOffset ? 'before' : 'after'} the filesystem: its entry in the partition table was changed`
        : 'The partition table was erased or replaced (a format, "Initialize disk", a new partition table)';
  return (
    `no partition lists the Home Assistant data: it was found by searching the disk, at byte ${c.byteOffset}. ` +
    `${table}; the data ` +
    'filesystem itself is still there. Do not format or partition this card again: copy the backups and the ' +
    'configuration off it first'
  );
}

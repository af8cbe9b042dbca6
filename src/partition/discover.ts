// Finds the Home Assistant data filesystem on a disk, following haos-format.md §2.5 (detection order),
// §1.6 and §7.1-§7.3 (locate by ext4 label, never by number or PARTUUID; several data filesystems can
// coexist) and §6 (Supervised installs on a plain Linux root). The partition layer knows nothing of ext4:
// the caller passes a probe that looks at one slice and reports its label and a few directories.

import type { BlockDevice } from '../device/block-device.js';
import type { Piece, Placement } from '../device/pieces-device.js';
import { AppError, CorruptError, NotFoundError, UnsupportedError, UsageError, toAppError } from '../errors.js';
import { formatBytes } from '../units.js';
import { DATA_LABEL, SET_ASIDE_LABELS } from './labels.js';
import { LUKS_HOLDS, LUKS_OPEN, LUKS_WHAT, type ProbeAt, containedCandidates, lvmName } from './contained.js';
import { SCAN_LIMIT_BYTES, scanForData, scanWarning } from './scan.js';
import { overlapSentence, readPartitionTable, type Partition, type PartitionTable } from './table.js';

/** Where a filesystem lies on the device: a slice, or the pieces of a logical volume (device/pieces-device.ts). */
export type Slice = Placement;

export interface ProbeResult {
  /** ext4 volume label ('' when none). */
  label: string;
  hasSupervisorDir: boolean;
  hasDockerDir: boolean;
  /** `data` of /etc/hassio.json, when the filesystem is a Linux root with that file. */
  supervisedDataPath: string | null;
  /** No /etc/hassio.json: supervisedDataPath is the installer's default folder, found holding the data. */
  supervisedGuessed?: boolean;
  /** The filesystem was recognised but something in it could not be read. */
  error?: string;
}

/** Looks at one slice of the device; null means "not ext4". */
export type FilesystemProbe = (slice: Slice) => Promise<ProbeResult | null>;

export interface DiscoverOptions {
  /** Linux partition number chosen by the user (--partition). */
  partition?: number;
  /** Byte offset chosen by the user (--offset); the slice runs to the device end. */
  offsetBytes?: number;
  /** When no partition holds the data, search the disk for it (scan.ts): up to 2,048 small reads. */
  scan?: boolean;
}

export interface Candidate {
  /** Linux partition number; null for the whole device or an --offset slice. */
  partitionIndex: number | null;
  partitionName: string | null;
  byteOffset: number;
  /** Clipped to the device end for truncated partitions. */
  sizeBytes: number;
  /** A logical volume in several pieces: where each lies, in order (byteOffset is the first's). */
  pieces?: Piece[];
  /** Why it is read but never written here (a thin volume). */
  readOnly?: string;
  /** ext4 label; null when the slice is not ext4 or could not be probed. */
  label: string | null;
  probe: ProbeResult | null;
  /** 1 is best; null when this slice is not a data filesystem by the rules. */
  rank: number | null;
  reason: string;
  error?: string;
  /** The error that stopped the probe (a read of a failing card, bytes an image's map does not hold). */
  failure?: AppError;
  /** Found by searching the disk (scan.ts), not listed by the partition table. */
  foundByScan?: boolean;
  /**
   * An LVM logical volume (its volume group, its name, the partition of its physical volume); `partition`:
   * a partition of the disk that volume holds (a virtual machine's disk on LVM storage), by its number there.
   */
  lvm?: { vg: string; name: string; pvPartition: number | null; partition?: number; snapshotOf?: string };
  /** What the slice holds when it is no filesystem but a container of one (an LVM physical volume, LUKS). */
  holds?: string;
}

/**
 * A filesystem found by searching inside an LVM physical volume (or LUKS) that was not put together: it is
 * the first piece of a volume whose other pieces lie elsewhere (another disk of its volume group). Read as a
 * whole filesystem, its files past that piece came from unrelated bytes, exit 0; refused instead.
 */
function refuseInsideContainer(device: BlockDevice, found: Candidate, candidates: Candidate[]): void {
  const container = candidates.find((c) => c.holds !== undefined && c.byteOffset <= found.byteOffset && found.byteOffset < c.byteOffset + c.sizeBytes);
  if (container === undefined) return;
  const where = container.partitionIndex === null ? 'the whole device' : `partition ${container.partitionIndex}`;
  throw new NotFoundError('DATA_IN_INCOMPLETE_VOLUME', `the Home Assistant data on ${device.description} lies in ${where}, ${container.holds}: its volume could not be put together here, and the piece on this disk is not the whole filesystem`, {
    hint: 'give the volume itself: on the Linux computer it belongs to (all its disks attached), sudo vgchange -ay makes it appear as /dev/VG/LV; or copy that volume to an image file (dd) and give the image',
  });
}

export type DataKind = 'haos' | 'supervised' | 'bare';

export interface Discovery {
  table: PartitionTable;
  candidates: Candidate[];
  chosen: Candidate;
  kind: DataKind;
  reason: string;
}

export { lvmName };

/** ASCII "Hass": the MBR disk signature of HAOS MBR boards (haos-format.md §1.4). */
export const HAOS_MBR_DISK_SIGNATURE = 0x48617373;

const RANK_SUPERVISED = 7;

/** Ranks 3, 4, 5 for the set-aside labels, in their order. */
const LABEL_RANKS = new Map(SET_ASIDE_LABELS.map((l, i) => [l.label, { rank: 3 + i, why: l.why }]));

function rankProbe(p: Partition | null, probe: ProbeResult, table: PartitionTable): { rank: number; why: string } | null {
  const label = probe.label;
  if (label === DATA_LABEL) {
    return probe.hasSupervisorDir
      ? { rank: 1, why: `ext4 label hassos-data with /supervisor${probe.hasDockerDir ? ' and /docker' : ''}` }
      : { rank: 2, why: 'ext4 label hassos-data, but no /supervisor directory' };
  }
  const byLabel = LABEL_RANKS.get(label);
  if (byLabel !== undefined) return { rank: byLabel.rank, why: `ext4 label ${label}: ${byLabel.why}` };
  const name = p?.name ?? null;
  if (isDataPartitionName(name)) {
    return { rank: 6, why: `GPT name ${name}, ext4 label "${label}"` };
  }
  if (probe.supervisedDataPath !== null) {
    const where = probe.supervisedGuessed ? `no /etc/hassio.json, the Supervisor's data found in ${probe.supervisedDataPath}` : `/etc/hassio.json puts the data in ${probe.supervisedDataPath}`;
    return { rank: RANK_SUPERVISED, why: `Supervised install: ${where}` };
  }
  if (table.type === 'mbr' && table.diskSignature === HAOS_MBR_DISK_SIGNATURE && p?.index === 4) {
    return { rank: 8, why: `ext4 "${label}" on partition 4 of an HAOS MBR disk (signature 0x48617373)` };
  }
  return null;
}

async function probeSlice(
  device: BlockDevice,
  probe: FilesystemProbe,
  table: PartitionTable,
  p: Partition | null,
  slice: Slice,
): Promise<Candidate> {
  const pieces = { ...(slice.pieces ? { pieces: slice.pieces } : {}), ...(slice.readOnly ? { readOnly: slice.readOnly } : {}) };
  const base = { partitionIndex: p?.index ?? null, partitionName: p?.name ?? null, byteOffset: slice.byteOffset, ...pieces };
  // A volume's pieces lie inside its physical volume, which lies on the device (lvm.ts): each checked there.
  const room = slice.pieces ? slice.sizeBytes : device.sizeBytes - slice.byteOffset;
  if (room <= 0) {
    const error = 'starts beyond the end of the device (truncated image)';
    return { ...base, sizeBytes: 0, label: null, probe: null, rank: null, reason: error, error };
  }
  const sizeBytes = Math.min(slice.sizeBytes, room);
  const clipped = sizeBytes < slice.sizeBytes ? ` (truncated to the ${sizeBytes} bytes present)` : '';
  let result: ProbeResult | null;
  try {
    // The size its table gives, also past the end of the medium: a read there says the image is cut short.
    result = await probe({ byteOffset: slice.byteOffset, sizeBytes: slice.sizeBytes, ...pieces });
  } catch (err) {
    const failure = err instanceof AppError ? err : toAppError(err);
    return { ...base, sizeBytes, label: null, probe: null, rank: null, reason: `probe failed: ${failure.message}`, error: failure.message, failure };
  }
  if (result === null) return { ...base, sizeBytes, label: null, probe: null, rank: null, reason: `not ext4${clipped}` };
  const ranked = rankProbe(p, result, table);
  const reason = (ranked?.why ?? `ext4 label "${result.label}": not a Home Assistant data filesystem`) + clipped;
  const candidate: Candidate = { ...base, sizeBytes, label: result.label, probe: result, rank: ranked?.rank ?? null, reason };
  if (result.error !== undefined) candidate.error = result.error;
  return candidate;
}

async function probeAll(device: BlockDevice, probe: FilesystemProbe, table: PartitionTable): Promise<Candidate[]> {
  const probeAt: ProbeAt = (t, p, slice) => probeSlice(device, probe, t, p, slice);
  if (table.type === 'none') {
    const whole = await probeSlice(device, probe, table, null, { byteOffset: 0, sizeBytes: device.sizeBytes });
    return [whole, ...(await containedCandidates(device, probeAt, table, null, whole))];
  }
  const out: Candidate[] = [];
  for (const p of table.partitions) {
    if (p.extended || p.sizeBytes === 0) continue;
    const c = await probeSlice(device, probe, table, p, p);
    out.push(c, ...(await containedCandidates(device, probeAt, table, p, c)));
  }
  return out;
}

function isDataPartitionName(name: string | null): boolean {
  return name !== null && (name === 'hassos-data' || name.startsWith('hassos-data-external'));
}

function describe(c: Candidate): string {
  if (c.lvm !== undefined) return lvmName(c.lvm);
  if (c.partitionIndex !== null) return `partition ${c.partitionIndex}${c.partitionName ? ` (${c.partitionName})` : ''}`;
  return c.byteOffset === 0 ? 'the whole device' : `the filesystem at byte ${c.byteOffset}`;
}

function kindOf(c: Candidate): DataKind {
  if (c.rank !== null && c.rank !== RANK_SUPERVISED) return 'haos';
  if (c.probe?.hasSupervisorDir) return 'haos';
  if (c.probe?.supervisedDataPath != null) return 'supervised';
  return 'bare';
}


function confirmed(c: Candidate): boolean {
  return c.probe?.hasSupervisorDir === true;
}

/** Best first: rank, then confirmed by /supervisor, then disk table order. */
function byPreference(candidates: Candidate[]): Candidate[] {
  return candidates
    .map((c, order) => ({ c, order }))
    .filter(({ c }) => c.rank !== null)
    .sort((a, b) => a.c.rank! - b.c.rank! || Number(confirmed(b.c)) - Number(confirmed(a.c)) || a.order - b.order)
    .map(({ c }) => c);
}

/**
 * Two filesystems with Home Assistant data under one label (a card cloned onto a bigger one, a copy left
 * behind): every command reads the first, and says so, as the other may be the one the box used last.
 */
function sameLabelWarning(chosen: Candidate, ranked: Candidate[]): string | null {
  const twins = ranked.filter((c) => c !== chosen && chosen.label !== null && c.label === chosen.label && confirmed(c) && confirmed(chosen));
  if (twins.length === 0) return null;
  return `${twins.length + 1} filesystems with Home Assistant data are labelled ${chosen.label}: this reads ${describe(chosen)}, the first in the table; ${twins.map(describe).join(', ')} may be the one the box used last (its last write is shown when it is named): name the partition to read another`;
}

function explainChoice(chosen: Candidate, ranked: Candidate[]): string {
  let reason = `chose ${describe(chosen)}: ${chosen.reason}`;
  const sameLabel = ranked.filter((c) => c !== chosen && chosen.label !== null && c.label === chosen.label);
  if (sameLabel.length > 0) {
    const why = sameLabel.map((c) =>
      confirmed(chosen) && !confirmed(c) ? `${describe(c)} has no /supervisor` : `${describe(c)} comes later in the table (which one the box uses cannot be told from here: changes are refused until one is named)`,
    );
    reason += `; ${sameLabel.length + 1} filesystems are labelled ${chosen.label}, not chosen: ${why.join(', ')}`;
  }
  const others = ranked.filter((c) => c !== chosen && !sameLabel.includes(c));
  if (others.length > 0) reason += `; also seen: ${others.map((c) => `${describe(c)} (${c.reason})`).join('; ')}`;
  return reason;
}

function notFound(device: BlockDevice, table: PartitionTable, candidates: Candidate[], searched: boolean): AppError {
  const luks = candidates.find((c) => c.holds === LUKS_HOLDS);
  if (luks !== undefined) {
    return new UnsupportedError('LUKS_ENCRYPTED', `${describe(luks)} of ${device.description} is ${LUKS_WHAT}, and haos-rescue cannot open it`, { hint: LUKS_OPEN });
  }
  const what = (c: Candidate): string =>
    c.error !== undefined && c.probe === null ? `unreadable: ${c.error}` : c.label === null ? (c.holds ?? 'not ext4') : `ext4 "${c.label}"`;
  const seen = candidates.map((c) => `${describe(c)}: ${formatBytes(c.sizeBytes)}, ${what(c)}`);
  if (searched) seen.push(`and none elsewhere on the first ${formatBytes(Math.min(device.sizeBytes, SCAN_LIMIT_BYTES))} (searched)`);
  const hint =
    table.type === 'none'
      ? `no partition table and no usable filesystem at byte 0 (${candidates.map(what).join(', ')})${searched ? ' or elsewhere (searched)' : ''}; ` +
        'if this is a whole-disk image check that it is complete, or give the byte offset of the data filesystem'
      : `seen ${seen.join('; ')}; name one of the partitions to open it anyway`;
  // The partition HAOS made for the data is there and could not be read (a bad sector, bytes an image's map
  // does not hold): that read error, with its remedy, not "not found" and a partition to name.
  // So too a bare filesystem whose superblock read and whose folders are damaged (a root folder that is no
  // folder): it was "no Home Assistant data filesystem found", with advice to give an offset.
  const damagedBare = (c: Candidate): boolean => table.type === 'none' && c.byteOffset === 0 && c.failure?.exitCode === 65;
  const unread = candidates.find((c) => c.failure !== undefined && (isDataPartitionName(c.partitionName) || damagedBare(c)) && c.failure.exitCode !== 66);
  if (unread !== undefined) {
    const failure = unread.failure!;
    const whose = isDataPartitionName(unread.partitionName) ? "Home Assistant's data partition" : 'an ext4 filesystem';
    return new AppError(failure.code, failure.exitCode, `${describe(unread)} of ${device.description}, ${whose}, cannot be read: ${failure.message}`, {
      ...(failure.hint ? { hint: failure.hint } : {}),
      details: { ...failure.details, partition: unread.partitionIndex },
      cause: failure,
    });
  }
  // The partition HAOS made for the data is there, and no filesystem in it: say that, not "not found".
  const named = candidates.find((c) => c.label === null && c.error === undefined && isDataPartitionName(c.partitionName));
  if (named !== undefined) {
    return new NotFoundError('DATA_PARTITION_EMPTY', `${describe(named)} of ${device.description} is Home Assistant's data partition, but it holds no ext4 filesystem any more: it was overwritten or formatted`, {
      hint: 'nothing on the card can be read as files there; copy the card to an image file before anything else is written to it: a file-recovery program (PhotoRec) may still find parts of the files in that image',
      details: { tableType: table.type, partition: named.partitionIndex },
    });
  }
  return new NotFoundError('DATA_NOT_FOUND', `no Home Assistant data filesystem found on ${device.description}`, {
    hint,
    remedy: table.type === 'none' ? 'data-offset' : 'choose-partition',
    details: {
      tableType: table.type,
      seen: candidates.map((c) => ({ index: c.partitionIndex, sizeBytes: c.sizeBytes, label: c.label, error: c.error ?? null })),
    },
  });
}

async function discoverAtOffset(device: BlockDevice, probe: FilesystemProbe, offsetBytes: number): Promise<Discovery> {
  if (!Number.isSafeInteger(offsetBytes) || offsetBytes < 0 || offsetBytes >= device.sizeBytes) {
    throw new UsageError('OFFSET_OUT_OF_RANGE', `byte offset ${offsetBytes} is outside ${device.description} (${device.sizeBytes} bytes)`, {
      // No "add --offset" remedy: the offset was given, and it is the mistake.
      hint: `give an offset inside its ${formatBytes(device.sizeBytes)} (the offset column of the disk's own listing, info, gives where each partition starts), or name the partition instead`,
      details: { offsetBytes, deviceBytes: device.sizeBytes },
    });
  }
  let table: PartitionTable;
  try {
    table = await readPartitionTable(device);
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    table = { type: 'none', partitions: [], warnings: [`partition table unusable: ${err.message}`], sectorSize: 512 };
  }
  const chosen = await probeSlice(device, probe, table, null, { byteOffset: offsetBytes, sizeBytes: device.sizeBytes - offsetBytes });
  const reason = `chose byte offset ${offsetBytes} as asked: ${chosen.reason}`;
  return { table, candidates: [chosen], chosen, kind: kindOf(chosen), reason };
}

function pickPartition(device: BlockDevice, table: PartitionTable, candidates: Candidate[], n: number): Candidate {
  const found = candidates.find((c) => c.partitionIndex === n);
  if (found !== undefined) return found;
  const available = table.partitions.filter((p) => !p.extended).map((p) => p.index);
  if (table.partitions.some((p) => p.index === n && p.extended)) {
    const inside = table.partitions.filter((p) => p.index >= 5).map((p) => p.index);
    throw new NotFoundError('PARTITION_IS_EXTENDED', `partition ${n} of ${device.description} is an extended partition: a container of the logical partitions ${inside.join(', ') || '(none)'}, not a filesystem`, {
      hint: `name one of the partitions inside it (${inside.join(', ') || 'none is listed'}), or leave the partition out to have the data found`,
      details: { partition: n, available },
    });
  }
  throw new NotFoundError('PARTITION_NOT_FOUND', `partition ${n} not found on ${device.description}`, {
    hint:
      available.length > 0
        ? `available partitions: ${available.join(', ')}`
        : 'the device has no partition table: open it without naming a partition',
    details: { partition: n, available },
  });
}

/** The data partition shares bytes with another partition: said (a write is refused, preconditions.ts). */
function overlapWarning(table: PartitionTable, chosen: Candidate): string | null {
  if (chosen.partitionIndex === null || chosen.lvm) return null;
  const sentence = overlapSentence(table, chosen.partitionIndex);
  return sentence === null ? null : `${sentence} (reading goes on; changes are refused)`;
}

/**
 * The warning for a partition chosen by number that is not Home Assistant's data while another is: what
 * it then reads (no users, no backups, no configuration) is that partition's, not a loss.
 */
function notTheData(chosen: Candidate, candidates: Candidate[]): string[] {
  const best = byPreference(candidates)[0];
  if (best === undefined || best === chosen || (chosen.rank !== null && chosen.rank <= best.rank!)) return [];
  return [`${describe(chosen)} is not Home Assistant's data (${chosen.reason}); ${describe(best)} is (${best.reason}): ` +
    'what is read here is that partition\'s, and what it lacks is not lost; name the data partition, or none to have it found'];
}

/**
 * Finds the data filesystem: the user's --partition or --offset when given, otherwise the best candidate
 * by the rules of haos-format.md §2.5. A probe that throws is recorded on its candidate, never fatal.
 * Throws NotFoundError DATA_NOT_FOUND / PARTITION_NOT_FOUND, UsageError for bad options, and the table
 * reader's CorruptError when the partition table is unusable.
 */
export async function discoverData(device: BlockDevice, probe: FilesystemProbe, opts: DiscoverOptions = {}): Promise<Discovery> {
  if (opts.partition !== undefined && opts.offsetBytes !== undefined) {
    throw new UsageError('CONFLICTING_OPTIONS', 'a partition and a byte offset cannot both be chosen');
  }
  if (opts.offsetBytes !== undefined) return discoverAtOffset(device, probe, opts.offsetBytes);
  const n = opts.partition;
  if (n !== undefined && (!Number.isSafeInteger(n) || n < 1)) {
    throw new UsageError('INVALID_PARTITION', `partition ${n} is not a partition number (1, 2, ...)`);
  }
  if (device.sizeBytes === 0) {
    throw new NotFoundError('EMPTY_SOURCE', `${device.description} is empty (0 bytes)`, {
      hint: 'a copy of a card that stopped at once leaves an empty file: copy the card again, or use the card itself',
    });
  }
  const damage: { gpt: CorruptError | null } = { gpt: null };
  const table = await readPartitionTable(device).catch((err: unknown) => {
    // A GPT whose both copies fail their checks: the disk is searched for the data, as for an erased table
    // (the owner cannot know the byte offset the error used to ask for).
    if (!(err instanceof CorruptError) || !['GPT_DAMAGED', 'GPT_MISSING'].includes(err.code) || !opts.scan || opts.partition !== undefined) throw err;
    damage.gpt = err;
    return { type: 'none', partitions: [], warnings: [], sectorSize: device.sectorSize === 4096 ? 4096 : 512 } satisfies PartitionTable;
  });
  const candidates = await probeAll(device, probe, table);
  if (opts.partition !== undefined) {
    const chosen = pickPartition(device, table, candidates, opts.partition);
    const reason = `chose partition ${opts.partition} as asked: ${chosen.reason}`;
    return { table: { ...table, warnings: [...table.warnings, ...notTheData(chosen, candidates)] }, candidates, chosen, kind: kindOf(chosen), reason };
  }
  const ranked = byPreference(candidates);
  const best = ranked[0];
  if (best !== undefined) {
    const said = [sameLabelWarning(best, ranked), overlapWarning(table, best)].filter((w): w is string => w !== null);
    return { table: said.length === 0 ? table : { ...table, warnings: [...table.warnings, ...said] }, candidates, chosen: best, kind: kindOf(best), reason: explainChoice(best, ranked) };
  }
  const whole = candidates[0];
  if (table.type === 'none' && whole?.probe != null) {
    return { table, candidates, chosen: whole, kind: kindOf(whole), reason: `no partition table; the whole device is ${whole.reason}` };
  }
  const found = opts.scan ? await scanForData(device, probe, new Set(candidates.map((c) => c.byteOffset))) : null;
  if (found !== null) refuseInsideContainer(device, found, candidates);
  if (found !== null) {
    return { table: { ...table, warnings: [...table.warnings, scanWarning(found, damage.gpt?.message ?? null, candidates.find((c) => c.partitionName === 'hassos-data') ?? null)] }, candidates: [...candidates, found], chosen: found, kind: kindOf(found), reason: `chose ${found.reason}` };
  }
  throw damage.gpt ?? notFound(device, table, candidates, opts.scan === true);
}

// `disks` and every command run without SOURCE: the computer's disks from the OS listing (src/disks), each
// opened read-only to see whether it holds Home Assistant data, and the rule that picks one automatically
// (issue 6): exactly one disk with Home Assistant data that is not the system disk.

import { permissionHint } from '../device/map-os-error.js';
import { AppError, NotFoundError, UsageError } from '../errors.js';
import { summarize } from '../ha/layout.js';
import { formatBytes } from '../units.js';
import { listDisks } from '../disks/list.js';
import type { DiskInfo, ListDisksOptions } from '../disks/types.js';
import { withSource } from './source.js';
import { lvmName } from '../partition/discover.js';

export interface HaFound {
  /** Partition number of the data filesystem (null for a bare filesystem), its label and kind. */
  partition: number | null;
  /** An LVM logical volume: "logical volume vg/root (LVM, in partition 3)"; null otherwise. */
  volume: string | null;
  label: string;
  kind: string;
  version: string | null;
  users: number | null;
  backups: number | null;
  needsRecovery: boolean;
}

export interface SurveyedDisk extends DiskInfo {
  /** Home Assistant data found on the disk; null when none was found or the disk could not be read. */
  homeAssistant: HaFound | null;
  /** Why the disk could not be read (no rights, no medium, ...): code, message and what to do. */
  error: { code: string; message: string; hint: string | null } | null;
  /**
   * Searched for data no partition lists (an erased table): cards and removable disks. A hard disk or SSD is
   * looked at through its partition table only (a search of a hard disk seeks 2,048 times).
   */
  searched: boolean;
}

export interface SurveyOptions extends ListDisksOptions {
  /** Opens the disk and looks for Home Assistant data; replaced by tests. Default: probeHa. */
  probe?: (path: string, opts: { scan: boolean }) => Promise<HaFound>;
}

/**
 * Opens `path` read-only (journal not replayed: a listing must not read 128 MiB per card) and summarises.
 * `scan`: search the disk when no partition holds the data (cards and USB disks: a hard disk's seeks would
 * make a listing slow).
 */
export async function probeHa(path: string, opts: { scan: boolean } = { scan: true }): Promise<HaFound> {
  return withSource(path, { replay: false, scan: opts.scan }, async (s) => {
    const ha = await summarize(s.fs, s.layout);
    return {
      partition: s.discovery.chosen.partitionIndex,
      volume: s.discovery.chosen.lvm ? lvmName(s.discovery.chosen.lvm) : null,
      label: s.volume.sb.label,
      kind: s.discovery.kind,
      version: ha.version,
      users: ha.users,
      backups: ha.backups,
      needsRecovery: s.needsRecovery,
    };
  });
}

export async function surveyDisks(options: SurveyOptions = {}): Promise<SurveyedDisk[]> {
  const disks = await listDisks(options);
  const probe = options.probe ?? probeHa;
  const out: SurveyedDisk[] = [];
  for (const disk of disks) {
    if (!disk.hasMedium) {
      out.push({ ...disk, homeAssistant: null, error: null, searched: false });
      continue;
    }
    const searched = cardLike(disk);
    try {
      out.push({ ...disk, homeAssistant: await probe(disk.path, { scan: searched }), error: null, searched });
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      // "No Home Assistant data here" is an answer, not a problem with the disk; a data partition with no
      // filesystem left in it is the Home Assistant card, and its problem is said.
      const none = err.exitCode === 66 && err.code !== 'SOURCE_NOT_FOUND' && err.code !== 'DATA_PARTITION_EMPTY';
      out.push({ ...disk, homeAssistant: null, error: none ? null : { code: err.code, message: err.message, hint: err.hint ?? null }, searched });
    }
  }
  return out;
}

/** An SD card, a USB stick or a card reader: searched for data no partition lists (cheap seeks, few GiB). */
function cardLike(d: DiskInfo): boolean {
  return !d.system && (d.bus === 'sd' || d.removable === true);
}

/** A disk other than the computer's own (not an attached image or a virtual disk) looked at through its partition table only, that held nothing. */
export function notSearched(d: SurveyedDisk): boolean {
  return d.hasMedium && !d.system && !d.searched && d.bus !== null && d.bus !== 'virtual' && d.homeAssistant === null && d.error === null;
}

/** One line naming a disk for people: "/dev/sdb (SanDisk SD card, 29.7 GiB, USB)". */
export function describeDisk(d: DiskInfo): string {
  const size = d.sizeBytes ? formatBytes(d.sizeBytes) : null;
  const parts = [d.model, size, d.bus?.toUpperCase(), d.system ? 'system disk' : null].filter(Boolean);
  return parts.length > 0 ? `${d.path} (${parts.join(', ')})` : d.path;
}

/** A data filesystem with a Home Assistant configuration on it (an empty hassos-data does not count). */
export function holdsConfig(d: SurveyedDisk): boolean {
  const ha = d.homeAssistant;
  return ha !== null && (ha.version !== null || ha.users !== null);
}

export type AutoChoice =
  | { kind: 'one'; disk: SurveyedDisk }
  | { kind: 'several'; disks: SurveyedDisk[] };

/**
 * The disk to use when no SOURCE was given: the only non-system disk with Home Assistant data, or the
 * list to choose from. Throws NotFoundError (66) when there is none, saying what was seen.
 */
export function chooseAutomatically(disks: SurveyedDisk[], platform: NodeJS.Platform = process.platform): AutoChoice {
  const candidates = disks.filter((d) => holdsConfig(d) && !d.system);
  if (candidates.length === 1) return { kind: 'one', disk: candidates[0]! };
  if (candidates.length > 1) return { kind: 'several', disks: candidates };
  const denied = disks.filter((d) => d.error?.code === 'NO_PERMISSION');
  const onSystem = disks.filter((d) => holdsConfig(d) && d.system);
  let hint = 'insert the card or connect the disk, then look again; or name an image file or the disk itself';
  if (denied.length > 0) {
    hint = `${denied.map((d) => d.path).join(', ')} could not be opened: ${denied[0]!.error?.hint ?? permissionHint(platform)}`;
  }
  else if (onSystem.length > 0) hint = `Home Assistant data is on the system disk ${onSystem[0]!.path}, which is never chosen automatically: name it yourself if you mean it`;
  throw new NotFoundError('NO_HA_DISK', `no disk with Home Assistant data found (${disks.length} disk(s) looked at)`, { hint });
}

/** Refusal for a non-interactive run that found several disks. */
export function severalDisksError(disks: SurveyedDisk[]): UsageError {
  return new UsageError('SEVERAL_HA_DISKS', `${disks.length} disks hold Home Assistant data: ${disks.map(describeDisk).join('; ')}`, {
    hint: `name the one you mean, e.g. ${disks[0]!.path}`,
  });
}

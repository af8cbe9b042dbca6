// `info`: what is on the source: the partition table, the data filesystem and its state, Home Assistant.
// The result is the JSON contract of design.md §3; the CLI renders it for people.

import type { RegionMap } from '../device/rescue/region-map.js';
import { stat } from 'node:fs/promises';
import { type KernelError, type KernelErrors, errorCodeName } from '../ext4/sb-history.js';
import type { JournalAbort } from '../ext4/journal/abort.js';
import { summarize } from '../ha/layout.js';
import { type FileHit, type ImportantFile, filesHit, importantFiles } from './image/files-hit.js';
import { spaceTotals } from './repair/index.js';
import { freeCounts } from '../ext4/space.js';
import type { OpenedSource } from './source.js';
import { type WriteRefusal, writeRefusal } from './write/preconditions.js';
import { type ContainerInfo, containerOf } from '../device/vdisk/index.js';
import { lvmName } from '../partition/discover.js';

/** An image read with its rescue map: how much of the card it holds, and what is lost. */
export interface RescueInfo {
  map: string;
  /** Found beside the image (IMG.map) rather than given with --map. */
  foundBeside: boolean;
  sizeBytes: number;
  rescuedBytes: number;
  /** Tried and unreadable, or not tried yet. */
  missingBytes: number;
  badAreas: number;
  /** The stretches not rescued (bad, or not tried yet: a copy of the used blocks alone leaves the rest so). */
  missingAreas: number;
  important: ImportantFile[];
  filesHit: FileHit[];
}

export interface KernelErrorInfo {
  time: string | null;
  /** The kernel function that reported it, e.g. "ext4_lookup". */
  function: string;
  line: number;
  inode: number | null;
  block: number | null;
  /** EXT4_ERR_* name as dumpe2fs prints it (EIO, EFSBADCRC, EFSCORRUPTED, ...), null when not recorded. */
  code: string | null;
  meaning: string | null;
}

export interface InfoResult {
  source: string;
  sizeBytes: number;
  partitionTable: 'gpt' | 'mbr' | 'none';
  hybridMbr: boolean;
  partitions: Array<{ index: number; name: string | null; offset: number; size: number; label: string | null; truncated: boolean }>;
  data: {
    partitionIndex: number | null;
    offset: number;
    size: number;
    label: string;
    kind: string;
    reason: string;
    /** No partition lists it: it was found by searching the disk (the partition table was erased or replaced). */
    foundBySearch: boolean;
    /** An LVM logical volume: "logical volume vg/root (LVM, in partition 3)"; null otherwise. */
    volume: string | null;
    /** The partition that holds that volume (its LVM physical volume); null otherwise. */
    volumeInPartition: number | null;
    blockSize: number;
    blocksCount: number;
    features: string[];
    /**
     * 'unknown': the main superblock is unusable and a backup copy is read; mke2fs and e2fsck write those marked
     * not clean, with the times of their writing (not the box's), so neither state nor times are shown.
     */
    state: 'clean' | 'errors' | 'not cleanly unmounted' | 'unknown';
    needsRecovery: boolean;
    journalReplayed: boolean;
    journal: {
      /** First and one-past-last transaction IDs of the replayed range. */
      firstTransaction: number | null;
      endTransaction: number | null;
      transactions: number;
      blocksReplayed: number;
      revokedBlocksSkipped: number;
      failedCommit: number | null;
      notReplayed: string | null;
      problems: string[];
    } | null;
    root: string;
    uuid: string;
    /** The folder it was last mounted on (s_last_mounted), or null. */
    lastMounted: string | null;
    /** When the box last used it, by the box's own clock (ISO times; null when not recorded). */
    times: {
      /** The last mount (s_mtime): about when the box last started. */
      mounted: string | null;
      /** The last superblock write (s_wtime): at mount, clean unmount, or an error. */
      written: string | null;
      /** The newest transaction in the journal, when it held some: the last change before the box stopped. */
      lastJournalCommit: string | null;
    };
    /** The errors the kernel recorded in the superblock (until e2fsck clears them), or null when none. */
    kernelErrors: { count: number; first: KernelErrorInfo | null; last: KernelErrorInfo | null } | null;
    /** The error the journal keeps from the kernel aborting it (a failed write, usually), or null. */
    journalAbort: JournalAbort | null;
    /** Why a change (password, login, deletion, safe mode) would be refused on this card as it is, or null. */
    writeRefused: WriteRefusal | null;
  };
  /** `unreadable`: reads of its files failed (each a warning), so what is missing may be there. */
  homeAssistant: { version: string | null; configPath: string | null; users: number | null; backups: number | null; unreadable: boolean };
  /**
   * How full the data filesystem is, from the superblock's counts alone (no walk, no other read). The
   * kernel writes those at mount and unmount, so a card pulled from a running box may be fuller than this
   * says; `df` sums the group descriptors, which are up to date.
   */
  space: { usedBytes: number; freeBytes: number; availableBytes: number; full: boolean };
  otherCandidates: Array<{ partitionIndex: number | null; label: string | null; reason: string }>;
  rescue: RescueInfo | null;
  /** The virtual machine disk file the card was read through (qcow2, VDI, ...), or null. */
  container: ContainerInfo | null;
  warnings: string[];
  /** The card refused a read while this was gathered (a bad sector): copy it to an image first (`image`). */
  readFailed: boolean;
}

function uuidString(b: Uint8Array): string {
  const h = Buffer.from(b).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The newest failed read or write (EIO) of this filesystem's disk that the box's kernel recorded, or null. */
function ioError(k: InfoResult['data']['kernelErrors']): KernelErrorInfo | null {
  return [k?.last, k?.first].find((e) => e?.code === 'EIO') ?? null;
}

/** The box's kernel recorded a failed read or write (EIO) of this filesystem's disk, or aborted its journal on one. */
export function kernelSawIoErrors(r: InfoResult): boolean {
  return ioError(r.data.kernelErrors) !== null || r.data.journalAbort?.name === 'EIO';
}

/**
 * Why the card should be copied to an image before anything else, or null: it refused a read just now, or
 * (read as a disk, not as an image file or a copy with its map) the box's kernel recorded read errors on it.
 */
export async function copyFirstReason(r: InfoResult): Promise<'read-failed' | 'box-read-errors' | null> {
  if (r.readFailed) return 'read-failed';
  if (!kernelSawIoErrors(r) || r.rescue !== null || r.container !== null) return null;
  const isFile = (await stat(r.source).catch(() => null))?.isFile() ?? true;
  return isFile ? null : 'box-read-errors';
}

/** The filesystem's state as the guided flow and the window say it after "filesystem". */
export function stateText(d: Pick<InfoResult['data'], 'state' | 'needsRecovery' | 'journal'>): string {
  if (d.needsRecovery) return `not cleanly unmounted: ${d.journal?.transactions ?? 0} journal change(s) shown as applied (in memory only)`;
  return d.state === 'unknown' ? 'state not known (a backup copy of its superblock is read)' : d.state;
}

/** The newest sign of the box writing: the superblock's write time or the journal's newest transaction. */
export function lastWritten(t: InfoResult['data']['times']): { at: string; fromJournal: boolean } | null {
  const at = [t.written, t.lastJournalCommit].filter((x): x is string => x !== null).sort().pop();
  return at === undefined ? null : { at, fromJournal: at === t.lastJournalCommit };
}

/**
 * One sentence on the filesystem errors the box's kernel recorded (a journal it stopped; the count, and the
 * newest: what it means, where), for the guided flow's summary and the window's card; null when none were.
 */
export function kernelErrorSummary(d: Pick<InfoResult['data'], 'kernelErrors' | 'journalAbort'>): string | null {
  const k = d.kernelErrors;
  const last = k?.last ?? k?.first;
  const aborted = d.journalAbort && `the box's system stopped the journal after an error: ${d.journalAbort.meaning}`;
  const recorded = k && last && `the box's system recorded ${k.count} filesystem error(s), the last${last.meaning ? `: ${last.meaning}` : ''} (in ${last.function || '?'})`;
  return [aborted, recorded].filter(Boolean).join('; ') || null;
}

function isoSeconds(seconds: number): string | null {
  return seconds > 0 ? new Date(seconds * 1000).toISOString() : null;
}

function kernelErrorInfo(e: KernelError | null): KernelErrorInfo | null {
  if (e === null) return null;
  const code = errorCodeName(e.code);
  return {
    time: isoSeconds(e.time),
    function: e.func,
    line: e.line,
    inode: e.inode || null,
    block: e.block || null,
    code: code?.name ?? null,
    meaning: code?.meaning ?? null,
  };
}

function kernelErrorsInfo(k: KernelErrors | null): InfoResult['data']['kernelErrors'] {
  return k && { count: k.count, first: kernelErrorInfo(k.first), last: kernelErrorInfo(k.last) };
}

/** The kernel met EIO on this filesystem: the card was failing reads or writes while the box ran. */
function kernelIoWarning(k: InfoResult['data']['kernelErrors'], aborted: JournalAbort | null, imaged: boolean): string[] {
  const io = ioError(k);
  const next = imaged ? 'parts of it may be stale or missing in this copy' : 'if this is the card itself, copy it to an image first and work on the copy';
  const out: string[] = [];
  if (aborted !== null) out.push(`the box's kernel stopped the journal after an error (${aborted.name}: ${aborted.meaning}): changes from just before may be missing, and changes to the card are refused until its filesystem has been checked (the box checks it at its next start)`);
  if (io) {
    const when = io.time ? `, at ${io.time.slice(0, 16).replace('T', ' ')} UTC` : '';
    out.push(`the box's kernel recorded failed reads or writes of its disk (EIO${when}): the card may be failing; ${next}`);
  } else if (aborted?.name === 'EIO') {
    out.push(`the card may be failing; ${next}`);
  }
  return out;
}

function fsState(state: number, needsRecovery: boolean): InfoResult['data']['state'] {
  if ((state & 2) !== 0) return 'errors';
  if ((state & 1) === 0 || needsRecovery) return 'not cleanly unmounted';
  return 'clean';
}

/** The partition table's entries, each with the filesystem label found in it. */
function partitionsInfo({ discovery }: OpenedSource): InfoResult['partitions'] {
  const labels = new Map(discovery.candidates.map((c) => [c.partitionIndex, c.label]));
  return discovery.table.partitions.map((p) => ({
    index: p.index,
    name: p.name,
    offset: p.byteOffset,
    size: p.sizeBytes,
    label: labels.get(p.index) ?? null,
    truncated: p.truncated ?? false,
  }));
}

export async function info(source: OpenedSource): Promise<InfoResult> {
  const { discovery, volume, layout } = source;
  const sb = volume.sb;
  // A backup copy of the superblock is read: its state and times are those of its writing by e2fsprogs.
  const copy = volume.superblockLocation.primaryProblem !== null;
  const ha = await summarize(source.fs, layout);
  const kernelErrors = kernelErrorsInfo(sb.kernelErrors);
  const aborted = source.journalAbort;
  const writeRefused = await writeRefusal(source);
  const warnings = [...source.warnings, ...ha.problems, ...kernelIoWarning(kernelErrors, aborted, source.rescueMap !== null)];
  // A running virtual machine writes to its disk meanwhile: what is read may be out of date, or torn.
  if (writeRefused?.code === 'FILE_IN_USE') warnings.push(`${writeRefused.message}: what is read from it may be out of date or torn; shut the virtual machine down and read it again`);
  // From the group descriptors, as df and the kernel count: the superblock's counts are written only at mount
  // and unmount (weeks old on a card pulled from a running box), and a damaged one said "0 bytes used".
  const counts = await freeCounts(volume);
  const space = spaceTotals(sb, counts.freeBlocks, counts.freeInodes);
  return {
    source: source.path,
    sizeBytes: source.device.sizeBytes,
    partitionTable: discovery.table.type,
    hybridMbr: discovery.table.hybrid ?? false,
    partitions: partitionsInfo(source),
    data: {
      partitionIndex: discovery.chosen.partitionIndex,
      offset: discovery.chosen.byteOffset,
      size: discovery.chosen.sizeBytes,
      label: sb.label,
      kind: discovery.kind,
      reason: discovery.reason,
      foundBySearch: discovery.chosen.foundByScan === true,
      volume: discovery.chosen.lvm ? lvmName(discovery.chosen.lvm) : null,
      volumeInPartition: discovery.chosen.lvm?.pvPartition ?? null,
      blockSize: sb.blockSize,
      blocksCount: sb.blocksCount,
      features: sb.features,
      state: copy ? 'unknown' : fsState(sb.state, source.needsRecovery),
      needsRecovery: source.needsRecovery,
      journalReplayed: source.journal.replayed,
      journal: journalInfo(source),
      root: layout.supervisorPath ?? '/',
      uuid: uuidString(sb.uuid),
      lastMounted: copy ? null : sb.lastMounted || null,
      times: {
        mounted: copy ? null : isoSeconds(sb.mountTime),
        written: copy ? null : isoSeconds(sb.writeTime),
        lastJournalCommit: source.journal.replayed ? isoSeconds(source.journal.report?.lastCommitSeconds ?? 0) : null,
      },
      kernelErrors,
      journalAbort: aborted,
      writeRefused,
    },
    homeAssistant: { version: ha.version, configPath: ha.configPath, users: ha.users, backups: ha.backups, unreadable: ha.problems.length > 0 },
    space: { usedBytes: space.usedBytes, freeBytes: space.freeBytes, availableBytes: space.availableBytes, full: space.full },
    otherCandidates: discovery.candidates
      .filter((c) => c !== discovery.chosen && c.rank !== null)
      .map((c) => ({ partitionIndex: c.partitionIndex, label: c.label, reason: c.reason })),
    rescue: await rescueInfo(source),
    container: containerOf(source.device),
    warnings,
    readFailed: ha.readFailed,
  };
}

async function rescueInfo(source: OpenedSource): Promise<RescueInfo | null> {
  const r = source.rescueMap;
  if (!r) return null;
  const totals = r.map.totals();
  const hits = await filesHit(source);
  return {
    map: r.path,
    foundBeside: r.foundBeside,
    sizeBytes: r.map.sizeBytes,
    rescuedBytes: totals['+'],
    missingBytes: r.map.sizeBytes - totals['+'],
    badAreas: r.map.areas('*') + r.map.areas('/') + r.map.areas('-'),
    missingAreas: stretchesNotRescued(r.map),
    important: await importantFiles(source, hits),
    filesHit: hits,
  };
}

function journalInfo(source: OpenedSource): InfoResult['data']['journal'] {
  const j = source.journal;
  if (!j.needsRecovery) return null;
  const r = j.report;
  return {
    firstTransaction: r ? r.firstTransaction : null,
    endTransaction: r ? r.endTransaction : null,
    transactions: r?.transactions ?? 0,
    blocksReplayed: r?.blocksReplayed ?? 0,
    revokedBlocksSkipped: r?.revokeHits ?? 0,
    failedCommit: r?.failedCommit ?? null,
    notReplayed: j.notReplayed,
    problems: [...(r?.problems ?? []), ...(r?.error ? [r.error] : [])],
  };
}

/** The stretches of the map not rescued, next ones of different statuses counted as one. */
function stretchesNotRescued(map: RegionMap): number {
  let count = 0;
  let end = -1;
  for (let r = map.next('?*/-', 0); r !== null; r = map.next('?*/-', r.pos + r.size)) {
    if (r.pos !== end) count++;
    end = r.pos + r.size;
  }
  return count;
}

// `info`: what is on the source: the partition table, the data filesystem and its state, Home Assistant.
// The result is the JSON contract of design.md §3; the CLI renders it for people.

import { summarize } from '../ha/layout.js';
import { type FileHit, type ImportantFile, filesHit, importantFiles } from './image/files-hit.js';
import { spaceTotals } from './repair/index.js';
import type { OpenedSource } from './source.js';
import { type ContainerInfo, containerOf } from '../device/vdisk/index.js';

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
  important: ImportantFile[];
  filesHit: FileHit[];
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
    blockSize: number;
    blocksCount: number;
    features: string[];
    state: 'clean' | 'errors' | 'not cleanly unmounted';
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
    lastMounted: string | null;
  };
  homeAssistant: { version: string | null; configPath: string | null; users: number | null; backups: number | null };
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

function fsState(state: number, needsRecovery: boolean): InfoResult['data']['state'] {
  if ((state & 2) !== 0) return 'errors';
  if ((state & 1) === 0 || needsRecovery) return 'not cleanly unmounted';
  return 'clean';
}

export async function info(source: OpenedSource): Promise<InfoResult> {
  const { discovery, volume, layout } = source;
  const sb = volume.sb;
  const labels = new Map(discovery.candidates.map((c) => [c.partitionIndex, c.label]));
  const ha = await summarize(source.fs, layout);
  const warnings = [...source.warnings, ...ha.problems];
  const space = spaceTotals(sb, sb.freeBlocksCount, sb.freeInodesCount);
  return {
    source: source.path,
    sizeBytes: source.device.sizeBytes,
    partitionTable: discovery.table.type,
    hybridMbr: discovery.table.hybrid ?? false,
    partitions: discovery.table.partitions.map((p) => ({
      index: p.index,
      name: p.name,
      offset: p.byteOffset,
      size: p.sizeBytes,
      label: labels.get(p.index) ?? null,
      truncated: p.truncated ?? false,
    })),
    data: {
      partitionIndex: discovery.chosen.partitionIndex,
      offset: discovery.chosen.byteOffset,
      size: discovery.chosen.sizeBytes,
      label: sb.label,
      kind: discovery.kind,
      reason: discovery.reason,
      foundBySearch: discovery.chosen.foundByScan === true,
      blockSize: sb.blockSize,
      blocksCount: sb.blocksCount,
      features: sb.features,
      state: fsState(sb.state, source.needsRecovery),
      needsRecovery: source.needsRecovery,
      journalReplayed: source.journal.replayed,
      journal: journalInfo(source),
      root: layout.supervisorPath ?? '/',
      uuid: uuidString(sb.uuid),
      lastMounted: sb.lastMounted || null,
    },
    homeAssistant: { version: ha.version, configPath: ha.configPath, users: ha.users, backups: ha.backups },
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

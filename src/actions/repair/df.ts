// `df`: what fills the data partition (issue 13). The totals come from the block and inode counts of the
// group descriptors (ext4/space.ts says why not the superblock's), the categories from one walk of the whole
// tree (df-walk.ts), by allocated size as `du` counts. "other" is the remainder, so the categories add up to
// the used bytes exactly; it holds the filesystem's own structures and the journal (metadataBytes), files
// outside the named places, and whatever damaged folders hid from the walk.

import { AppError } from '../../errors.js';
import { allocatedBytes, fixedMetadataBlocks, freeCounts } from '../../ext4/space.js';
import type { Ext4Volume } from '../../ext4/volume.js';
import type { ProgressListener } from '../progress.js';
import type { OpenedSource } from '../source.js';
import { type LargeFile, type Places, type Tally, type TreeUsage, type WalkProblem, placesOf, walkUsage } from './df-walk.js';
import { type SpaceTotals, spaceTotals } from './space.js';

export type { LargeFile, WalkProblem } from './df-walk.js';

export interface DiskCategory {
  /** database, backups, addon:<slug>, addons, docker, logs, media, share, config or other. */
  id: string;
  label: string;
  /** Folders, files or name patterns the category counts. */
  paths: string[];
  /** Allocated bytes (blocks times block size). */
  bytes: number;
  /** Regular files (each hard-linked file once). */
  files: number;
}

export interface DiskUsage extends SpaceTotals {
  source: string;
  label: string;
  /** Where the free counts come from: "group descriptors", or "superblock" when one could not be read. */
  countsFrom: 'group descriptors' | 'superblock';
  /**
   * Of "other": the filesystem's own structures (superblock copies, group descriptors and their reserve,
   * bitmaps, inode tables) and the journal. Null where it cannot be counted cheaply (bigalloc).
   */
  metadataBytes: number | null;
  /** Biggest first; they add up to usedBytes (unless the counts are out of date, which `problems` then says). */
  categories: DiskCategory[];
  /** The largest regular files anywhere, by allocated bytes. */
  largestFiles: LargeFile[];
  /** Folders or entries that could not be read: what they hold is counted in "other". */
  problems: WalkProblem[];
  warnings: string[];
}

export interface DiskUsageOptions {
  onProgress?: ProgressListener;
}

/** The recorder database and its SQLite companions in the config folder, whether they exist or not. */
export function recorderDatabasePaths(config: string | null): string[] {
  return config ? ['', '-wal', '-shm'].map((s) => `${config}/home-assistant_v2.db${s}`) : [];
}

const FIXED: Array<{ id: string; label: string; paths: (p: Places) => string[] }> = [
  { id: 'database', label: 'recorder database (history)', paths: (p) => recorderDatabasePaths(p.config) },
  { id: 'backups', label: 'backups', paths: (p) => p.backups },
  { id: 'addons', label: 'add-on repositories and local add-ons', paths: (p) => p.addonRoots },
  { id: 'docker', label: 'Docker images and containers', paths: (p) => p.docker },
  { id: 'system-logs', label: 'system logs (journald, /logs)', paths: (p) => p.systemLogs },
  { id: 'logs', label: 'Home Assistant logs', paths: (p) => (p.config ? ['*.log', '*.log.N', '*.log.fault'].map((n) => `${p.config}/${n}`) : []) },
  { id: 'media', label: 'media folder', paths: (p) => (p.media ? [p.media] : []) },
  { id: 'share', label: 'share folder', paths: (p) => (p.share ? [p.share] : []) },
  { id: 'config', label: 'configuration (the rest of it)', paths: (p) => (p.config ? [p.config] : []) },
];

export async function diskUsage(src: OpenedSource, options: DiskUsageOptions = {}): Promise<DiskUsage> {
  const vol = src.volume;
  const counts = await freeCounts(vol);
  const totals = spaceTotals(vol.sb, counts.freeBlocks, counts.freeInodes);
  const metadataBytes = await metadataAndJournal(vol);
  const places = placesOf(src.layout);
  const tree = await walkUsage(vol, places, {
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    totalBytes: totals.usedBytes - (metadataBytes ?? 0),
  });
  const problems = [...(counts.problem ? [{ path: '/', reason: counts.problem }] : []), ...tree.problems];
  const categories = categoriesOf(places, tree);
  const other = categories.find((c) => c.id === 'other')!;
  const named = categories.reduce((sum, c) => sum + (c.id === 'other' ? 0 : c.bytes), 0);
  other.bytes = totals.usedBytes - named;
  if (other.bytes < 0) {
    problems.push({
      path: '/',
      reason: `the files counted take ${-other.bytes} bytes more than the blocks marked used: the block counts are out of date${src.journal.replayed || !src.needsRecovery ? '' : ' (the journal was not replayed)'}`,
    });
    other.bytes = 0;
  }
  categories.sort((a, b) => b.bytes - a.bytes || a.id.localeCompare(b.id));
  return {
    source: src.path,
    label: vol.sb.label,
    ...totals,
    countsFrom: counts.from,
    metadataBytes,
    categories,
    largestFiles: tree.largestFiles,
    problems,
    warnings: src.warnings,
  };
}

function categoriesOf(places: Places, tree: TreeUsage): DiskCategory[] {
  const get = (id: string): Tally => tree.tallies.get(id) ?? { bytes: 0, files: 0 };
  const out: DiskCategory[] = FIXED.map((f) => ({ id: f.id, label: f.label, paths: f.paths(places), ...get(f.id) }));
  for (const [id, path] of tree.addonPaths) {
    out.push({ id, label: `add-on ${id.slice('addon:'.length)} (its data)`, paths: [path], ...get(id) });
  }
  out.push({ id: 'other', label: 'everything else (system, metadata, journal)', paths: ['/'], bytes: 0, files: get('other').files });
  return out;
}

/** The fixed structures plus the journal inode's blocks, or null when not countable cheaply. */
async function metadataAndJournal(vol: Ext4Volume): Promise<number | null> {
  const fixed = fixedMetadataBlocks(vol.sb);
  if (fixed === null) return null;
  let journal = 0;
  if (vol.sb.journalInum !== 0 && vol.sb.journalDev === 0) {
    try {
      journal = allocatedBytes(vol.sb, await vol.readInode(vol.sb.journalInum));
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      return null;
    }
  }
  return fixed * vol.sb.blockSize + journal;
}

// The walk behind `df`: every inode reachable from the root, read once (inodes and folders only, never a
// file's data), its allocated size added to the category its path falls in, as `du` counts (hard-linked
// files once, a shared extended attribute block once). Folders that cannot be read are listed and the walk
// goes on; what they held stays in the remainder that `df` calls "other".

import { AppError } from '../../errors.js';
import type { FileKind, Inode } from '../../ext4/inode.js';
import { displayName } from '../../ext4/path.js';
import { allocatedBytes } from '../../ext4/space.js';
import { ROOT_INO, type Ext4Volume } from '../../ext4/volume.js';
import { walk } from '../../ext4/walk.js';
import type { HaLayout } from '../../ha/layout.js';
import { type ProgressListener, ProgressMeter } from '../progress.js';

/** The recorder database and its SQLite companions, directly in the config folder. */
const DB_FILE = /^home-assistant_v\d+\.db(-wal|-shm)?$/;
/** Home Assistant's log, its rotated copies (.1, .2, ...; .old before 2023.12) and the crash log (.fault). */
const LOG_FILE = /\.log(\.\d+|\.old|\.fault)?$/;
const LARGEST_FILES = 10;

/** Where each category lives, from the layout; null when the layout has no such place. */
export interface Places {
  config: string | null;
  backups: string[];
  /** addons/ and apps/ (newer Supervisor name) folders: repositories, local add-ons, and data/<slug>. */
  addonRoots: string[];
  addonData: string[];
  docker: string[];
  /** journald's files (the system's logs, Home Assistant's among them). */
  systemLogs: string[];
  media: string | null;
  share: string | null;
}

export function placesOf(layout: HaLayout): Places {
  const sup = layout.supervisorPath;
  return {
    config: layout.configPath,
    backups: layout.backupPaths,
    addonRoots: sup ? [`${sup}/addons`, `${sup}/apps`] : [],
    addonData: sup ? [`${sup}/addons/data`, `${sup}/apps/data`] : [],
    // Home Assistant OS keeps Docker's data at the data partition's root; a Supervised root in /var/lib.
    docker: layout.kind === 'supervised' ? ['/docker', '/var/lib/docker'] : ['/docker'],
    systemLogs: layout.logPaths,
    media: sup ? `${sup}/media` : null,
    share: sup ? `${sup}/share` : null,
  };
}

const under = (path: string, dir: string): boolean => path === dir || path.startsWith(`${dir}/`);

/**
 * The category of an entry by its path (absolute, bytes read as latin1 so ASCII prefixes compare exactly):
 * "database", "backups", "addon:<slug>", "addons", "docker", "system-logs", "logs", "media", "share", "config"
 * or "other".
 * Backups come first: Home Assistant's own backups folder is inside the config folder.
 */
export function classify(p: Places, path: string, kind: FileKind): string {
  for (const dir of p.backups) if (under(path, dir)) return 'backups';
  if (p.config !== null && under(path, p.config)) {
    const name = path.slice(p.config.length + 1);
    if (kind === 'file' && name !== '' && !name.includes('/')) {
      if (DB_FILE.test(name)) return 'database';
      if (LOG_FILE.test(name)) return 'logs';
    }
    return 'config';
  }
  for (const dir of p.addonData) {
    if (!path.startsWith(`${dir}/`)) continue;
    const rest = path.slice(dir.length + 1);
    const slash = rest.indexOf('/');
    // A file lying directly in data/ belongs to no add-on.
    if (slash >= 0 || kind === 'dir') return `addon:${displayName(Buffer.from(slash >= 0 ? rest.slice(0, slash) : rest, 'latin1'))}`;
  }
  for (const dir of p.addonRoots) if (under(path, dir)) return 'addons';
  for (const dir of p.docker) if (under(path, dir)) return 'docker';
  for (const dir of p.systemLogs) if (under(path, dir)) return 'system-logs';
  if (p.media !== null && under(path, p.media)) return 'media';
  if (p.share !== null && under(path, p.share)) return 'share';
  return 'other';
}

export interface Tally {
  bytes: number;
  files: number;
}

export interface LargeFile {
  path: string;
  /** Allocated on the card (a sparse file less than its size, a small file a whole block). */
  bytes: number;
  size: number;
}

export interface WalkProblem {
  path: string;
  reason: string;
}

export interface TreeUsage {
  /** By category id; "other" holds what the walk found outside the named places (and the root folder). */
  tallies: Map<string, Tally>;
  /** The folder of each add-on category ("addon:<slug>"), in the order found. */
  addonPaths: Map<string, string>;
  largestFiles: LargeFile[];
  problems: WalkProblem[];
  /** Allocated bytes of everything walked. */
  walkedBytes: number;
}

/** The add-on folder (…/data/<slug>) an entry of an add-on category is in, for display. */
function addonFolder(p: Places, path: string): string {
  const dir = p.addonData.find((d) => path.startsWith(`${d}/`))!;
  const slash = path.indexOf('/', dir.length + 1);
  return displayName(Buffer.from(slash < 0 ? path : path.slice(0, slash), 'latin1'));
}

/** Keeps the `max` biggest by allocated bytes (then by size), biggest first; the path is made only for those. */
function keepLargest(list: LargeFile[], bytes: number, size: number, path: () => string, max: number): void {
  const bigger = (a: { bytes: number; size: number }, b: LargeFile): boolean => a.bytes > b.bytes || (a.bytes === b.bytes && a.size > b.size);
  if (list.length === max && !bigger({ bytes, size }, list[max - 1]!)) return;
  let i = list.length;
  while (i > 0 && bigger({ bytes, size }, list[i - 1]!)) i--;
  list.splice(i, 0, { path: path(), bytes, size });
  if (list.length > max) list.pop();
}

/** Walks the whole filesystem from its root, counting every reachable inode once. */
export async function walkUsage(vol: Ext4Volume, places: Places, options: { onProgress?: ProgressListener; totalBytes?: number } = {}): Promise<TreeUsage> {
  const usage: TreeUsage = { tallies: new Map(), addonPaths: new Map(), largestFiles: [], problems: [], walkedBytes: 0 };
  const problem = (path: string, err: AppError): void => void usage.problems.push({ path, reason: err.message });
  let root: Inode;
  try {
    root = await vol.readInode(ROOT_INO);
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    problem('/', err);
    return usage;
  }
  const meter = new ProgressMeter(options.onProgress, options.totalBytes ?? null);
  const seenLinks = new Set<number>();
  const xattrBlocks = new Set<number>();
  const add = (category: string, inode: Inode): number => {
    let bytes = allocatedBytes(vol.sb, inode);
    // i_blocks counts an extended attribute block in every inode that shares it: count it once.
    if (inode.fileAcl !== 0 && bytes >= vol.sb.blockSize) {
      if (xattrBlocks.has(inode.fileAcl)) bytes -= vol.sb.blockSize;
      else xattrBlocks.add(inode.fileAcl);
    }
    const t = usage.tallies.get(category) ?? { bytes: 0, files: 0 };
    t.bytes += bytes;
    if (inode.kind === 'file') t.files++;
    usage.tallies.set(category, t);
    usage.walkedBytes += bytes;
    meter.bytes = usage.walkedBytes;
    return bytes;
  };
  add('other', root);
  const onError = (path: Buffer, err: AppError): void => problem(`/${displayName(path)}`, err);
  for await (const { path, inode } of walk(vol, root, { onError })) {
    if (inode.kind !== 'dir' && inode.linksCount > 1) {
      if (seenLinks.has(inode.ino)) continue;
      seenLinks.add(inode.ino);
    }
    const absolute = `/${path.toString('latin1')}`;
    const category = classify(places, absolute, inode.kind);
    if (category.startsWith('addon:') && !usage.addonPaths.has(category)) usage.addonPaths.set(category, addonFolder(places, absolute));
    const bytes = add(category, inode);
    if (inode.kind === 'file') {
      keepLargest(usage.largestFiles, bytes, inode.sizeBytes, () => `/${displayName(path)}`, LARGEST_FILES);
      meter.files++;
      meter.tick();
    }
  }
  meter.tick(true);
  return usage;
}

// Finds the journal files in the log folder: journald keeps them in one folder per machine id
// (/logs/<machine-id>/system.journal, system@....journal when archived, ....journal~ when set aside dirty).

import { AppError } from '../../errors.js';
import { FileType, isDotOrDotDot } from '../../ext4/dir.js';
import type { Inode } from '../../ext4/inode.js';
import { displayName } from '../../ext4/path.js';
import type { Ext4Volume } from '../../ext4/volume.js';
import { allocatedBytes } from '../../ext4/space.js';
import { type JournalHeader, readJournalHeader } from '../../systemd/journal-file.js';

export interface JournalFileRef {
  path: string;
  /** null when the file's inode cannot be read. */
  inode: Inode | null;
  /** null when the file does not start as a journal file (`problem` says why). */
  header: JournalHeader | null;
  problem: string | null;
}

/** Bytes read to learn a file's header (systemd's header is 272 bytes today). */
const HEADER_READ = 4096;
/** Folders and files looked at, at most: a damaged folder cannot make the search endless. */
const MAX_FILES = 10_000;

/** The first of `folders` that exists, with its journal files, newest last entry first; null when none exists. */
export async function findJournalFiles(vol: Ext4Volume, folders: string[]): Promise<{ folder: string; files: JournalFileRef[] } | null> {
  for (const folder of folders) {
    let root: Inode;
    try {
      root = await vol.lookup(folder, { followFinal: true });
    } catch (err) {
      if (err instanceof AppError && err.exitCode === 66) continue;
      throw err;
    }
    if (root.kind !== 'dir') continue;
    const files: JournalFileRef[] = [];
    await collect(vol, root, folder, 0, files);
    files.sort((a, b) => (b.header?.tailRealtimeUs ?? -1) - (a.header?.tailRealtimeUs ?? -1) || a.path.localeCompare(b.path));
    return { folder, files };
  }
  return null;
}

async function collect(vol: Ext4Volume, dir: Inode, path: string, depth: number, out: JournalFileRef[]): Promise<void> {
  for (const e of await vol.readDir(dir)) {
    if (isDotOrDotDot(e.name) || out.length >= MAX_FILES) continue;
    const name = displayName(e.name);
    const child = `${path}/${name}`;
    if (e.fileType === FileType.DIR && depth === 0) {
      try {
        await collect(vol, await vol.readInode(e.ino), child, depth + 1, out);
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        out.push({ path: child, inode: null, header: null, problem: `this folder cannot be read, so the log files in it are missing: ${err.message}` });
      }
    } else if (name.endsWith('.journal') || name.endsWith('.journal~')) {
      out.push(await fileRef(vol, e.ino, child));
    }
  }
}

async function fileRef(vol: Ext4Volume, ino: number, path: string): Promise<JournalFileRef> {
  let inode: Inode;
  try {
    inode = await vol.readInode(ino);
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    return { path, inode: null, header: null, problem: err.message };
  }
  if (inode.kind !== 'file') return { path, inode, header: null, problem: 'not a regular file' };
  try {
    const head = await vol.readFile(inode, 0, Math.min(HEADER_READ, inode.sizeBytes));
    return { path, inode, header: readJournalHeader(head, inode.sizeBytes), problem: null };
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    return { path, inode, header: null, problem: err.message };
  }
}

/**
 * A file journald closed and set aside (`system@….journal`, `user-1000@….journal`, `….journal~`): it wrote
 * newer ones since. The files it writes to (`system.journal`, `user-N.journal`) are not.
 */
export function isArchivedJournal(path: string): boolean {
  const name = path.slice(path.lastIndexOf('/') + 1);
  return name.endsWith('.journal~') || /@[^/]*\.journal$/.test(name);
}

/** An archived journal file: the room it takes, and the times of its first and last lines (0: not known). */
export interface OldLogFile {
  path: string;
  allocatedBytes: number;
  firstUs: number;
  lastUs: number;
}

/** The archived journal files in the log folder, oldest last entry first, with the room each takes. */
export async function oldLogFiles(vol: Ext4Volume, folders: string[]): Promise<OldLogFile[]> {
  const found = await findJournalFiles(vol, folders);
  if (found === null) return [];
  return found.files
    .filter((f) => f.inode !== null && isArchivedJournal(f.path))
    .reverse()
    .map((f) => ({ path: f.path, allocatedBytes: allocatedBytes(vol.sb, f.inode!), firstUs: f.header?.headRealtimeUs ?? 0, lastUs: f.header?.tailRealtimeUs ?? 0 }));
}

/** "from 2026-09-01 to 2026-11-20" (UTC days, from the files' headers), or null when no time is recorded. */
export function oldLogsSpan(files: OldLogFile[]): string | null {
  const day = (us: number): string | null => (us > 0 && us < 253_402_300_800e6 ? new Date(Math.floor(us / 1000)).toISOString().slice(0, 10) : null);
  const days = files.flatMap((f) => [day(f.firstUs), day(f.lastUs)]).filter((d): d is string => d !== null).sort();
  if (days.length === 0) return null;
  return days[0] === days.at(-1) ? `of ${days[0]}` : `from ${days[0]} to ${days.at(-1)}`;
}

// The originals of the files a change replaces or removes, saved to a folder on this computer, and synced
// to its disk, before the card is written. A save that fails or is stopped (a full disk, Ctrl-C) takes back the copies it made:
// a half-filled folder without its manifest was refused by the next run as "already holds saved
// originals", and looked like a complete save.

import { open, rm, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AppError, IoError, UsageError } from '../../errors.js';
import { isMediumError } from '../../device/map-os-error.js';
import { dataRanges } from '../../ext4/file-data.js';
import type { Inode } from '../../ext4/inode.js';
import type { Ext4Volume } from '../../ext4/volume.js';
import { displayName } from '../../ext4/path.js';
import { safeComponent } from '../export/names.js';
import { walk } from '../../ext4/walk.js';
import { withInterruptCleanup } from '../critical.js';
import { makeOutputFolder } from '../output-error.js';
import type { OpenedSource } from '../source.js';
import { type Change, isTree } from './change.js';

/** What one save made, to take back. */
interface Made {
  folder: boolean;
  files: string[];
}

/** Saves the originals of what `changes` replace or remove into `dir`; false (no folder made) when there are none. */
export async function saveOriginals(src: OpenedSource, changes: Change[], dir: string): Promise<boolean> {
  const files = await originalsOf(src, changes);
  if (files.length === 0) return false;
  const made: Made = { folder: !(await stat(dir).catch(() => null)), files: [] };
  const takeBack = async (): Promise<string> => {
    await removeMade(dir, made);
    return `the copies of the originals were taken back from ${dir}; nothing was written to the card`;
  };
  try {
    await withInterruptCleanup(takeBack, () => writeOriginals(dir, src.path, files, src.volume, made));
    return true;
  } catch (err) {
    await removeMade(dir, made).catch(() => undefined);
    // The folder's own creation reports an AppError carrying the system's code (errno) when it has one.
    // A file the card cannot give (a bad sector, a part of an image not rescued): no folder helps. It was said
    // as this computer's folder failing, with "choose a writable folder".
    if (isMediumError(err) || (err instanceof IoError && (err.code === 'NOT_RESCUED' || err.code === 'READ_BEYOND_END'))) {
      throw new IoError('ORIGINALS_UNREADABLE', `cannot save the original files: the card could not give their bytes (${(err as Error).message})`, {
        hint: 'what the card cannot give is lost either way: leave the copies out to go on; nothing was written to the card',
        remedy: 'originals-or-none',
        cause: err,
      }, 65);
    }
    const code = err instanceof AppError ? ((err.details.errno as string | undefined) ?? err.code) : (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new UsageError('ORIGINALS_EXIST', `${dir} already holds saved originals`, { hint: 'choose another folder for them; nothing was written to the card', remedy: 'originals-dir' });
    if (typeof code === 'string') throw new IoError('ORIGINALS_NOT_SAVED', `cannot save the original files to ${dir}: ${(err as Error).message}`, code === 'ENOSPC' ? { hint: 'choose a folder with room for the copies, or leave them out; nothing was written to the card', remedy: 'originals-or-none' } : { hint: 'choose a writable folder for them; nothing was written to the card', remedy: 'originals-dir' });
    throw err;
  }
}

/** Removes the files a save made, and its folder when the save made it (and nothing else is in it). */
async function removeMade(dir: string, made: Made): Promise<void> {
  for (const file of made.files.splice(0)) await rm(file, { force: true });
  if (made.folder) await rmdir(dir).catch(() => undefined);
}

/**
 * One file's bytes into a new file at `out` (made with 'wx': counted as ours once made), streamed (a removed
 * recorder database can be gigabytes), its holes left out and its size set at the end: a sparse 6 GiB file
 * holding 1 GiB took 6 GiB on this computer.
 */
async function saveFile(vol: Ext4Volume, inode: Inode, out: string, made: Made): Promise<void> {
  const fh = await open(out, 'wx');
  made.files.push(out);
  try {
    for (const [start, end] of dataRanges(await vol.layout(inode))) {
      let at = start;
      for await (const piece of vol.stream(inode, start, end)) {
        for (let done = 0; done < piece.length; ) done += (await fh.write(piece, done, piece.length - done, at + done)).bytesWritten;
        at += piece.length;
      }
    }
    await fh.truncate(inode.sizeBytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** The files a change replaces or removes, as they are on the card now (a created file has none). */
async function originalsOf(src: OpenedSource, changes: Change[]): Promise<Array<{ path: string; inode: Inode }>> {
  const files: Array<{ path: string; inode: Inode }> = [];
  for (const c of changes) {
    if (isTree(c) && c.originals === false) continue;
    // One that is removed is saved like a rewritten one, and a folder that is removed file by file.
    const inode = await src.volume.lookup(c.path).catch(() => null);
    if (!inode) continue;
    // A symbolic link is kept as its target, in the manifest: a link removed lost where it pointed.
    if (inode.kind === 'file' || inode.kind === 'symlink') files.push({ path: c.path, inode });
    if (inode.kind === 'dir') {
      for await (const e of walk(src.volume, inode, { sorted: true })) {
        if (e.inode.kind === 'file' || e.inode.kind === 'symlink') files.push({ path: `${c.path}/${displayName(e.path)}`, inode: e.inode });
      }
    }
  }
  return files;
}

/** Longest saved name: under the 255 bytes of a name on every disk this computer may have. */
const MAX_SAVED_NAME = 240;

/**
 * The name a file is saved under: its path with '__' for '/'; one that is too long (a deep custom integration:
 * ENAMETOOLONG stopped the whole change) or already taken (d/x__y and d/x/y, or two names that differ only in
 * case, one file on Windows and macOS disks: EEXIST was said as "already holds saved originals") is its
 * number and its own name instead. The manifest keeps each one's true path.
 */
function savedName(path: string, index: number, taken: Set<string>): string {
  const flat = windowsSafe(path.split('/').filter(Boolean).join('__'));
  let name = flat;
  if (Buffer.byteLength(flat) > MAX_SAVED_NAME || taken.has(flat.toLowerCase())) {
    let own = windowsSafe(path.slice(path.lastIndexOf('/') + 1));
    while (Buffer.byteLength(own) > MAX_SAVED_NAME - 16) own = own.slice(0, -1);
    name = `${index + 1}__${own}`;
    for (let n = 2; taken.has(name.toLowerCase()); n++) name = `${index + 1}-${n}__${own}`;
  }
  taken.add(name.toLowerCase());
  return name;
}

/** A name every disk of this computer takes: export's rules for a Windows name ('\' comes with the \xNN of a name that is not UTF-8). */
function windowsSafe(name: string): string {
  return safeComponent(Buffer.from(name, 'utf8'), true).name.toString('utf8');
}

/** Saves the originals into `dir` (names are the paths with '__' for '/', bytes kept as they are). */
async function writeOriginals(dir: string, source: string, files: Array<{ path: string; inode: Inode }>, vol: Ext4Volume, made: Made): Promise<void> {
  await makeOutputFolder(dir);
  const manifest: Array<{ path: string; savedAs: string; sizeBytes: number } | { path: string; symlinkTo: string }> = [];
  const taken = new Set<string>(['manifest.json']);
  for (const [i, f] of files.entries()) {
    if (f.inode.kind === 'symlink') {
      manifest.push({ path: f.path, symlinkTo: displayName(await vol.readLink(f.inode)) });
      continue;
    }
    const name = savedName(f.path, i, taken);
    await saveFile(vol, f.inode, join(dir, name), made);
    manifest.push({ path: f.path, savedAs: name, sizeBytes: f.inode.sizeBytes });
  }
  const manifestPath = join(dir, 'manifest.json');
  const handle = await open(manifestPath, 'wx');
  made.files.push(manifestPath);
  try {
    await handle.writeFile(`${JSON.stringify({ source, savedAt: new Date().toISOString(), files: manifest }, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await syncFolder(dir);
}

/**
 * The folder's entries on this computer's disk too: a power cut after the card was changed must not take the
 * copies with it (the card's write is synced; the copies sat in the page cache). Windows cannot open a folder
 * to sync it (its entries are written through).
 */
async function syncFolder(dir: string): Promise<void> {
  const handle = await open(dir, 'r').catch((err: NodeJS.ErrnoException) => {
    if (process.platform === 'win32' || err.code === 'EISDIR' || err.code === 'EPERM') return null;
    throw err;
  });
  if (!handle) return;
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

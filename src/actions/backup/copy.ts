// `backup extract`: copies backup tars off the card, hashing while reading and checking the size, never
// overwriting an existing file without --force (a copy an earlier run made is kept, not read again), after
// checking the free space. Each file is written under
// a temporary name and renamed when complete; a file that cannot be read is reported and the rest go on.
// Reading, hashing and writing overlap (copy/index.ts).

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Inode, Timestamp } from '../../ext4/inode.js';
import { unfinishedFile } from '../critical.js';
import { isMediumError } from '../../device/map-os-error.js';
import { AppError, ExitCode, NotFoundError, RefusedError, UsageError } from '../../errors.js';
import { copyFileOut } from '../copy/index.js';
import { type BackupEntry, listBackups, slugsHint } from './list.js';
import type { OpenedSource } from '../source.js';
import { makeOutputFolder, outputError } from '../output-error.js';
import { assertOutputOffSource } from '../host-mounts.js';
import { FORMATS_WITHOUT_LIMIT, freeBytes, sizeChecker, tooBigText } from '../output-fs.js';
import { type ProgressListener, ProgressMeter } from '../progress.js';
import { formatBytes } from '../../units.js';

export interface ExtractOptions {
  outDir: string;
  /** Only these slugs (default: every file in the backup folders). */
  slugs?: string[];
  force?: boolean;
  /** Bytes and backups copied so far against the totals; at most every 200 ms and once at the end. */
  onProgress?: ProgressListener;
}

export interface ExtractResult {
  outDir: string;
  /** unusable: why Home Assistant cannot restore it (empty, damaged, not a backup), copied as it is. */
  /** earlier: copied by an earlier run into this folder (same size and time as on the card), kept, not read again. */
  extracted: Array<{ path: string; out: string; slug: string | null; size: number; sha256: string; unusable?: string; earlier?: true }>;
  /** `tooBig`: not read, bigger than the output's disk holds in one file (FAT32: 4 GiB). */
  /** cardRead: the card refused a read of it (a bad sector), not this computer's side. */
  /** `slug`: of a backup the card could not give whole, whose files before the unreadable part can still be unpacked. */
  failed: Array<{ path: string; reason: string; tooBig?: true; hint?: string; cardRead?: true; slug?: string }>;
  /** Unfinished copies a killed run left beside these files, removed. */
  leftovers?: string[];
}

function select(list: BackupEntry[], slugs: string[] | undefined): BackupEntry[] {
  if (!slugs || slugs.length === 0) return list;
  // By slug, or by file name or path as the listing shows it (as `backup ls` takes it too).
  const named = (b: BackupEntry, s: string): boolean => b.slug === s || b.file === s || b.path === s;
  for (const s of slugs) {
    if (!list.some((b) => named(b, s))) {
      throw new NotFoundError('BACKUP_NOT_FOUND', `no backup with slug ${s} on this card`, { hint: slugsHint(list), remedy: 'list-backups' });
    }
  }
  return list.filter((b) => slugs.some((s) => named(b, s)));
}

/** A card with no backups: a backup can be made from its configuration, when it has one. */
async function noBackups(src: OpenedSource): Promise<NotFoundError> {
  const message = 'there are no backups on this card (its backup folder holds none); nothing was copied';
  const config = src.layout.configPath;
  if (config !== null && (await src.volume.exists(config).catch(() => false))) {
    return new NotFoundError('NO_BACKUPS', message, { hint: 'a backup Home Assistant can restore can be made from the configuration on the card', remedy: 'make-backup' });
  }
  return new NotFoundError('NO_BACKUPS', message, { hint: 'it holds no Home Assistant configuration either: is it the right disk or partition? The list of disks says which hold Home Assistant data', remedy: 'list-disks' });
}

/**
 * Output file names: the card's name, or with the folder prepended when two folders share a name; any name
 * still taken after that (a prefixed name that is another backup's own, or one that differs only in case,
 * which Windows and macOS disks hold as the same file) gets -2, -3… before its extension. Two backups must
 * never be written to one file.
 */
export function outNames(chosen: Array<{ file: string; location: string }>): string[] {
  const lower = (name: string): string => name.toLowerCase();
  const seen = new Map<string, number>();
  for (const b of chosen) seen.set(b.file, (seen.get(b.file) ?? 0) + 1);
  const taken = new Set<string>();
  return chosen.map((b) => {
    const wanted = seen.get(b.file)! > 1 ? `${b.location.split('/').filter(Boolean).join('_')}_${basename(b.file)}` : basename(b.file);
    const dot = wanted.lastIndexOf('.');
    const [stem, ext] = dot > 0 ? [wanted.slice(0, dot), wanted.slice(dot)] : [wanted, ''];
    let name = wanted;
    for (let n = 2; taken.has(lower(name)); n++) name = `${stem}-${n}${ext}`;
    taken.add(lower(name));
    return name;
  });
}

async function checkSpace(dir: string, needed: number): Promise<void> {
  const free = await freeBytes(dir);
  // A disk that does not say how much room it has (some FUSE ones, a share): the copy tries.
  if (free === null) return;
  // Room for the file system's own bookkeeping: 1/64 of the copy, from 1 MiB up to 16 MiB.
  const margin = Math.min(16 * 1024 * 1024, Math.max(1024 * 1024, Math.ceil(needed / 64)));
  if (free < needed + margin) {
    throw new RefusedError('NOT_ENOUGH_SPACE', `${dir} has ${formatBytes(free)} free; the backups are ${formatBytes(needed)}, and the disk takes up to ${formatBytes(margin)} more for its own bookkeeping`, {
      hint: 'choose a folder on a disk with more room, or fewer backups; nothing was copied',
      remedy: 'choose-backups',
      details: { freeBytes: free, neededBytes: needed },
    });
  }
}

async function copyOne(src: OpenedSource, b: BackupEntry, out: string, force: boolean, meter: ProgressMeter): Promise<{ size: number; sha256: string }> {
  const inode = await src.volume.lookup(b.path);
  const partial = `${out}.partial-${process.pid}`;
  const fh = await open(partial, 'wx');
  const forget = unfinishedFile(partial);
  try {
    return await copyInto(src, b, inode, fh, { partial, out, force }, meter);
  } finally {
    forget();
  }
}

async function copyInto(src: OpenedSource, b: BackupEntry, inode: Inode, fh: FileHandle, o: { partial: string; out: string; force: boolean }, meter: ProgressMeter): Promise<{ size: number; sha256: string }> {
  const { partial, out, force } = o;
  const hash = createHash('sha256');
  let size: number;
  try {
    size = await copyFileOut(src.volume, inode, fh, (piece) => {
      hash.update(piece);
      meter.addBytes(piece.length);
    });
  } catch (err) {
    await fh.close();
    await rm(partial, { force: true });
    throw err;
  }
  // The card's times, set before the file gets its name: a run again after an interruption knows it by them.
  await fh.utimes(seconds(inode.atime), seconds(inode.mtime)).catch(() => undefined);
  await fh.close();
  if (size !== inode.sizeBytes) {
    await rm(partial, { force: true });
    throw new AppError('SIZE_MISMATCH', 65, `${b.path}: copied ${size} bytes, the card says ${inode.sizeBytes}`);
  }
  if (!force && (await stat(out).catch(() => null))) {
    await rm(partial, { force: true });
    throw new UsageError('OUTPUT_EXISTS', `${out} already exists`, { hint: 'choose another folder, or replace the file', remedy: 'force' });
  }
  await rename(partial, out).catch(async (err: unknown) => {
    // A folder of that name in the way: the copy is not left behind under its unfinished name.
    await rm(partial, { force: true });
    throw err;
  });
  return { size, sha256: hash.digest('hex') };
}

const seconds = (t: Timestamp): number => t.seconds + t.nanoseconds / 1e9;

/**
 * A copy an earlier run of this finished into the folder (an interrupted run, run again): the same size and
 * modification time as the card's file (within 2 s, as FAT keeps times). A run again said "already exists, add
 * --force", and --force read every backup off the card again, a failing card too.
 */
async function earlierCopy(src: OpenedSource, b: BackupEntry, out: string): Promise<boolean> {
  const st = await stat(out).catch(() => null);
  if (!st?.isFile()) return false;
  const inode = await src.volume.lookup(b.path).catch(() => null);
  if (inode === null || inode.sizeBytes !== st.size) return false;
  return Math.abs(st.mtimeMs - seconds(inode.mtime) * 1000) < 2000;
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Which backups an earlier run copied (kept), and the refusal for any other file in the way (without --force). */
async function copiedBefore(src: OpenedSource, chosen: BackupEntry[], outs: string[], force: boolean): Promise<boolean[]> {
  const earlier: boolean[] = [];
  for (let i = 0; i < chosen.length; i++) {
    const out = outs[i]!;
    earlier.push(!force && await earlierCopy(src, chosen[i]!, out));
    if (!force && !earlier[i] && (await stat(out).catch(() => null))) {
      throw new UsageError('OUTPUT_EXISTS', `${out} already exists, and is not a copy of the card's ${chosen[i]!.file} (its size or time differs)`, { hint: 'choose another folder, or replace the file; nothing was copied', remedy: 'force' });
    }
  }
  return earlier;
}

/**
 * The unfinished copies (NAME.partial-PID) a run that was killed left beside the files it copies to, where that
 * process is gone: removed, and returned to be said (they stayed, taking the disk's room, unsaid).
 */
async function removeLeftovers(outs: string[]): Promise<string[]> {
  const removed: string[] = [];
  for (const out of outs) {
    const dir = dirname(out);
    const prefix = `${basename(out)}.partial-`;
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const pid = name.startsWith(prefix) ? Number(name.slice(prefix.length)) : NaN;
      if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid || processAlive(pid)) continue;
      if (await unlink(join(dir, name)).then(() => true, () => false)) removed.push(join(dir, name));
    }
  }
  return removed;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function extractBackups(src: OpenedSource, opts: ExtractOptions): Promise<ExtractResult> {
  const all = await listBackups(src);
  // Said before any folder is made (it made an empty one, and said "0 backup(s) copied", exit 0).
  if (all.length === 0) throw await noBackups(src);
  const chosen = select(all, opts.slugs);
  const outDir = resolve(opts.outDir);
  // Named among all the card's backups, chosen or not: two runs with --slug into one folder gave two backups
  // of one name (in two folders of the card) the same file, the second refused as "exists (add --force)".
  const names = outNames(all);
  const outs = chosen.map((b) => join(outDir, names[all.indexOf(b)]!));
  await assertOutputOffSource(src.path, [outDir, ...outs]);
  const earlier = await copiedBefore(src, chosen, outs, opts.force ?? false);
  const result: ExtractResult = { outDir, extracted: [], failed: [] };
  // A backup bigger than the output's disk holds in one file (FAT32) is listed, not read: the others are copied.
  const tooBig = sizeChecker(outDir);
  const fits: boolean[] = [];
  for (const [i, b] of chosen.entries()) {
    const limit = earlier[i] ? null : await tooBig(b.size);
    if (limit) result.failed.push({ path: b.path, reason: `${tooBigText('it', b.size, outDir, limit)}: not copied (${FORMATS_WITHOUT_LIMIT})`, tooBig: true });
    fits.push(limit === null);
  }
  const copied = chosen.filter((_, i) => fits[i] && !earlier[i]);
  result.leftovers = await removeLeftovers(outs);
  await checkSpace(outDir, copied.reduce((n, b) => n + b.size, 0));
  // Made once the copy can go ahead: a refusal above leaves no empty folder behind.
  await makeOutputFolder(outDir);
  const meter = new ProgressMeter(opts.onProgress, copied.reduce((n, b) => n + b.size, 0), copied.length);
  for (let i = 0; i < chosen.length; i++) {
    const b = chosen[i]!;
    if (!fits[i]) continue;
    const out = outs[i]!;
    const unusable = b.error ?? b.damaged;
    if (earlier[i]) {
      result.extracted.push({ path: b.path, out, slug: b.slug ?? null, size: b.size, sha256: await sha256Of(out), ...(unusable !== undefined ? { unusable } : {}), earlier: true });
      continue;
    }
    try {
      const copied = await copyOne(src, b, out, opts.force ?? false, meter);
      result.extracted.push({ path: b.path, out, slug: b.slug ?? null, ...copied, ...(unusable !== undefined ? { unusable } : {}) });
    } catch (err) {
      if (!(err instanceof AppError)) throw outputError(err, outDir);
      // An existing output or an interruption (Stop, Ctrl-C) ends the whole run, not one backup.
      if (err.code === 'OUTPUT_EXISTS' || err.exitCode === ExitCode.INTERRUPTED) throw err;
      // Bytes the card (or the image's map) does not give: the files of the backup before them still can be.
      const unreadable = isMediumError(err) || err.exitCode === ExitCode.CORRUPT;
      result.failed.push({ path: b.path, reason: err.message, ...(err.hint ? { hint: err.hint } : {}), ...(isMediumError(err) ? { cardRead: true as const } : {}), ...(unreadable && b.slug ? { slug: b.slug } : {}) });
    }
    meter.addFile();
  }
  meter.tick(true);
  return result;
}

/**
 * What a copy of the backups copied, in words every front end shows: the backups, and apart from them the
 * files in the backup folders Home Assistant cannot restore (an empty one, a damaged one, a foreign .tar),
 * copied as they are. They were counted as backups ("8 backup(s) copied … Restore one") with no word.
 */
export function copiedSummary(r: ExtractResult): string[] {
  const usable = r.extracted.filter((e) => e.unusable === undefined);
  const other = r.extracted.filter((e) => e.unusable !== undefined);
  const lines = usable.length > 0 || other.length === 0 ? [`${usable.length} backup(s) copied to ${r.outDir}.`] : [];
  const earlier = r.extracted.filter((e) => e.earlier).length;
  if (earlier > 0) lines.push(`${earlier} of the files there were copied by an earlier run (the same size and time as on the card): kept, not read again.`);
  if (other.length > 0) {
    lines.push(`${other.length} file(s) copied as they are to ${r.outDir}, which Home Assistant cannot restore:`);
    for (const e of other) lines.push(`  ${basename(e.out)}: ${e.unusable}`);
  }
  return lines;
}

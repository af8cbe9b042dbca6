// Folder mode of `export`: recreate the tree under --out. Every output path is built from names checked by
// safeComponent and must resolve under --out; files are created exclusively ('wx'), folders with mkdir, so
// an existing entry (or a link we made) is never followed. Symlinks are written verbatim, never resolved.
//
// Speed: a config folder is thousands of small files, so each costs as few system calls as it can: one
// synchronous open with its final permission bits, one write, one futimes, one close. chown and chmod are
// only called when the created file would not already have the right owner or mode (10,000 files: see
// docs/benchmarks.md). Synchronous calls because a thread-pool round trip per call cost more than the call.

import { chmodSync, chownSync, closeSync, fchmodSync, fchownSync, ftruncateSync, futimesSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, openSync, readdirSync, realpathSync, statSync, symlinkSync, unlinkSync, utimesSync, writeSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import { AppError, UsageError } from '../../errors.js';
import type { Inode, Timestamp } from '../../ext4/inode.js';
import type { BatchRead } from '../../ext4/file-batch.js';
import { CHUNK_BYTES, dataRanges } from '../../ext4/file-data.js';
import { readAhead } from '../copy/index.js';
import { type ExportContext, NO_FILE_TYPE } from './types.js';
import { SmallFiles, batchable } from './batch.js';
import { NAME_MAX, fitName, safeComponent } from './names.js';
import { type OutputRules, describeRules, isUnsupported, probeOutput } from './output.js';
import { type FileSizeLimit, currentUmask, sizeChecker, tooBigText } from '../output-fs.js';
import { makeOutputFolder } from '../output-error.js';

const SLASH = Buffer.from(sep === '\\' ? '\\' : '/');
const S_ISGID = 0o2000;

/** A time for utimes: Node takes a negative number for "now" (a 1901 time was written as today), a Date not. */
function time(t: Timestamp): number | Date {
  return t.seconds < 0 ? new Date(t.seconds * 1000 + Math.floor(t.nanoseconds / 1e6)) : t.seconds + t.nanoseconds / 1e9;
}

function key(b: Uint8Array): string {
  return Buffer.from(b).toString('latin1');
}

async function prepareOut(out: string, force: boolean): Promise<void> {
  let st;
  try {
    st = lstatSync(out);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
    await makeOutputFolder(out);
    return;
  }
  if (st.isSymbolicLink() && isFolder(out)) {
    // Never written through: the files would land where the link points. It was "exists and is not a folder".
    throw new UsageError('OUT_NOT_A_FOLDER', `${out} is a symbolic link: the export is not written through it`, { hint: 'name the folder it points to, or a new folder' });
  }
  if (!st.isDirectory()) {
    throw new UsageError('OUT_NOT_A_FOLDER', `${out} exists and is not a folder`, { hint: 'name a new folder, or a FILE.tar / FILE.tar.gz' });
  }
  if (readdirSync(out).length > 0 && !force) {
    throw new UsageError('OUT_NOT_EMPTY', `${out} is not empty`, { hint: 'name a new or empty folder, or write into this one anyway', remedy: 'force' });
  }
}

/** Who owns what we create, so chown/chmod are called only when they change something. */
interface Creation {
  setOwners: boolean;
  /** Linux: a new entry gets our uid and gid (folders we create are not setgid until the end). */
  uid: number | null;
  gid: number | null;
  /** The gid entries directly under --out get (its own when it is setgid), or null when unknown. */
  baseGid: number | null;
  umask: number;
}

function creationRules(base: string, setOwners: boolean): Creation {
  const umask = currentUmask();
  const linux = process.platform === 'linux' && typeof process.geteuid === 'function' && typeof process.getegid === 'function';
  if (!linux) return { setOwners, uid: null, gid: null, baseGid: null, umask };
  const st = lstatSync(base);
  const gid = process.getegid!();
  return { setOwners, uid: process.geteuid!(), gid, baseGid: (st.mode & S_ISGID) !== 0 ? st.gid : gid, umask };
}

function needsChown(c: Creation, inode: Inode, underBase: boolean): boolean {
  if (!c.setOwners) return false;
  const gid = underBase ? c.baseGid : c.gid;
  return c.uid === null || gid === null || inode.uid !== c.uid || inode.gid !== gid;
}

/** Bits the mode given to open/mkdir cannot set by itself (special bits, bits the umask takes away). */
function needsChmod(c: Creation, mode: number): boolean {
  return (mode & ~0o777) !== 0 || (mode & c.umask) !== 0;
}

interface Pending {
  path: Buffer;
  out: Buffer;
  inode: Inode;
  underBase: boolean;
}

interface FolderRun {
  ctx: ExportContext;
  /** Names follow Windows' rules (on Windows, or on a file system that needs them, such as exFAT). */
  windows: boolean;
  rules: OutputRules;
  /** Permission bits or times this file system refused (said once at the end). */
  lostMetadata: Set<string>;
  creation: Creation;
  baseBuf: Buffer;
  baseKey: string;
  /** Output path of every folder created, by raw path below the root. */
  dirOut: Map<string, Buffer>;
  /** Names used in each output folder, so two renamed names never collide. */
  used: Map<string, Set<string>>;
  /** First exported copy of each multiply-linked file, by inode number. */
  firstCopy: Map<number, Buffer>;
  dirs: Array<{ out: Buffer; inode: Inode }>;
  /** The output disk's limit when a file is over it (FAT32: 4 GiB - 1), else null: such a file is listed, not copied. */
  tooBig: (bytes: number) => Promise<FileSizeLimit | null>;
}

export async function exportToFolder(ctx: ExportContext): Promise<void> {
  const { options, result } = ctx;
  const platformWindows = (options.platform ?? process.platform) === 'win32';
  const wantOwners = options.setOwners ?? (typeof process.getuid === 'function' && process.getuid() === 0);
  await prepareOut(resolve(options.out), options.force ?? false);
  const base = realpathSync(resolve(options.out));
  const baseBuf = Buffer.from(base, 'utf8');
  result.out = base;
  const rules = probeOutput(base, { windows: platformWindows, setOwners: wantOwners });
  result.notes.push(...describeRules(rules, platformWindows));
  const run: FolderRun = {
    ctx, windows: rules.windowsNames, rules, lostMetadata: new Set(), baseBuf, baseKey: key(baseBuf),
    creation: creationRules(base, wantOwners && rules.owners),
    dirOut: new Map([['', baseBuf]]),
    used: new Map(),
    firstCopy: new Map(),
    dirs: [{ out: baseBuf, inode: ctx.root }],
    tooBig: sizeChecker(base),
  };
  // Folders allow the files to be written out of order: the walk reads on while earlier batches are read
  // and written, so a card is kept busy (its files' folders were made when the walk met them).
  const small = new SmallFiles<Pending>(ctx, (p, bytes) => writeEntry(run, p.path, p.out, p.inode, p.underBase, bytes), { inFlight: 3 });
  try {
    for await (const { path, inode } of ctx.entries(false, (name) => safeComponent(name, run.windows).renamed === null && name.length <= NAME_MAX)) {
      const placed = place(run, path);
      if (placed === null) continue;
      const { out, underBase } = placed;
      if (batchable(inode)) {
        await small.add({ path, out, inode, underBase });
        continue;
      }
      await small.flush();
      await writeEntry(run, path, out, inode, underBase);
    }
    await small.finish();
  } catch (err) {
    // Stopped or failed in the walk: no batch may write on after the export has ended.
    await small.abandon();
    throw err;
  }
  if (run.creation.setOwners) lchownSync(baseBuf, ctx.root.uid, ctx.root.gid);
  // Folders last, deepest first: writing their entries changed their times, and a read-only folder mode
  // would have stopped those writes.
  for (let i = run.dirs.length - 1; i >= 0; i--) {
    const { out, inode } = run.dirs[i]!;
    keepMetadata(run, 'folder permissions', () => chmodSync(out, inode.mode & 0o7777));
    keepMetadata(run, 'folder times', () => utimesSync(out, time(inode.atime), time(inode.mtime)));
  }
  for (const what of run.lostMetadata) result.notes.push(`this folder's file system did not keep all ${what}`);
}

/** One entry; a small file comes with its bytes (or its read error) from SmallFiles. */
async function writeEntry(run: FolderRun, path: Buffer, out: Buffer, inode: Inode, underBase: boolean, data?: BatchRead): Promise<void> {
  const { ctx } = run;
  const { options } = ctx;
  try {
    if (inode.kind === 'dir') writeDir(run, path, out, inode, underBase);
    else {
      if (options.force) removeExisting(out);
      if (inode.kind === 'symlink') await writeSymlink(run, path, out, inode);
      else if (inode.kind === 'unknown') ctx.skip(path, NO_FILE_TYPE);
      else if (inode.kind !== 'file') ctx.result.special.push(ctx.show(path));
      else await writeFile(run, path, out, inode, underBase, data);
    }
  } catch (err) {
    // A path longer than this computer allows (PATH_MAX) is one entry's problem, not the export's.
    if ((err as NodeJS.ErrnoException).code !== 'ENAMETOOLONG') throw err;
    ctx.skip(path, 'its path is longer than this computer allows');
  }
}

/** Sets permissions or times; a file system that cannot store them (exFAT, FAT) is noted, not fatal. */
function keepMetadata(run: FolderRun, what: string, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if (!isUnsupported(err)) throw err;
    run.lostMetadata.add(what);
  }
}

/** The output path for `path`, its name made safe and unique in its folder; null when it is skipped. */
function place(run: FolderRun, path: Buffer): { out: Buffer; underBase: boolean } | null {
  const { ctx, windows } = run;
  const slash = path.lastIndexOf(0x2f);
  const parentRel = slash < 0 ? Buffer.alloc(0) : path.subarray(0, slash);
  const parentOut = run.dirOut.get(key(parentRel));
  if (parentOut === undefined) {
    ctx.skip(path, 'its folder was not exported');
    return null;
  }
  const safe = safeComponent(path.subarray(slash + 1), windows);
  let name = safe.name;
  let renamed = safe.renamed;
  if (name.length > NAME_MAX) {
    // Renaming for Windows can make a name longer (\xNN escapes) than a folder can hold.
    name = fitName(name, NAME_MAX);
    renamed = `${renamed ? `${renamed}; ` : ''}shortened to ${NAME_MAX} bytes`;
  }
  const parentKey = key(parentOut);
  let names = run.used.get(parentKey);
  if (names === undefined) run.used.set(parentKey, (names = new Set<string>()));
  const fold = (b: Buffer): string => (windows || run.rules.foldCase ? b.toString('utf8').toLowerCase() : key(b));
  if (names.has(fold(name))) {
    const stem = fitName(name, NAME_MAX - 8);
    let n = 1;
    while (names.has(fold(Buffer.concat([stem, Buffer.from(`~${n}`)])))) n++;
    name = Buffer.concat([stem, Buffer.from(`~${n}`)]);
    renamed = renamed ?? 'name collides with another name in its folder';
  }
  names.add(fold(name));
  const out = Buffer.concat([parentOut, SLASH, name]);
  if (!resolve(key(out)).startsWith(run.baseKey + sep) || key(name).includes('/') || (windows && key(name).includes('\\'))) {
    ctx.skip(path, 'its output path would be outside the output folder');
    return null;
  }
  if (renamed) ctx.result.renamed.push({ path: ctx.show(path), as: name.toString('utf8'), reason: renamed });
  return { out, underBase: parentOut === run.baseBuf };
}

function writeDir(run: FolderRun, path: Buffer, out: Buffer, inode: Inode, underBase: boolean): void {
  try {
    mkdirSync(out, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !lstatSync(out).isDirectory()) throw err;
  }
  run.dirOut.set(key(path), out);
  run.dirs.push({ out, inode });
  run.ctx.result.dirs++;
  if (needsChown(run.creation, inode, underBase)) chownSync(out, inode.uid, inode.gid);
}

async function writeSymlink(run: FolderRun, path: Buffer, out: Buffer, inode: Inode): Promise<void> {
  const target = await run.ctx.readLink(path, inode);
  if (target === null) return;
  if (!run.rules.symlinks) {
    run.ctx.result.unsupported.push({ path: run.ctx.show(path), reason: `symbolic link to ${target.toString('utf8')}: this folder's file system cannot hold links` });
    return;
  }
  if (target.includes(0) || target.length === 0) {
    // Neither can be a link on this computer (an empty target made the whole export stop, ENOENT).
    run.ctx.skip(path, target.length === 0 ? 'symlink with an empty target (damaged)' : 'symlink target contains a NUL byte');
    return;
  }
  symlinkSync(run.windows ? target.toString('utf8') : target, out);
  if (run.creation.setOwners) lchownSync(out, inode.uid, inode.gid);
  try {
    lutimesSync(out, time(inode.atime), time(inode.mtime));
  } catch {
    // Some filesystems cannot set a link's own times; the link itself is what matters.
  }
  run.ctx.result.symlinks++;
}

async function writeFile(run: FolderRun, path: Buffer, out: Buffer, inode: Inode, underBase: boolean, data?: BatchRead): Promise<void> {
  const { ctx } = run;
  if (inode.linksCount > 1 && run.rules.hardLinks) {
    const first = run.firstCopy.get(inode.ino);
    if (first !== undefined) {
      linkSync(first, out);
      ctx.result.hardlinks++;
      return;
    }
  }
  if (data instanceof AppError) {
    ctx.skip(path, data);
    return;
  }
  const limit = await run.tooBig(inode.sizeBytes);
  if (limit !== null) {
    ctx.result.unsupported.push({ path: ctx.show(path), reason: tooBigText('it', inode.sizeBytes, 'this folder', limit), tooBig: true });
    return;
  }
  const mode = inode.mode & 0o7777;
  const fd = openSync(out, 'wx', mode & 0o777);
  let ok = false;
  try {
    if (data === undefined) await copyBytes(ctx, inode, fd);
    else writeAt(ctx, fd, data, 0);
    if (needsChown(run.creation, inode, underBase)) fchownSync(fd, inode.uid, inode.gid);
    // After chown, which clears set-user-ID and set-group-ID bits.
    if (needsChmod(run.creation, mode)) keepMetadata(run, 'file permissions', () => fchmodSync(fd, mode));
    keepMetadata(run, 'file times', () => futimesSync(fd, time(inode.atime), time(inode.mtime)));
    ok = true;
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    ctx.skip(path, err);
  } finally {
    closeSync(fd);
    if (!ok) unlinkIfThere(out);
  }
  if (!ok) return;
  ctx.result.files++;
  ctx.progress();
  if (inode.linksCount > 1) run.firstCopy.set(inode.ino, out);
}

/** All of `data` into fd at `position`, counted in the result and the progress line. */
function writeAt(ctx: ExportContext, fd: number, data: Buffer, position: number): void {
  for (let done = 0; done < data.length; ) done += writeSync(fd, data, done, data.length - done, position + done);
  ctx.result.bytes += data.length;
  ctx.progress();
}

/**
 * The file's bytes into fd: a small file in one read and one write, a large one piece by piece, the next
 * pieces read (on the thread pool) while this one is written. A large file's holes are not written (the size
 * is set at the end): the copy stays as sparse as the file is on the card.
 */
async function copyBytes(ctx: ExportContext, inode: Inode, fd: number): Promise<void> {
  if (inode.sizeBytes <= CHUNK_BYTES) {
    const data = await ctx.vol.readFile(inode);
    writeAt(ctx, fd, data, 0);
    setSize(fd, data.length, inode.sizeBytes);
    return;
  }
  let counted = 0;
  for (const [start, end] of dataRanges(await ctx.vol.layout(inode))) {
    countHole(ctx, start - counted);
    let at = start;
    for await (const chunk of readAhead(ctx.vol.stream(inode, start, end))) {
      writeAt(ctx, fd, chunk, at);
      at += chunk.length;
    }
    counted = at;
  }
  countHole(ctx, inode.sizeBytes - counted);
  setSize(fd, counted, inode.sizeBytes);
}

/**
 * Gives a file whose last bytes are a hole its size. A file system that cannot set a size (some FUSE ones,
 * such as fusefat) gets the zeros written.
 */
function setSize(fd: number, written: number, size: number): void {
  if (written >= size) return;
  try {
    ftruncateSync(fd, size);
  } catch (err) {
    if (!isUnsupported(err)) throw err;
    const zeros = Buffer.alloc(Math.min(CHUNK_BYTES, size - written));
    for (let at = written; at < size; ) at += writeSync(fd, zeros, 0, Math.min(zeros.length, size - at), at);
  }
}

/** A hole the copy leaves to the size: counted as copied, as its zeros are the file's. */
function countHole(ctx: ExportContext, bytes: number): void {
  if (bytes <= 0) return;
  ctx.result.bytes += bytes;
  ctx.progress();
}

function unlinkIfThere(out: Buffer): void {
  try {
    unlinkSync(out);
  } catch {
    // Already gone: nothing to tidy.
  }
}

function removeExisting(out: Buffer): void {
  try {
    if (!lstatSync(out).isDirectory()) unlinkSync(out);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Whether `path` leads to a folder (through links). */
function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

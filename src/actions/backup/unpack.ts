// `backup extract --decrypt`: the plain files of a backup's inner archives, written to DIR/<inner>/...
// The archive is hostile input: a name with '..', an absolute name, a link pointing out of the folder, or
// a path through a symbolic link is never written, but listed (exit 65); nothing lands outside --out.
// A file cut by damage keeps the bytes read before it, under `<name>.damaged`, and is listed.

import { closeSync, fchmodSync, futimesSync } from 'node:fs';
import { createFile, madeOrThere, writeAll } from './unpack-fs.js';
import { link, lstat, readdir, rename, rm, rmdir, symlink, utimes } from 'node:fs/promises';
import { dirname, join, posix, resolve } from 'node:path';
import { AppError, CorruptError, UsageError } from '../../errors.js';
import type { InnerArchive } from '../../ha/backup-archive.js';
import { type InnerEntry, type SecureTarKey, innerEncryption, innerTarBytes, keyRefusal, storedAs, walkInner } from '../../ha/backup-inner.js';
import { UNKNOWN_VERSION } from '../../ha/securetar/header.js';
import { safeComponent } from '../export/names.js';
import { makeOutputFolder, outputError } from '../output-error.js';
import { currentUmask } from '../output-fs.js';
import { assertOutputOffSource } from '../host-mounts.js';
import { type ProgressListener, ProgressMeter } from '../progress.js';
import { findInnerOrThrow, listDetails } from './inside.js';
import type { BackupTarget } from './open.js';

export interface UnpackOptions {
  outDir: string;
  /** Only these inner archives (default: all). */
  inners?: string[];
  key: SecureTarKey | null;
  force?: boolean;
  onProgress?: ProgressListener;
  platform?: NodeJS.Platform;
}

interface OpenFile {
  path: string;
  /** The file's descriptor, -1 once closed. */
  fd: number;
  bytes: number;
}

export interface UnpackProblem {
  path: string;
  reason: string;
}

export interface UnpackResult {
  outDir: string;
  inners: Array<{ name: string; out: string; files: number; dirs: number; links: number; bytes: number; complete: boolean }>;
  skipped: UnpackProblem[];
  renamed: Array<{ path: string; as: string; reason: string }>;
  damaged: Array<UnpackProblem & { bytesWritten: number }>;
}

interface Ctx {
  base: string;
  inner: string;
  windows: boolean;
  result: UnpackResult;
  counts: UnpackResult['inners'][number];
  /** The files written, by their path in the archive (as a hard link names them) to where they were written. */
  written: Map<string, string>;
  dirTimes: Array<{ path: string; mtime: Date }>;
  meter: ProgressMeter;
  /** Bits this computer's umask takes from new files (022: no write for group and others), as tar does. */
  umask: number;
  /**
   * Folders this run made, or found to be real folders (lstat), under `base`: their lstat is not repeated.
   * Nothing this run does removes or replaces a folder (a file, link or hard link member of a folder's name
   * is refused), so one checked stays a folder.
   */
  folders: Set<string>;
}

async function checkOut(outDir: string, force: boolean): Promise<void> {
  await makeOutputFolder(outDir);
  if (!force && (await readdir(outDir)).length > 0) {
    throw new UsageError('OUT_NOT_EMPTY', `${outDir} is not empty`, { hint: 'choose an empty folder, or write into this one anyway', remedy: 'force' });
  }
}

export async function unpackBackup(target: BackupTarget, opts: UnpackOptions): Promise<UnpackResult> {
  const outDir = resolve(opts.outDir);
  const chosen: InnerArchive[] = opts.inners?.length ? opts.inners.map((n) => findInnerOrThrow(target, n)) : target.archive.inners;
  if (chosen.length === 0) {
    const others = target.archive.others.length > 0 ? `, only ${target.archive.others.join(', ')}` : '';
    throw new CorruptError('NO_INNER_ARCHIVES', `${target.label} holds no inner archive (homeassistant.tar.gz, an app's .tar.gz)${others}: there is nothing to unpack`, {
      hint: 'list what the backup holds; copy the backup file itself if it is to be restored',
      remedy: 'list-backup',
      details: listDetails(target),
    });
  }
  await assertOutputOffSource(target.source, [outDir]);
  const result: UnpackResult = { outDir, inners: [], skipped: [], renamed: [], damaged: [] };
  const meter = new ProgressMeter(opts.onProgress, chosen.reduce((n, i) => n + i.size, 0), null);
  const refused = await keyRefusals(target, chosen, opts.key);
  try {
    await checkOut(outDir, opts.force ?? false);
    const windows = (opts.platform ?? process.platform) === 'win32';
    const folders = folderNames(chosen.filter((inner) => !refused.has(inner)), windows, result);
    for (const inner of chosen) {
      const err = refused.get(inner);
      if (err) result.damaged.push({ path: inner.name, reason: refusedReason(err), bytesWritten: 0 });
      else await unpackInner(target, inner, opts, join(outDir, folders.get(inner)!), result, meter);
    }
    const { damage } = target.archive;
    if (damage !== null) result.damaged.push({ path: target.label, reason: `${damage}; the archives before the damage were read, any after it are lost`, bytesWritten: 0 });
    for (const name of opts.inners ? [] : target.archive.missing) result.damaged.push({ path: name, reason: 'backup.json names it, but the backup file does not hold it: a restore of it fails', bytesWritten: 0 });
  } catch (err) {
    throw err instanceof AppError ? err : outputError(err, outDir);
  }
  meter.tick(true);
  return result;
}

/**
 * The encrypted archives the key does not open, when it opens another one: damage at their start (a changed
 * SecureTar header reads as a wrong key), not a wrong key. A key that opens none is refused here, before
 * anything is written. Each check decrypts the first piece only. An archive whose header names a SecureTar
 * version this tool does not read is left out with the others unpacked (one changed byte aborted them all);
 * when every archive is one, that is the answer.
 */
async function keyRefusals(target: BackupTarget, chosen: InnerArchive[], key: SecureTarKey | null): Promise<Map<InnerArchive, AppError>> {
  const refused = new Map<InnerArchive, AppError>();
  let opened = 0;
  for (const inner of chosen) {
    const { encrypted, unreadable } = await storedAs(target.read, inner);
    if (unreadable !== null) refused.set(inner, unreadable);
    if (!encrypted || unreadable !== null) continue;
    try {
      const wrong = await keyRefusal(target.read, inner, key);
      if (wrong === null) opened++;
      else refused.set(inner, wrong);
    } catch (err) {
      // Damage at its start is left for the unpacking to report with the rest.
      if (!(err instanceof AppError) || err.code === 'PASSWORD_NEEDED') throw err;
    }
  }
  const wrongKey = [...refused.values()].find((err) => err.code !== UNKNOWN_VERSION);
  if (opened === 0 && wrongKey) throw wrongKey;
  if (refused.size === chosen.length) throw refused.values().next().value!;
  return refused;
}

function refusedReason(err: AppError): string {
  if (err.code === UNKNOWN_VERSION) return `${err.message}: its start is damaged, or a newer Home Assistant made it (a newer haos-rescue may read it)`;
  return `it does not open with the key that opens the other archives: its start is damaged (${err.message})`;
}

/**
 * Each archive's folder name, none taken twice: two members that name one archive (homeassistant.tar.gz and
 * ./homeassistant.tar.gz) were unpacked into one folder, the second over the first. The later of the two has
 * the plain name, as it is the one a restore takes (Python's tarfile finds the last); the earlier gets name~2.
 */
function folderNames(inners: InnerArchive[], windows: boolean, result: UnpackResult): Map<InnerArchive, string> {
  const plainNames = new Map(inners.map((inner) => [inner, safeComponent(Buffer.from(inner.name), windows).name.toString('utf8')]));
  const holders = new Map<string, InnerArchive>();
  const names = new Map<InnerArchive, string>();
  for (const inner of [...inners].reverse()) {
    const plain = plainNames.get(inner)!;
    let chosen = plain;
    for (let n = 2; holders.has(chosen.toLowerCase()); n++) chosen = `${plain}~${n}`;
    holders.set(chosen.toLowerCase(), inner);
    names.set(inner, chosen);
  }
  for (const inner of inners) {
    const chosen = names.get(inner)!;
    const plain = plainNames.get(inner)!;
    if (chosen === plain) continue;
    // Names that differ in case only are two archives (one folder on Windows and macOS), not two copies of one.
    const restored = holders.get(plain.toLowerCase())!.name === inner.name;
    const reason = restored ? `the backup file holds this archive again further on, which a restore takes: that one is unpacked as ${plain}` : `another archive of the backup is unpacked as ${plain}`;
    result.renamed.push({ path: inner.member, as: chosen, reason });
  }
  return names;
}

/** The folder an archive is unpacked into, made; never a link already there (with --force it took the files where it pointed). */
async function archiveFolder(base: string): Promise<string> {
  const outDir = dirname(base);
  if ((await lstat(base).catch(() => null))?.isSymbolicLink()) {
    throw new UsageError('OUT_IS_LINK', `${base} is a symbolic link: the backup's files would be written where it points, outside ${outDir}`, { hint: 'remove the link, or choose another folder; nothing more was written' });
  }
  await makeOutputFolder(base);
  return base;
}

async function unpackInner(target: BackupTarget, inner: InnerArchive, opts: UnpackOptions, folder: string, result: UnpackResult, meter: ProgressMeter): Promise<void> {
  const windows = (opts.platform ?? process.platform) === 'win32';
  const base = await archiveFolder(folder);
  const counts = { name: inner.name, out: base, files: 0, dirs: 0, links: 0, bytes: 0, complete: false };
  result.inners.push(counts);
  const ctx: Ctx = { base, inner: inner.name, windows, result, counts, written: new Map(), dirTimes: [], meter, umask: currentUmask(), folders: new Set() };
  let current: OpenFile | null = null;
  let last: OpenFile | null = null;
  try {
    for await (const { entry, body } of walkInner(innerTarBytes(countedRead(target, meter), inner, opts.key), inner.member)) {
      last = null; // the file just before the next damage, if it comes now
      const rel = await safePath(ctx, entry).catch((err: unknown) => memberFailed(ctx, entry, err));
      if (rel === null) continue;
      if (entry.type === 'file') {
        current = openMember(ctx, rel, entry);
        if (current === null) continue;
        for await (const chunk of body) {
          writeAll(current.fd, chunk);
          current.bytes += chunk.length;
        }
        finishFile(ctx, current, entry);
        counts.bytes += current.bytes;
        last = current;
        current = null;
        ctx.written.set(posix.normalize(entry.path.replace(/^(\.\/)+/, '')), rel);
      } else await writeOther(ctx, rel, entry).catch((err: unknown) => memberFailed(ctx, entry, err));
      meter.addFile();
    }
    counts.complete = true;
  } catch (err) {
    if (!(err instanceof AppError) || err.exitCode !== 65 || err.code === 'PASSWORD_NEEDED') {
      // A stop or a failure of this computer's side: the file being written is unfinished, and goes.
      if (current) {
        const closed = current.fd < 0 || tryClose(current);
        if (closed) await rm(current.path, { force: true });
      }
      // A wrong password stops it before anything is written: no empty folder left to be taken for a result.
      await rmdir(base).catch(() => undefined);
      throw err;
    }
    if (current && current.fd >= 0) closeFile(current);
    // After the last file of an archive that checks every piece (SecureTar v3): every file is whole.
    if (err.details['where'] === 'after-last-file') counts.complete = true;
    // Between two members of an archive whose bytes nothing checks (unencrypted, SecureTar v1/v2): the damage
    // began in the file before (a changed byte throws the decompression off until a header no longer parses).
    const suspect = current ?? (err.details['where'] === 'between' && (await innerEncryption(target.read, inner)).version !== 3 ? last : null);
    if (suspect) {
      await rename(suspect.path, `${suspect.path}.damaged`);
      const why = suspect === current ? err.message : `${err.message}, right after this file: its bytes may be changed (nothing in this archive checks them)`;
      result.damaged.push({ path: `${inner.name}/${suspect.path.slice(base.length + 1)}`, reason: why, bytesWritten: suspect.bytes });
    } else result.damaged.push({ path: inner.name, reason: err.message, bytesWritten: 0 });
  }
  for (const d of ctx.dirTimes.reverse()) await utimes(d.path, d.mtime, d.mtime).catch(() => undefined);
}

/** The backup's reads, each counted by the progress meter. */
function countedRead(target: BackupTarget, meter: ProgressMeter): BackupTarget['read'] {
  return async (offset, length) => {
    const buf = await target.read(offset, length);
    meter.addBytes(buf.length);
    return buf;
  };
}

/** The member's new file, open; null when it cannot be made here (listed by memberFailed). */
function openMember(ctx: Ctx, rel: string, entry: InnerEntry): OpenFile | null {
  const path = join(ctx.base, rel);
  try {
    return { path, fd: createFile(path), bytes: 0 };
  } catch (err) {
    return memberFailed(ctx, entry, err);
  }
}

/** Errors of one member's name or place on this computer's disk (not of the disk itself). */
const MEMBER_ERRORS = new Set(['EEXIST', 'EISDIR', 'ERR_FS_EISDIR', 'ENOTDIR', 'ENAMETOOLONG', 'ENOENT', 'ELOOP', 'EINVAL', 'EILSEQ']);

/**
 * A member that cannot be written where the archive puts it (a name too long for this computer, a file
 * where a folder came first): listed, and the rest unpacked. Other errors (a full or failing disk) end it.
 */
function memberFailed(ctx: Ctx, entry: InnerEntry, err: unknown): null {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (typeof code !== 'string' || !MEMBER_ERRORS.has(code)) throw err;
  ctx.result.skipped.push({ path: `${ctx.inner}/${entry.path}`, reason: `could not be written here (${code})` });
  return null;
}

/** The entry's path relative to the inner's folder, made of safe components, or null (listed) when it must not be written. */
async function safePath(ctx: Ctx, entry: InnerEntry): Promise<string | null> {
  const shown = `${ctx.inner}/${entry.path}`;
  const skip = (reason: string): null => {
    ctx.result.skipped.push({ path: shown, reason });
    return null;
  };
  if (entry.path === '') return null;
  if (entry.path.startsWith('/')) return skip('absolute path in the archive');
  const parts = entry.path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) return skip('path with ".." would leave the output folder');
  if (entry.type === 'other') return skip('device, FIFO or other special file: not written');
  const safe = parts.map((p) => safeComponent(Buffer.from(p, 'utf8'), ctx.windows));
  const rel = safe.map((s) => s.name.toString('utf8')).join('/');
  // A name that is not UTF-8 is written as shown, each such byte as \xNN (it became U+FFFD, and two such
  // names one file, the second over the first).
  const why = safe.find((s) => s.renamed)?.renamed ?? (entry.notUtf8 ? 'its stored name is not UTF-8: each byte that is not is written as the four characters \\xNN' : undefined);
  if (why) ctx.result.renamed.push({ path: shown, as: `${ctx.inner}/${rel}`, reason: why });
  const problem = makeFolders(ctx, rel);
  return problem === null ? rel : skip(problem);
}

/**
 * Makes the folders on the way to `rel` (each must be a real folder we may write into, never a symbolic link);
 * the problem met, or null. Its folder checked already (the member before made it, as in most archives), the
 * parts are not walked again: a tree 2,000 folders deep took minutes, each member walking its whole path.
 */
function makeFolders(ctx: Ctx, rel: string): string | null {
  const slash = rel.lastIndexOf('/');
  if (slash === -1 || ctx.folders.has(join(ctx.base, rel.slice(0, slash)))) return null;
  let dir = ctx.base;
  for (const part of rel.slice(0, slash).split('/')) {
    dir = join(dir, part);
    if (ctx.folders.has(dir)) continue;
    const st = madeOrThere(dir, 0o777);
    if (st !== null && !st.isDirectory()) return `"${part}" on its path is ${st.isSymbolicLink() ? 'a symbolic link' : 'a file'}, not a folder`;
    ctx.folders.add(dir);
  }
  return null;
}

function closeFile(file: OpenFile): void {
  const fd = file.fd;
  file.fd = -1;
  closeSync(fd);
}

/** Closes it after a failure; false when that fails too. */
function tryClose(file: OpenFile): boolean {
  try {
    closeFile(file);
    return true;
  } catch {
    return false;
  }
}

/** Its times and permissions (through the open file: times first, which Windows takes on a read-only file too), then closed. */
function finishFile(ctx: Ctx, file: OpenFile, entry: InnerEntry): void {
  try {
    if (entry.mtime) futimesSync(file.fd, entry.mtime, entry.mtime);
    fchmodSync(file.fd, entry.mode & 0o777 & ~ctx.umask);
  } catch (err) {
    tryClose(file);
    throw err;
  }
  closeFile(file);
  ctx.counts.files++;
}

async function writeOther(ctx: Ctx, rel: string, entry: InnerEntry): Promise<void> {
  const path = join(ctx.base, rel);
  const shown = `${ctx.inner}/${entry.path}`;
  if (entry.type === 'dir') {
    if (!ctx.folders.has(path)) {
      const st = madeOrThere(path, (entry.mode & 0o777) | 0o700);
      if (st !== null && !st.isDirectory()) {
        ctx.result.skipped.push({ path: shown, reason: 'a file of the same name came first' });
        return;
      }
      ctx.folders.add(path);
    }
    ctx.counts.dirs++;
    if (entry.mtime) ctx.dirTimes.push({ path, mtime: entry.mtime });
    return;
  }
  const target = (entry.linkname ?? '').replace(/^(\.\/)+/, '');
  if (entry.type === 'symlink') {
    const resolved = posix.normalize(posix.join(posix.dirname(rel), target));
    // ".." after a name ("d/s/../..") climbs from wherever that name leads: another link of the archive
    // can make it lead outside. Only leading ".." (from this link's own, real, folder) is followed.
    const steps = target.split('/').filter((p) => p !== '' && p !== '.');
    const backAfterName = steps.some((p, i) => p === '..' && steps.slice(0, i).some((q) => q !== '..'));
    if (target === '' || posix.isAbsolute(target) || resolved === '..' || resolved.startsWith('../') || backAfterName) {
      ctx.result.skipped.push({ path: shown, reason: `symbolic link to ${entry.linkname} points outside the output folder: not created` });
      return;
    }
    await rm(path, { force: true });
    await symlink(entry.linkname!, path).catch((err: NodeJS.ErrnoException) => {
      ctx.result.skipped.push({ path: shown, reason: `symbolic link not created here (${err.code ?? err.message})` });
    });
    ctx.counts.links++;
    return;
  }
  // Hard link: only to a file this run wrote from the same archive, where it wrote it (a name it had to change:
  // the link was refused as "not a file written from this archive").
  const to = ctx.written.get(posix.normalize(target));
  if (to === undefined || to === rel) {
    const why = to === rel ? 'itself' : 'no file of that name was written before it from this archive (a hard link names a file that comes before it)';
    ctx.result.skipped.push({ path: shown, reason: `hard link to ${entry.linkname}: ${why}` });
    return;
  }
  await rm(path, { force: true });
  await link(join(ctx.base, to), path);
  ctx.counts.links++;
}

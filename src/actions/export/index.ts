// `export`: copy the config folder, the supervisor tree or the whole data filesystem off the card, to a
// folder or a tar / tar.gz archive (issue 5). Modes, owners, times, symlinks (never followed), hard links
// and empty folders are kept. A file that cannot be read is skipped and reported; the rest goes on.

import { isMediumError } from '../../device/map-os-error.js';
import { inFile } from '../../ext4/damaged.js';
import { AppError, CorruptError, NotFoundError, RefusedError, UsageError } from '../../errors.js';
import type { Inode } from '../../ext4/inode.js';
import { displayName } from '../../ext4/path.js';
import { isDotOrDotDot } from '../../ext4/dir.js';
import type { WalkEntry } from '../../ext4/walk.js';
import type { Ext4Volume } from '../../ext4/volume.js';
import type { HaLayout } from '../../ha/layout.js';
import { exportToFolder } from './folder.js';
import type { ExportContext, ExportFormat, ExportOptions, ExportResult } from './types.js';
import { outputError } from '../output-error.js';
import { ProgressMeter } from '../progress.js';
import { existingAncestor, freeBytes } from '../output-fs.js';
import { access, constants } from 'node:fs/promises';
import { assertOutputOffSource } from '../host-mounts.js';
import { formatBytes } from '../../units.js';

export type { ProgressSnapshot as ExportProgress } from '../progress.js';
export { type ExportContext, type ExportFormat, type ExportOptions, type ExportProblem, type ExportRename, type ExportResult, type ExportWhat, LARGE_FILE } from './types.js';

const DB_NAME = /^home-assistant_v\d+\.db(-wal|-shm)?$/;

export function exportFormat(out: string): ExportFormat {
  if (/\.(tar\.gz|tgz)$/i.test(out)) return 'tar.gz';
  if (/\.tar$/i.test(out)) return 'tar';
  // A name of an archive kind not written here would become a folder of that name: said instead.
  const other = /\.(zip|7z|rar|tar\.(xz|bz2|zst)|txz|tbz2?)$/i.exec(out);
  if (other) {
    throw new UsageError('OUT_FORMAT', `${out}: a .${other[1]!.toLowerCase()} archive is not written here`, { hint: 'name a .tar.gz (7-Zip on Windows and every Mac and Linux open it), a .tar, or a folder' });
  }
  return 'folder';
}

function reasonOf(err: unknown): string {
  if (err instanceof AppError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}

/** A read the card refused, or one past the end of an image cut short: a copy of the card is the way on. */
function unreadable(err: unknown): boolean {
  return isMediumError(err) || (err instanceof AppError && (err.code === 'READ_BEYOND_END' || err.code === 'NOT_RESCUED'));
}

export async function exportTree(vol: Ext4Volume, layout: HaLayout, options: ExportOptions): Promise<ExportResult> {
  const what = options.what ?? 'config';
  const sourcePath = what === 'config' ? layout.configPath : what === 'supervisor' ? layout.supervisorPath : '/';
  if (sourcePath === null) {
    throw new NotFoundError('NO_HA_DATA', `this filesystem has no Home Assistant ${what === 'config' ? 'config folder' : 'supervisor folder'}`, {
      hint: 'export the whole filesystem instead',
      remedy: 'what-all',
    });
  }
  // Damage on the way is said with the folder's name ("inode 40 is damaged" named none).
  const root = await vol.lookup(sourcePath, { followFinal: true }).catch((err: unknown) => Promise.reject(inFile(sourcePath, err)));
  if (root.kind !== 'dir') throw new UsageError('NOT_A_DIRECTORY', `${sourcePath} is not a folder`);
  if (options.sourcePath !== undefined) await assertOutputOffSource(options.sourcePath, [options.out]);
  const format = exportFormat(options.out);
  const result: ExportResult = {
    out: options.out, format, what, source: sourcePath,
    files: 0, dirs: 0, symlinks: 0, hardlinks: 0, bytes: 0,
    skipped: [], renamed: [], special: [], unsupported: [], notes: [],
  };
  const meter = new ProgressMeter(options.onProgress);
  const ctx = makeContext(vol, layout, root, options, result, meter);
  let totals = format === 'tar.gz' ? null : await assertRoom(ctx);
  if (options.onProgress) {
    totals ??= await countTree(ctx);
    meter.setTotals(totals.bytes, totals.files);
  }
  try {
    if (format === 'folder') await exportToFolder(ctx);
    // The tar writer (and tar-stream) is loaded for an archive only: a folder export does not compile it.
    else await (await import('./tar.js')).exportToTar(ctx, format === 'tar.gz');
  } catch (err) {
    const failed = outputError(err, options.out);
    // A folder filled part way (the disk full): said, with the way to have it whole.
    throw format === 'folder' && !(err instanceof AppError) && result.files + result.dirs > 0 ? partlyCopied(failed, result) : failed;
  }
  meter.bytes = result.bytes;
  meter.files = result.files;
  meter.tick(true);
  return result;
}

/** The config folder relative to the export root, for --exclude-db ("" = the root itself), or null. */
function configRelative(layout: HaLayout, sourcePath: string, excludeDb: boolean): string | null {
  if (!excludeDb || layout.configPath === null) return null;
  const prefix = sourcePath === '/' ? '/' : `${sourcePath}/`;
  if (layout.configPath === sourcePath) return '';
  return layout.configPath.startsWith(prefix) ? layout.configPath.slice(prefix.length) : null;
}

/**
 * The walk of one folder for writers outside `export` (a backup's inner archive): its entries named under
 * `rootName`, the exclusions of `options`, and the same reports of damaged entries.
 */
export function treeContext(vol: Ext4Volume, root: Inode, sourcePath: string, rootName: string, options: ExportOptions, meter: ProgressMeter): ExportContext {
  const result: ExportResult = {
    out: options.out, format: 'tar', what: 'config', source: sourcePath,
    files: 0, dirs: 0, symlinks: 0, hardlinks: 0, bytes: 0,
    skipped: [], renamed: [], special: [], unsupported: [], notes: [],
  };
  return makeContext(vol, null, root, options, result, meter, rootName);
}

function makeContext(vol: Ext4Volume, layout: HaLayout | null, root: Inode, options: ExportOptions, result: ExportResult, meter: ProgressMeter, name?: string): ExportContext {
  const sourcePath = result.source;
  const rootName = name ?? (result.what === 'all' ? 'data' : (sourcePath.split('/').filter(Boolean).pop() ?? 'data'));
  const configRel = layout ? configRelative(layout, sourcePath, options.excludeDb ?? false) : null;
  const excluded = new Set<string>();
  const isExcluded = (path: Buffer, isDir: boolean): boolean => {
    if (!options.exclude) return false;
    const p = path.toString('utf8');
    for (let i = p.indexOf('/'); i !== -1; i = p.indexOf('/', i + 1)) if (excluded.has(p.slice(0, i))) return true;
    if (!options.exclude(p)) return false;
    if (isDir) excluded.add(p);
    return true;
  };
  const show = (p: Uint8Array): string => `${sourcePath === '/' ? '' : sourcePath}/${displayName(p)}`;
  const ctx: ExportContext = {
    vol, root, rootName, options, result, show,
    async *entries(quiet = false, keepsName?: (name: Buffer) => boolean) {
      for await (const e of preorder(vol, root, (path, err) => quiet || ctx.skip(path, err), keepsName)) {
        if (isExcluded(e.path, e.inode.kind === 'dir')) continue;
        if (configRel !== null) {
          const slash = e.path.lastIndexOf(0x2f);
          const parent = slash < 0 ? '' : e.path.subarray(0, slash).toString('utf8');
          const name = e.path.subarray(slash + 1).toString('utf8');
          if (parent === configRel && e.inode.kind === 'file' && DB_NAME.test(name)) continue;
        }
        yield e;
      }
    },
    skip(path, reason) {
      result.skipped.push({ path: typeof path === 'string' ? path : show(path), reason: reasonOf(reason), ...(unreadable(reason) ? { cardRead: true as const } : {}) });
    },
    async readLink(path, inode) {
      try {
        return await vol.readLink(inode);
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        ctx.skip(path, err);
        return null;
      }
    },
    progress() {
      meter.bytes = result.bytes;
      meter.files = result.files;
      meter.tick();
    },
  };
  return ctx;
}

interface TreeTotals {
  files: number;
  bytes: number;
  /** The bytes of data the files hold on the card (holes left out): the least an export of them takes. */
  dataBytes: number;
}

/** Regular files and their bytes (each hard-linked file once), for the progress line's time left. */
async function countTree(ctx: ExportContext): Promise<TreeTotals> {
  const seen = new Set<number>();
  const totals: TreeTotals = { files: 0, bytes: 0, dataBytes: 0 };
  for await (const { inode } of ctx.entries(true)) {
    if (inode.kind !== 'file') continue;
    if (inode.linksCount > 1) {
      if (seen.has(inode.ino)) continue;
      seen.add(inode.ino);
    }
    totals.files++;
    totals.bytes += inode.sizeBytes;
    // i_blocks counts 512-byte sectors (an inline file has none: its bytes are in the inode).
    totals.dataBytes += inode.blocks > 0 ? Math.min(inode.sizeBytes, inode.blocks * 512) : inode.sizeBytes;
  }
  return totals;
}

/**
 * Refuses (exit 77) a folder or .tar export that cannot fit on the disk of --out, before a byte is copied:
 * only when the disk has less room than the card has in use is the tree counted, and only a shortfall of the
 * files' own data (a lower bound of what the copy takes) is refused. A .tar.gz is not judged (compression).
 */
async function assertRoom(ctx: ExportContext): Promise<TreeTotals | null> {
  // A read-only disk is said as one (its free space was reported as too small, and .tar.gz advised).
  await access(await existingAncestor(ctx.options.out), constants.W_OK).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code === 'EROFS') throw outputError(err, ctx.options.out);
  });
  const free = await freeBytes(ctx.options.out);
  const sb = ctx.vol.sb;
  const inUse = (sb.blocksCount - Math.min(sb.freeBlocksCount, sb.blocksCount)) * sb.blockSize;
  if (free === null || free > inUse * 1.1 + 64 * 1024 * 1024) return null;
  const totals = await countTree(ctx);
  if (free >= totals.dataBytes) return totals;
  const what = `${formatBytes(totals.dataBytes)} in ${totals.files.toLocaleString('en-US')} file(s)`;
  throw new RefusedError('NOT_ENOUGH_SPACE', `the disk holding ${ctx.options.out} has ${formatBytes(free)} free; the files to export hold ${what}`, {
    hint: 'choose a folder on a disk with more room, or export less: the configuration alone, without the history database, or compressed (.tar.gz); nothing was copied',
    remedy: 'export-less',
    details: { freeBytes: free, neededBytes: totals.dataBytes },
  });
}

/**
 * A second entry named "." or ".." in a folder (a damaged one: e2fsck renames it) is not the folder or its
 * parent: what it points at cannot be reached by a path, and is said as lost (it vanished unsaid).
 */
function reportExtraDots(entries: Array<{ name: Uint8Array; ino: number }>, report: (err: AppError) => void): void {
  const seen = new Set<string>();
  for (const e of entries) {
    if (!isDotOrDotDot(e.name)) continue;
    const name = Buffer.from(e.name).toString('latin1');
    if (!seen.has(name)) seen.add(name);
    else report(new CorruptError('DOT_ENTRY_TWICE', `this folder holds a second entry named "${name}" (inode ${e.ino}): the filesystem is damaged (e2fsck renames such an entry); what it points at is not exported`, { details: { ino: e.ino } }));
  }
}

/**
 * Every entry below `start` in tar order: a folder, then everything inside it, names in byte order.
 * (ext4/walk visits all siblings before descending, and GNU tar then sets a folder's time too early.)
 * Unreadable folders and inodes go to onError; folders already entered (damaged loops) are not re-entered.
 */
async function* preorder(vol: Ext4Volume, start: Inode, onError: (path: Buffer, err: AppError) => void, keepsName?: (name: Buffer) => boolean): AsyncGenerator<WalkEntry> {
  const seen = new Set<number>([start.ino]);
  type Pending = { path: Buffer; ino: number; depth: number } | { path: Buffer; inode: Inode; depth: number };
  const stack: Pending[] = [];
  const pushChildren = async (dir: Inode, path: Buffer, depth: number): Promise<void> => {
    let entries;
    try {
      const listing = await vol.listDir(dir);
      // A damaged block of a folder costs its own entries, reported; the rest of the folder is exported.
      for (const err of listing.lost) {
        onError(path, new CorruptError(err.code, `some of its entries are lost: ${err.message}`, { hint: err.hint, details: err.details }));
      }
      entries = listing.entries.filter((e) => !isDotOrDotDot(e.name));
      reportExtraDots(listing.entries, (err) => onError(path, err));
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      onError(path, err);
      return;
    }
    // Pushed last-first: popped in name order, the names kept before the renamed ones (each name judged once,
    // not at every comparison of a 300,000-name folder's sort).
    const keyed = entries.map((e) => ({ e, renamed: keepsName === undefined || keepsName(e.name) ? 0 : 1 }));
    keyed.sort((a, b) => b.renamed - a.renamed || Buffer.compare(b.e.name, a.e.name));
    for (const { e } of keyed) {
      const name = Buffer.from(e.name);
      stack.push({ path: path.length === 0 ? name : Buffer.concat([path, Buffer.from('/'), name]), ino: e.ino, depth: depth + 1 });
    }
  };
  await pushChildren(start, Buffer.alloc(0), 0);
  while (stack.length > 0) {
    const item = stack.pop()!;
    let inode: Inode;
    if ('inode' in item) inode = item.inode;
    else {
      try {
        inode = await vol.readInode(item.ino);
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        onError(item.path, err);
        continue;
      }
    }
    yield { path: item.path, inode, depth: item.depth };
    if (inode.kind !== 'dir') continue;
    if (seen.has(inode.ino)) {
      // Said, not passed over in silence: its contents are exported once, at the place met first.
      onError(item.path, new CorruptError('DIRECTORY_TWICE', `this folder is also found at another place in the tree (inode ${inode.ino}): the filesystem is damaged, a folder linked twice or inside itself; its contents are exported once, at the other place`, { details: { ino: inode.ino } }));
      continue;
    }
    seen.add(inode.ino);
    await pushChildren(inode, item.path, item.depth);
  }
}

function partlyCopied(err: AppError, r: ExportResult): AppError {
  return new AppError(err.code, err.exitCode, `${err.message}: ${r.out} holds part of the copy (${r.files} file(s), ${r.dirs} folder(s))`, {
    hint: `${err.hint ?? 'make room there'}; to have it whole, copy again into another folder, or over this one (replacing it)`,
    details: err.details,
    cause: err,
  });
}

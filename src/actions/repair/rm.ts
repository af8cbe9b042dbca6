// `rm`: removes files from the card to give the space back (a full disk stops Home Assistant). Only below
// the Supervisor's folder unless the caller allows the rest of the system; folders only when asked to.
// The file's bytes are saved to the originals folder first (unless the caller says not to), then the
// removal (entry, blocks, inode) is one journal transaction; a folder too large for the card's journal
// goes in several, each leaving a consistent card (rm-steps.ts).

import { posix } from 'node:path';
import { AppError, InternalError, NotFoundError, RefusedError, UsageError } from '../../errors.js';
import { BlockEdits, removeFile } from '../../ext4/create-file.js';
import { removeTree } from '../../ext4/remove-tree.js';
import { walk } from '../../ext4/walk.js';
import { companionsOf, isDatabase } from './sqlite-files.js';
import { dataPath, type OpenedSource } from '../source.js';
import { folderContentSteps } from './rm-steps.js';
import { type TreeChange, type WriteOptions, type WriteResult, writeFiles } from '../write/index.js';

export interface RemoveOptions extends WriteOptions {
  /** Allow paths outside the Supervisor's folder (the operating system's own data). */
  forceSystem?: boolean;
  /** Folders too, with everything in them. */
  recursive?: boolean;
}

export interface RemoveResult {
  /** bytes: a file's size; a folder's is its own entry's, its content's is in allocatedBytes. */
  /** companionOf: SQLite's own file beside a database removed (its -wal, -shm, -journal), not named but taken too. */
  /** linksLeft: a hard link whose file keeps another name: nothing given back by it (allocatedBytes 0). */
  removed: Array<{ path: string; bytes: number; allocatedBytes: number; folder: boolean; companionOf?: string; linksLeft?: true }>;
  write: WriteResult;
}


function split(path: string): { parent: string; name: string } {
  const i = path.lastIndexOf('/');
  return { parent: path.slice(0, i) || '/', name: path.slice(i + 1) };
}

/** The removal of the file (or with `folder`, the empty folder) at `path`. */
export function removalChange(path: string, size: number, folder: boolean): TreeChange {
  const { parent, name } = split(path);
  // What was removed is checked gone by its inode: a later change of the same write may put another file at
  // the name (a database's -wal moved in place of the one removed beside it).
  let removed: number | null = null;
  return {
    path,
    sizes: { oldSize: size, newSize: 0 },
    plan: async (vol, nowMs) => {
      const edits = new BlockEdits(vol);
      const dir = await vol.lookup(parent, { followFinal: true });
      removed = (await vol.lookup(path)).ino;
      if (folder) await removeTree(edits, dir, name, nowMs);
      else await removeFile(edits, dir, name, nowMs);
      return edits.writes();
    },
    check: async (vol) => {
      const there = await vol.lookup(path).catch(() => null);
      if (there !== null && (removed === null || there.ino === removed)) throw new InternalError('NOT_REMOVED', `${path} is still there after the write`);
    },
  };
}

/** The path normalised and checked to lie where repairs may write (below /supervisor unless allowed). */
export function repairPath(src: OpenedSource, given: string, forceSystem: boolean): string {
  // "big/.." named the folder above big: `rm -r .../big/..` removed the whole configuration (GNU rm refuses).
  const last = given.replace(/\/+$/, '').split('/').pop();
  if (last === '.' || last === '..') throw new UsageError('BAD_PATH', `${given} ends in ${last}: name the file or folder itself`, { hint: 'give the path without . or .. at its end; nothing was written' });
  // Normalised first: /supervisor/../etc must not pass as a path inside /supervisor.
  const path = posix.normalize(dataPath(given)).replace(/\/+$/, '');
  if (path === '' || path === '/') throw new UsageError('BAD_PATH', 'the root folder cannot be changed');
  const sup = src.layout.supervisorPath;
  if (!forceSystem && path === sup) {
    throw new RefusedError('WHOLE_SUPERVISOR', `${path} is the folder that holds all of Home Assistant's data (configuration, backups, apps); it is not changed as a whole`, {
      hint: 'name what inside it is to change, e.g. a file in its homeassistant folder. Nothing was written',
      remedy: 'list-folder',
      details: { folder: path },
    });
  }
  if (!forceSystem && (sup === null || !path.startsWith(`${sup}/`))) {
    throw new RefusedError('OUTSIDE_SUPERVISOR', `${path} is outside ${sup ?? 'the Supervisor folder'}, where Home Assistant keeps its data`, {
      hint: 'changing the operating system\'s own files can stop the box from starting; allow it only if you know it is safe. Nothing was written',
      remedy: 'force-system',
    });
  }
  return path;
}

/** The folder a path ending in '/' names: there, and a folder, or the refusal that says which it is not. */
/**
 * Whether a target names a folder: it ends in '/' (then it must be one), or is one on the card. Joined with the
 * name before the path is checked: "mv X /supervisor" was refused as changing /supervisor as a whole.
 */
export async function namesFolder(src: OpenedSource, given: string): Promise<boolean> {
  if (/\/\.?$/.test(given)) return true;
  if (given.split('/').pop() === '..') return false; // refused as it is by repairPath
  const inode = await src.volume.lookup(posix.normalize(dataPath(given)), { followFinal: true }).catch(() => null);
  return inode?.kind === 'dir';
}

export async function givenFolder(src: OpenedSource, given: string): Promise<string> {
  const folder = posix.normalize(dataPath(given)).replace(/\/+$/, '') || '/';
  const inode = await src.volume.lookup(folder, { followFinal: true }).catch(() => null);
  if (inode === null) throw new NotFoundError('PATH_NOT_FOUND', `the folder ${folder} does not exist on the card`, { hint: 'name a folder that is there (nothing makes one); nothing was written', remedy: 'list-folder', details: { folder: posix.dirname(folder) } });
  if (inode.kind !== 'dir') throw new UsageError('NOT_A_DIRECTORY', `${given} names a folder, but ${folder} is a file`, { hint: 'give its path without the / at the end to name the file; nothing was written', remedy: 'list-folder', details: { folder: posix.dirname(folder) } });
  return folder;
}

/**
 * Refuses a path that goes through a symbolic link: the link was followed from this filesystem's root, so a
 * link in /supervisor to / (or ../../) took a change outside /supervisor past the check above, and on the box
 * a link is read inside Home Assistant's container (/config…), not from this root: where it leads here is not
 * where it leads there. The last component is not looked at (a link itself is removed or refused as a file).
 */
export async function noLinkOnTheWay(src: OpenedSource, path: string): Promise<void> {
  const parts = path.split('/').filter(Boolean);
  for (let i = 1; i < parts.length; i++) {
    const folder = `/${parts.slice(0, i).join('/')}`;
    const inode = await src.volume.lookup(folder).catch(() => null);
    // A folder that is not there is said by the lookups that follow.
    if (!inode) return;
    if (inode.kind !== 'symlink') continue;
    const target = await src.volume.readLink(inode).then((b) => ` (to ${b.toString('utf8')})`, () => '');
    throw new RefusedError('LINK_ON_THE_WAY', `${folder} is a symbolic link${target}: haos-rescue does not follow links when it changes the card`, {
      hint: 'name the real path of the file instead (the folder\'s listing shows where the link points); nothing was written',
      remedy: 'list-folder',
      details: { folder: posix.dirname(folder) },
    });
  }
}

function pathNotFound(path: string): NotFoundError {
  return new NotFoundError('PATH_NOT_FOUND', `${path} does not exist on the card`, { hint: 'list its folder to see what is there; nothing was written', remedy: 'list-folder', details: { folder: posix.dirname(path) } });
}

/**
 * The path to remove, as repairPath allows it; a mistyped one outside /supervisor (/supervisr/...) that is not
 * there is said as not there: it was refused as "outside /supervisor, allow it", and allowed, as missing.
 */
async function removablePath(src: OpenedSource, given: string, forceSystem: boolean): Promise<string> {
  try {
    return repairPath(src, given, forceSystem);
  } catch (err) {
    if (!(err instanceof AppError) || err.code !== 'OUTSIDE_SUPERVISOR') throw err;
    const path = posix.normalize(dataPath(given)).replace(/\/+$/, '');
    if (await src.volume.exists(path).catch(() => true)) throw err;
    throw pathNotFound(path);
  }
}

/** Checks every path before anything is planned: each must be a file (or link) inside what may be touched. */
async function checkPaths(src: OpenedSource, paths: string[], opts: RemoveOptions): Promise<Array<{ path: string; size: number; allocated: number; folder: boolean }>> {
  const out = [];
  for (const given of paths) {
    const path = await removablePath(src, given, opts.forceSystem ?? false);
    await noLinkOnTheWay(src, path);
    const inode = await src.volume.lookup(path).catch((err: unknown) => {
      if (err instanceof AppError && err.exitCode === 66) throw pathNotFound(path);
      throw err;
    });
    if (inode.kind === 'dir' && !opts.recursive) throw new UsageError('IS_A_DIRECTORY', `${path} is a folder`, { hint: 'remove it with everything in it, if that is meant; nothing was written', remedy: 'recursive' });
    // "automations.yaml/" names a folder (GNU rm refuses it on a file): the file was removed.
    if (inode.kind !== 'dir' && /\/\.?$/.test(given)) throw new UsageError('NOT_A_DIRECTORY', `${given} names a folder, but ${path} is ${inode.kind === 'symlink' ? 'a symbolic link' : 'a file'}`, { hint: 'give its path without the / at the end if the file is meant; nothing was written' });
    out.push({ path, size: inode.sizeBytes, allocated: inode.kind === 'dir' ? await treeBytes(src, path) : inode.blocks * 512, folder: inode.kind === 'dir', ino: inode.ino, links: inode.kind === 'dir' ? 1 : inode.linksCount });
  }
  return out;
}

/**
 * Bytes allocated below and by a folder, for the report: a hard-linked file once, and only when every one of
 * its names is inside (one with a name elsewhere stays, and gives nothing back).
 */
async function treeBytes(src: OpenedSource, path: string): Promise<number> {
  const files = new Map<number, { names: number; links: number; bytes: number }>();
  const root = await src.volume.lookup(path);
  let bytes = root.blocks * 512;
  for await (const e of walk(src.volume, root)) {
    if (e.inode.kind === 'dir') {
      bytes += e.inode.blocks * 512;
      continue;
    }
    const file = files.get(e.inode.ino) ?? { names: 0, links: e.inode.linksCount, bytes: e.inode.blocks * 512 };
    file.names += 1;
    files.set(e.inode.ino, file);
  }
  for (const f of files.values()) if (f.names >= f.links) bytes += f.bytes;
  return bytes;
}

export async function removeFiles(src: OpenedSource, paths: string[], opts: RemoveOptions = {}): Promise<RemoveResult> {
  if (paths.length === 0) throw new UsageError('NO_PATH', 'name at least one file to remove');
  const checked = freedOnce(await withCompanions(src, dedupe(await checkPaths(src, paths, opts))));
  const nested = checked.find((a) => checked.some((b) => b !== a && b.folder && a.path.startsWith(`${b.path}/`)));
  if (nested) throw new UsageError('NESTED_PATHS', `${nested.path} is inside another path given`, { hint: 'name it once; nothing was written' });
  const build = async (): Promise<TreeChange[]> => {
    const out: TreeChange[] = [];
    for (const c of checked) {
      if (c.folder) out.push(...(await folderContentSteps(src.volume, c.path)));
      out.push(removalChange(c.path, c.size, c.folder));
    }
    return out;
  };
  const write = await writeFiles(src, build, opts);
  return { removed: checked.map((c) => ({ path: c.path, bytes: c.size, allocatedBytes: c.allocated, folder: c.folder, ...(c.companionOf ? { companionOf: c.companionOf } : {}), ...(c.linksLeft ? { linksLeft: true as const } : {}) })), write };
}

type Checked = Omit<Awaited<ReturnType<typeof checkPaths>>[number], 'ino' | 'links'> & { ino?: number; links?: number; companionOf?: string; linksLeft?: true };

/**
 * What removing gives back: a file with names left elsewhere gives back nothing (one link fewer), and one whose
 * every name is removed here gives its blocks once. A hard link was said to give back the file's whole size.
 */
function freedOnce(checked: Checked[]): Checked[] {
  const named = new Map<number, number>();
  for (const c of checked) if (c.ino !== undefined) named.set(c.ino, (named.get(c.ino) ?? 0) + 1);
  const counted = new Set<number>();
  return checked.map((c) => {
    if (c.ino === undefined || c.folder) return c;
    const every = named.get(c.ino)! >= (c.links ?? 1);
    const first = !counted.has(c.ino);
    counted.add(c.ino);
    if (every && first) return c;
    return { ...c, allocated: 0, ...(every ? {} : { linksLeft: true as const }) };
  });
}

/** A path named twice (or as /a/b and /a/./b) is removed once: the second removal found it gone. */
function dedupe(checked: Checked[]): Checked[] {
  return checked.filter((c, i) => checked.findIndex((d) => d.path === c.path) === i);
}

/**
 * A SQLite database (the recorder's home-assistant_v2.db) removed without its -wal, -shm or -journal file
 * left them beside the new database Home Assistant makes (sqlite-files.ts). They go with it, said as its
 * companions.
 */
async function withCompanions(src: OpenedSource, checked: Checked[]): Promise<Checked[]> {
  const out = [...checked];
  for (const c of checked) {
    if (c.folder || !isDatabase(c.path)) continue;
    for (const f of await companionsOf(src.volume, c.path)) {
      if (!out.some((o) => o.path === f.path)) out.push({ path: f.path, size: f.size, allocated: f.allocated, folder: false, companionOf: c.path });
    }
  }
  return out;
}

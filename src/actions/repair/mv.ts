// `mv`: renames or moves a file, folder or symbolic link on the card, e.g. a configuration file set aside
// as `configuration.yaml.broken`, a custom integration moved out of custom_components, or a backup moved
// out of the way. Into a folder when the target is one; a file may replace a file there (saved to the
// originals folder first), a folder only goes to a free name. One journal transaction.

import { assertEditableDir } from '../../ext4/dir-edit.js';
import { posix } from 'node:path';
import { AppError, InternalError, NotFoundError, UsageError } from '../../errors.js';
import { BlockEdits, moveFile } from '../../ext4/move-file.js';
import type { OpenedSource } from '../source.js';
import { type TreeChange, type WriteOptions, type WriteResult, writeFiles } from '../write/index.js';
import { givenFolder, namesFolder, noLinkOnTheWay, removalChange, repairPath } from './rm.js';
import { type CompanionFile, SQLITE_COMPANIONS, companionsOf, isDatabase } from './sqlite-files.js';

export interface MoveOptions extends WriteOptions {
  forceSystem?: boolean;
  /** Replace a file already at the new path (it is saved first); without it, such a move is refused. */
  replace?: boolean;
}

export interface MoveResult {
  from: string;
  to: string;
  replaced: boolean;
  /** SQLite's own files of a database moved (-wal, -shm, -journal): moved with it (`to`), or, beside the name it takes, removed (`to` null, saved first). */
  companions: Array<{ from: string; to: string | null }>;
  write: WriteResult;
}

function change(from: string, to: string, size: number): TreeChange {
  return {
    // The path whose original is saved: the file a move replaces (there is none for a plain rename).
    path: to,
    sizes: { oldSize: size, newSize: size },
    plan: async (vol, nowMs) => {
      const edits = new BlockEdits(vol);
      const fromDir = await vol.lookup(posix.dirname(from), { followFinal: true });
      const toDir = await vol.lookup(posix.dirname(to), { followFinal: true });
      await moveFile(edits, fromDir, posix.basename(from), toDir, posix.basename(to), nowMs);
      return edits.writes();
    },
    check: async (vol) => {
      if ((await vol.exists(from)) || !(await vol.exists(to))) throw new InternalError('NOT_MOVED', `${from} was not moved to ${to}`);
    },
  };
}

/**
 * Where `from` goes: into TO when TO is a folder; a TO ending in '/' names a folder that must be there (as mv
 * says "Not a directory"): it was taken as a new name, and `mv a.yaml .../secrets.yaml/ --force` replaced
 * secrets.yaml. The folder is joined before the path is checked: "X /supervisor/" is a file into it.
 */
export async function moveTarget(src: OpenedSource, from: string, toGiven: string, forceSystem: boolean): Promise<string> {
  if (!(await namesFolder(src, toGiven))) return repairPath(src, toGiven, forceSystem);
  const folder = await givenFolder(src, toGiven);
  return repairPath(src, posix.join(folder, posix.basename(from)), forceSystem);
}

export async function moveOnCard(src: OpenedSource, fromGiven: string, toGiven: string, opts: MoveOptions = {}): Promise<MoveResult> {
  const from = repairPath(src, fromGiven, opts.forceSystem ?? false);
  const inode = await src.volume.lookup(from).catch((err: unknown) => {
    if (err instanceof AppError && err.exitCode === 66) throw new NotFoundError('PATH_NOT_FOUND', `${from} does not exist on the card`, { hint: 'list its folder to see what is there; nothing was written', remedy: 'list-folder', details: { folder: posix.dirname(from) } });
    throw err;
  });
  if (inode.kind !== 'dir' && /\/\.?$/.test(fromGiven)) throw new UsageError('NOT_A_DIRECTORY', `${fromGiven} names a folder, but ${from} is ${inode.kind === 'symlink' ? 'a symbolic link' : 'a file'}`, { hint: 'give its path without the / at the end if the file is meant; nothing was written' });
  const to = await moveTarget(src, from, toGiven, opts.forceSystem ?? false);
  for (const path of [from, to]) await noLinkOnTheWay(src, path);
  if (to === from) throw new UsageError('SAME_PLACE', `${from} is there already: the move would leave it where it is`, { hint: 'name another folder, or a new name; nothing was written' });
  if (inode.kind === 'dir' && to.startsWith(`${from}/`)) throw new UsageError('MOVE_INTO_ITSELF', `${from} cannot be moved inside itself`, { hint: 'nothing was written' });
  if (inode.kind === 'dir' && (await src.volume.exists(to))) throw new UsageError('TARGET_EXISTS', `${to} already exists`, { hint: 'a folder is moved only to a free name; nothing was written' });
  const parent = await src.volume.lookup(posix.dirname(to), { followFinal: true }).catch(() => null);
  if (!parent || parent.kind !== 'dir') {
    // A file where the folder should be was said as "the folder ... does not exist" (put says what it is).
    const what = parent ? `${posix.dirname(to)} is ${parent.kind === 'file' ? 'a file' : 'not a folder'}, not a folder to move into` : `the folder ${posix.dirname(to)} does not exist on the card`;
    throw new NotFoundError('PATH_NOT_FOUND', what, { hint: 'move it into a folder that is there (mv makes none); nothing was written', remedy: 'list-folder', details: { folder: posix.dirname(posix.dirname(to)) } });
  }
  assertEditableDir(src.volume.sb, parent); // before looking a name up in it (case-insensitive folders are not)
  const replaced = await src.volume.exists(to);
  // A slip of the name (configuration.yaml onto secrets.yaml) must not cost a file: replacing is asked for.
  if (replaced && !opts.replace) {
    throw new UsageError('TARGET_EXISTS', `${to} already exists on the card`, { hint: 'name a new path, or replace that file (it is saved first); nothing was written', remedy: 'force' });
  }
  const companions = inode.kind === 'file' ? await companionMoves(src, from, to) : { removed: [], moved: [] };
  const write = await writeFiles(src, async () => [
    ...companions.removed.map((f) => removalChange(f.path, f.size, false)),
    change(from, to, inode.sizeBytes),
    ...companions.moved.map((f) => change(f.path, `${to}${f.suffix}`, f.size)),
  ], opts);
  const said = [...companions.removed.map((f) => ({ from: f.path, to: null })), ...companions.moved.map((f) => ({ from: f.path, to: `${to}${f.suffix}` }))];
  return { from, to, replaced, companions: said, write };
}

/**
 * A database moved (set aside, or put in place of another): its -wal, -shm and -journal go with it, and those
 * beside the name it takes are removed first, all of them (a log of another database, left beside it, damages
 * it; moved without its log, a database set aside loses its newest changes).
 */
async function companionMoves(src: OpenedSource, from: string, to: string): Promise<{ removed: CompanionFile[]; moved: CompanionFile[] }> {
  const companionNames = (a: string, b: string): boolean => SQLITE_COMPANIONS.some((suffix) => a === `${b}${suffix}`);
  if ((!isDatabase(from) && !isDatabase(to)) || to === from || companionNames(to, from) || companionNames(from, to)) return { removed: [], moved: [] };
  return { removed: await companionsOf(src.volume, to), moved: await companionsOf(src.volume, from) };
}

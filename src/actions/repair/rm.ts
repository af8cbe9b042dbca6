// `rm`: removes files from the card to give the space back (a full disk stops Home Assistant). Only below
// the Supervisor's folder unless the caller allows the rest of the system; folders are not removed (yet).
// The file's bytes are saved to the originals folder first (unless the caller says not to), then the
// removal (entry, blocks, inode) is one journal transaction.

import { posix } from 'node:path';
import { AppError, InternalError, NotFoundError, RefusedError, UsageError } from '../../errors.js';
import { BlockEdits, removeFile } from '../../ext4/create-file.js';
import { dataPath, type OpenedSource } from '../source.js';
import { type TreeChange, type WriteOptions, type WriteResult, writeFiles } from '../write-files.js';

export interface RemoveOptions extends WriteOptions {
  /** Allow paths outside the Supervisor's folder (the operating system's own data). */
  forceSystem?: boolean;
}

export interface RemoveResult {
  removed: Array<{ path: string; bytes: number; allocatedBytes: number }>;
  write: WriteResult;
}


function split(path: string): { parent: string; name: string } {
  const i = path.lastIndexOf('/');
  return { parent: path.slice(0, i) || '/', name: path.slice(i + 1) };
}

function change(path: string, size: number): TreeChange {
  const { parent, name } = split(path);
  return {
    path,
    sizes: { oldSize: size, newSize: 0 },
    plan: async (vol, nowMs) => {
      const edits = new BlockEdits(vol);
      await removeFile(edits, await vol.lookup(parent, { followFinal: true }), name, nowMs);
      return edits.writes();
    },
    check: async (vol) => {
      if (await vol.exists(path)) throw new InternalError('NOT_REMOVED', `${path} is still there after the write`);
    },
  };
}

/** The path normalised and checked to lie where repairs may write (below /supervisor unless allowed). */
export function repairPath(src: OpenedSource, given: string, forceSystem: boolean): string {
  // Normalised first: /supervisor/../etc must not pass as a path inside /supervisor.
  const path = posix.normalize(dataPath(given)).replace(/\/+$/, '');
  if (path === '' || path === '/') throw new UsageError('BAD_PATH', 'the root folder cannot be changed');
  const sup = src.layout.supervisorPath;
  if (!forceSystem && (sup === null || !path.startsWith(`${sup}/`))) {
    throw new RefusedError('OUTSIDE_SUPERVISOR', `${path} is outside ${sup ?? 'the Supervisor folder'}, where Home Assistant keeps its data`, {
      hint: 'changing the operating system\'s own files can stop the box from starting; add --force-system only if you know it is safe. Nothing was written',
    });
  }
  return path;
}

/** Checks every path before anything is planned: each must be a file (or link) inside what may be touched. */
async function checkPaths(src: OpenedSource, paths: string[], opts: RemoveOptions): Promise<Array<{ path: string; size: number; allocated: number }>> {
  const out = [];
  for (const given of paths) {
    const path = repairPath(src, given, opts.forceSystem ?? false);
    const inode = await src.volume.lookup(path).catch((err: unknown) => {
      if (err instanceof AppError && err.exitCode === 66) throw new NotFoundError('PATH_NOT_FOUND', `${path} does not exist on the card`, { hint: 'see what is there with haos-rescue ls or haos-rescue df; nothing was written' });
      throw err;
    });
    if (inode.kind === 'dir') throw new UsageError('IS_A_DIRECTORY', `${path} is a folder; rm removes files`, { hint: 'name the files inside it; nothing was written' });
    out.push({ path, size: inode.sizeBytes, allocated: inode.blocks * 512 });
  }
  return out;
}

export async function removeFiles(src: OpenedSource, paths: string[], opts: RemoveOptions = {}): Promise<RemoveResult> {
  if (paths.length === 0) throw new UsageError('NO_PATH', 'name at least one file to remove');
  const checked = await checkPaths(src, paths, opts);
  const write = await writeFiles(src, async () => checked.map((c) => change(c.path, c.size)), opts);
  return { removed: checked.map((c) => ({ path: c.path, bytes: c.size, allocatedBytes: c.allocated })), write };
}

// `safe-mode`: the next start of Home Assistant skips custom integrations and loads only its own. Home
// Assistant's own "Restart in safe mode" leaves an empty file named `safe-mode` in the config folder
// (homeassistant/config.py SAFE_MODE_FILENAME); at start it sees the file, removes it and starts in safe
// mode. This writes that same empty file, or with `off` removes it, through the journaled writer.

import { InternalError, NotFoundError, UsageError } from '../../errors.js';
import { BlockEdits, createEmptyFile, removeEmptyFile } from '../../ext4/create-file.js';
import type { OpenedSource } from '../source.js';
import { type TreeChange, type WriteOptions, type WriteResult, writeFiles } from '../write/index.js';

export const SAFE_MODE_FILE = 'safe-mode';

export interface SafeModeResult {
  path: string;
  /** What was asked: the marker there (on) or not (off). */
  on: boolean;
  /** False when the card was already so: nothing was written. */
  changed: boolean;
  write: WriteResult | null;
}


function change(config: string, on: boolean): TreeChange {
  const path = `${config}/${SAFE_MODE_FILE}`;
  return {
    path,
    sizes: { oldSize: 0, newSize: 0 },
    plan: async (vol, nowMs) => {
      const edits = new BlockEdits(vol);
      const dir = await vol.lookup(config, { followFinal: true });
      if (on) await createEmptyFile(edits, dir, SAFE_MODE_FILE, 0o644, nowMs);
      else await removeEmptyFile(edits, dir, SAFE_MODE_FILE, nowMs);
      return edits.writes();
    },
    check: async (vol) => {
      if ((await vol.exists(path)) !== on) throw new InternalError('SAFE_MODE_NOT_SET', `${path} is ${on ? 'missing' : 'still there'} after the write`);
    },
  };
}

export async function setSafeMode(src: OpenedSource, on: boolean, opts: WriteOptions = {}): Promise<SafeModeResult> {
  const config = src.layout.configPath;
  if (!config) throw new NotFoundError('NO_CONFIG', 'no Home Assistant configuration folder on this filesystem');
  const path = `${config}/${SAFE_MODE_FILE}`;
  if ((await markThere(src, path, on)) === on) return { path, on, changed: false, write: null };
  const write = await writeFiles(src, async () => [change(config, on)], opts);
  return { path, on, changed: true, write };
}

/**
 * Whether Home Assistant sees the mark as its start does (os.path.exists, which follows a symbolic link, then
 * os.remove): a link to nothing is no mark, and a folder of that name is one its start cannot remove. Both
 * were said as "already set".
 */
async function markThere(src: OpenedSource, path: string, on: boolean): Promise<boolean> {
  const entry = await src.volume.lookup(path).catch(() => null);
  if (entry === null) return false;
  if (entry.kind === 'dir') {
    throw new UsageError('SAFE_MODE_FOLDER', `${path} is a folder: Home Assistant's start takes it for the safe-mode mark and then fails to remove it`, { hint: 'set the folder aside (rename or move it) and try again; nothing was written' });
  }
  if (entry.kind !== 'symlink') return true;
  const target = await src.volume.lookup(path, { followFinal: true }).catch(() => null);
  if (target !== null || !on) return target !== null;
  throw new UsageError('SAFE_MODE_DANGLING_LINK', `${path} is a symbolic link to something that is not there: Home Assistant does not take it for the safe-mode mark`, { hint: 'remove the link and try again; nothing was written' });
}

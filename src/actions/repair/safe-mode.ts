// `safe-mode`: the next start of Home Assistant skips custom integrations and loads only its own. Home
// Assistant's own "Restart in safe mode" leaves an empty file named `safe-mode` in the config folder
// (homeassistant/config.py SAFE_MODE_FILENAME); at start it sees the file, removes it and starts in safe
// mode. This writes that same empty file, or with `off` removes it, through the journaled writer.

import { InternalError, NotFoundError, UsageError } from '../../errors.js';
import { BlockEdits, createEmptyFile, removeEmptyFile, removeFile } from '../../ext4/create-file.js';
import type { Inode } from '../../ext4/inode.js';
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
      else await removeMark(edits, dir, nowMs);
      return edits.writes();
    },
    check: async (vol) => {
      if ((await vol.exists(path)) !== on) throw new InternalError('SAFE_MODE_NOT_SET', `${path} is ${on ? 'missing' : 'still there'} after the write`);
    },
  };
}

/** The mark as Home Assistant's start removes it (os.remove): an empty file, or a link (never what it points to). */
async function removeMark(edits: BlockEdits, dir: Inode, nowMs: number): Promise<void> {
  const entry = await edits.vol.findEntry(dir, Buffer.from(SAFE_MODE_FILE));
  const inode = entry ? await edits.vol.readInode(entry.ino) : null;
  if (inode?.kind === 'symlink') await removeFile(edits, dir, SAFE_MODE_FILE, nowMs);
  else await removeEmptyFile(edits, dir, SAFE_MODE_FILE, nowMs);
}

export async function setSafeMode(src: OpenedSource, on: boolean, opts: WriteOptions = {}): Promise<SafeModeResult> {
  const config = src.layout.configPath;
  if (!config) throw new NotFoundError('NO_CONFIG', 'no Home Assistant configuration folder on this filesystem');
  const path = `${config}/${SAFE_MODE_FILE}`;
  if ((await markThere(src, path, on)) === on) return { path, on, changed: false, write: null };
  const write = await writeFiles(src, async () => [change(config, on)], opts);
  return { path, on, changed: true, write };
}

type MarkKind = 'none' | 'file' | 'folder' | 'dangling-link';

/**
 * What stands at the mark's name as Home Assistant's start sees it (os.path.exists, which follows a symbolic
 * link, then os.remove): a link to nothing is no mark; a folder is taken for one, and its start then cannot
 * remove it.
 */
async function markKind(src: OpenedSource, path: string): Promise<MarkKind> {
  const entry = await src.volume.lookup(path).catch(() => null);
  if (entry === null) return 'none';
  if (entry.kind === 'dir') return 'folder';
  if (entry.kind !== 'symlink') return 'file';
  const target = await src.volume.lookup(path, { followFinal: true }).catch(() => null);
  if (target === null) return 'dangling-link';
  return target.kind === 'dir' ? 'folder' : 'file';
}

/** Whether the next start of Home Assistant is in safe mode, read only: what the window shows. */
export async function safeModeState(src: OpenedSource): Promise<{ path: string; on: boolean }> {
  const path = `${src.layout.configPath}/${SAFE_MODE_FILE}`;
  const kind = await markKind(src, path);
  return { path, on: kind === 'file' || kind === 'folder' };
}

/**
 * Whether the mark is there, for a change to `on`; a folder, and a link to nothing when setting, are refused
 * (both were said as "already set"). Exported for the window's plan, which must refuse what the command refuses.
 */
export async function markThere(src: OpenedSource, path: string, on: boolean): Promise<boolean> {
  const kind = await markKind(src, path);
  if (kind === 'folder') {
    throw new UsageError('SAFE_MODE_FOLDER', `${path} is a folder: Home Assistant's start takes it for the safe-mode mark and then fails to remove it`, { hint: 'set the folder aside (rename or move it) and try again; nothing was written' });
  }
  if (kind === 'dangling-link' && on) {
    throw new UsageError('SAFE_MODE_DANGLING_LINK', `${path} is a symbolic link to something that is not there: Home Assistant does not take it for the safe-mode mark`, { hint: 'remove the link and try again; nothing was written' });
  }
  return kind === 'file';
}

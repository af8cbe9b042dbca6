// A folder's removal as a list of steps, each consistent on its own (the files of one folder, up to
// STEP_FILES at a time; then each folder once it is empty, deepest first; the named folder last). The
// writer puts as many steps in one journal transaction as fit, so a folder that fits the journal still
// goes in one transaction, all or nothing; a larger one goes in several, and a power cut between two
// leaves a consistent card with part of the folder removed.

import { AppError, RefusedError, REPAIR } from '../../errors.js';
import { BlockEdits } from '../../ext4/create-file.js';
import { isDotOrDotDot } from '../../ext4/dir.js';
import type { Inode } from '../../ext4/inode.js';
import { removeNames, removeTree } from '../../ext4/remove-tree.js';
import type { Ext4Volume } from '../../ext4/volume.js';
import { displayName } from '../../ext4/path.js';
import { inodesOf } from '../../ext4/walk.js';
import type { TreeChange } from '../write/index.js';

const STEP_FILES = 256;
const MAX_DEPTH = 256;

function step(path: string, plan: (edits: BlockEdits, vol: Ext4Volume, nowMs: number) => Promise<unknown>): TreeChange {
  return {
    path,
    originals: false,
    sizes: { oldSize: 0, newSize: 0 },
    plan: async (vol, nowMs) => {
      const edits = new BlockEdits(vol);
      await plan(edits, vol, nowMs);
      return edits.writes();
    },
    check: async () => {},
  };
}

/** The steps that empty folder `dir` (shown as `path`), its subfolders removed after their own contents. */
async function emptying(vol: Ext4Volume, dir: Inode, path: string, depth: number, out: TreeChange[]): Promise<void> {
  if (depth > MAX_DEPTH) throw new RefusedError('TREE_TOO_DEEP', `the folder tree is deeper than ${MAX_DEPTH} levels (a damaged loop?)`, { ...REPAIR });
  const listing = await vol.listDir(dir);
  if (listing.lost.length > 0) throw listing.lost[0]!;
  const files: Array<{ name: Buffer; block: number }> = [];
  const entries = listing.entries.filter((e) => !isDotOrDotDot(e.name));
  // Read in inode table order (walk.ts): a large folder's names come in hash order.
  const inodes = await inodesOf(vol, entries);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const child = inodes[i]!;
    if (child instanceof AppError) throw child;
    if (child.kind !== 'dir') {
      files.push({ name: e.name, block: e.block ?? 0 });
      continue;
    }
    const childPath = `${path}/${displayName(e.name)}`;
    await emptying(vol, child, childPath, depth + 1, out);
    out.push(step(childPath, async (edits, v, nowMs) => removeTree(edits, await v.readInode(dir.ino), e.name, nowMs)));
  }
  // The listing is in block order: each step's names are looked for from the block of its first one.
  for (let i = 0; i < files.length; i += STEP_FILES) {
    const chunk = files.slice(i, i + STEP_FILES);
    const from = Math.min(...chunk.map((f) => f.block));
    const names = chunk.map((f) => f.name);
    out.push(step(path, (edits, _v, nowMs) => removeNames(edits, dir.ino, names, nowMs, from)));
  }
}

/** Steps removing everything below folder `path` (read on `vol`, the state before the change); the folder itself is the caller's last step. */
export async function folderContentSteps(vol: Ext4Volume, path: string): Promise<TreeChange[]> {
  const out: TreeChange[] = [];
  await emptying(vol, await vol.lookup(path), path, 0, out);
  return out;
}

// `put`: a file from this computer onto the card, new or in place of one there (a configuration file
// broken by an edit, put back from a backup or an export). A replaced file keeps its owner and mode and
// is saved to the originals folder first; the new content and the metadata are one journal transaction,
// so a power cut leaves the old file or the new one.

import { readFile, stat } from 'node:fs/promises';
import { AppError, InternalError, NotFoundError, UsageError } from '../../errors.js';
import { BlockEdits } from '../../ext4/create-file.js';
import { CHUNK_BYTES } from '../../ext4/file-data.js';
import { putFile } from '../../ext4/put-file.js';
import type { OpenedSource } from '../source.js';
import { type TreeChange, type WriteOptions, type WriteResult, writeFiles } from '../write-files.js';
import { repairPath } from './rm.js';

/** The largest file put in one go: its bytes go through the journal and are rehearsed in memory. */
export const MAX_PUT_BYTES = 256 * 1024 * 1024;

export interface PutOptions extends WriteOptions {
  forceSystem?: boolean;
}

export interface PutResult {
  path: string;
  bytes: number;
  replaced: boolean;
  write: WriteResult;
}

async function readLocal(local: string): Promise<Buffer> {
  const st = await stat(local).catch(() => null);
  if (!st?.isFile()) throw new NotFoundError('LOCAL_FILE_NOT_FOUND', `${local} is not a file on this computer`, { hint: 'give the path of the file to put onto the card; nothing was written' });
  if (st.size > MAX_PUT_BYTES) throw new UsageError('FILE_TOO_BIG', `${local} is ${st.size} bytes; put takes files up to ${MAX_PUT_BYTES}`, { hint: 'nothing was written' });
  return readFile(local);
}

function change(path: string, content: Buffer, oldSize: number): TreeChange {
  const slash = path.lastIndexOf('/');
  return {
    path,
    sizes: { oldSize, newSize: content.length },
    plan: async (vol, nowMs) => {
      const edits = new BlockEdits(vol);
      await putFile(edits, await vol.lookup(path.slice(0, slash) || '/', { followFinal: true }), path.slice(slash + 1), content, nowMs);
      return edits.writes();
    },
    check: async (vol) => {
      // Compared piece by piece, read into one reused buffer: a big file is not held twice (and memory
      // touched for the first time is what costs most here: 0.3 s for 100 MiB on the benchmark machine).
      const inode = await vol.lookup(path);
      const slot = [Buffer.allocUnsafeSlow(CHUNK_BYTES)];
      let at = 0;
      for await (const piece of vol.stream(inode, 0, undefined, slot)) {
        if (!piece.equals(content.subarray(at, at + piece.length))) break;
        at += piece.length;
      }
      if (at !== content.length || inode.sizeBytes !== content.length) throw new InternalError('PUT_READ_BACK', `${path} does not read back as the file that was put`);
    },
  };
}

export async function putLocalFile(src: OpenedSource, local: string, target: string, opts: PutOptions = {}): Promise<PutResult> {
  const path = repairPath(src, target, opts.forceSystem ?? false);
  const content = await readLocal(local);
  const slash = path.lastIndexOf('/');
  const parent = await src.volume.lookup(path.slice(0, slash) || '/', { followFinal: true }).catch((err: unknown) => {
    if (err instanceof AppError && err.exitCode === 66) throw new NotFoundError('PATH_NOT_FOUND', `the folder ${path.slice(0, slash)} does not exist on the card`, { hint: 'nothing was written' });
    throw err;
  });
  if (parent.kind !== 'dir') throw new UsageError('NOT_A_DIRECTORY', `${path.slice(0, slash)} is not a folder`, { hint: 'nothing was written' });
  const existing = await src.volume.lookup(path).catch(() => null);
  if (existing && existing.kind !== 'file') throw new UsageError('NOT_A_FILE', `${path} exists and is not a regular file`, { hint: 'nothing was written' });
  const write = await writeFiles(src, async () => [change(path, content, existing?.sizeBytes ?? 0)], opts);
  return { path, bytes: content.length, replaced: existing !== null, write };
}

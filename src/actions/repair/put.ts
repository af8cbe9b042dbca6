// `put`: a file from this computer onto the card, new or in place of one there (a configuration file
// broken by an edit, put back from a backup or an export). A replaced file keeps its owner and mode and
// is saved to the originals folder first; a new one is root's, mode 0644 (0755 when this computer marks
// it executable). The new content and the metadata are one journal transaction, so a power cut leaves the
// old file or the new one.

import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { basename, posix } from 'node:path';
import { AppError, InternalError, IoError, NotFoundError, UsageError } from '../../errors.js';
import { BlockEdits } from '../../ext4/create-file.js';
import { CHUNK_BYTES } from '../../ext4/file-data.js';
import { putFile } from '../../ext4/put-file.js';
import type { Ext4Volume } from '../../ext4/volume.js';
import type { OpenedSource } from '../source.js';
import { type TreeChange, type WriteOptions, type WriteResult, writeFiles } from '../write/index.js';
import { givenFolder, namesFolder, noLinkOnTheWay, removalChange, repairPath } from './rm.js';
import { companionsOf, isDatabase } from './sqlite-files.js';

/**
 * Files up to this size are read into memory and rehearsed byte for byte; larger ones (a recorder database)
 * are read from this computer in pieces as they are written, and compared with the card in pieces after:
 * memory stays small whatever the size (and on the benchmark machine, memory touched for the first time
 * costs ~3 ms a MiB).
 */
export const HELD_PUT_BYTES = 16 * 1024 * 1024;

export interface PutOptions extends WriteOptions {
  forceSystem?: boolean;
}

export interface PutResult {
  path: string;
  bytes: number;
  replaced: boolean;
  /** The mode a new file was given (0644, or 0755 for a file this computer marks executable); null when one was replaced. */
  mode: number | null;
  /** SQLite's own files beside the database put (its -wal, -shm, -journal), removed first (saved): left, they damage it. */
  companionsRemoved: string[];
  /** The file replaced had this many other names (hard links): they keep its old bytes. */
  otherNames: number;
  write: WriteResult;
}

/** The file to put: its bytes in memory (small), or an open handle read a piece at a time. */
type LocalContent = HeldContent | StreamedContent;

interface HeldContent {
  length: number;
  held: Buffer;
  /** The mode a new file gets (a replaced one keeps its own). */
  mode: number;
}

interface StreamedContent {
  length: number;
  held: null;
  mode: number;
  /** Fills `into` from `offset` on, zeros past the end; refuses when the file has become shorter. */
  read(offset: number, into: Buffer): Promise<void>;
  /** Whether the file's size or modification time is no longer what it was when opened. */
  changed(): Promise<boolean>;
  close(): Promise<void>;
}

const changedWhilePut = (local: string) =>
  new IoError('LOCAL_FILE_CHANGED', `${local} changed while it was being put onto the card`, { hint: 'make sure nothing writes to it, then run the command again' });

async function readFully(fh: FileHandle, local: string, offset: number, into: Buffer, length: number): Promise<void> {
  const want = Math.max(0, Math.min(into.length, length - offset));
  for (let got = 0; got < want; ) {
    const { bytesRead } = await fh.read(into, got, want - got, offset + got);
    if (bytesRead === 0) throw changedWhilePut(local);
    got += bytesRead;
  }
  into.fill(0, want);
}

async function openLocal(local: string): Promise<LocalContent> {
  // O_NONBLOCK: a FIFO given as the file must not hold open(2) until some writer comes; fstat refuses it.
  const fh = await open(local, constants.O_RDONLY | constants.O_NONBLOCK).catch(() => null);
  const st = await fh?.stat().catch(() => null);
  if (!fh || !st?.isFile()) {
    await fh?.close();
    throw new NotFoundError('LOCAL_FILE_NOT_FOUND', `${local} is not a file on this computer`, { hint: 'give the path of the file to put onto the card; nothing was written' });
  }
  const length = st.size;
  // A script put back (run by a shell_command) stays one; Windows marks no file executable.
  const mode = process.platform !== 'win32' && (st.mode & 0o100) !== 0 ? 0o755 : 0o644;
  // A file that says it is empty but is made as it is read (/proc, /sys): an empty file was put, said done.
  if (length === 0 && (await fh.read(Buffer.alloc(1), 0, 1, 0).catch(() => ({ bytesRead: 0 }))).bytesRead > 0) {
    await fh.close();
    throw new UsageError('LOCAL_FILE_SIZELESS', `${local} says it is empty but gives bytes when read (a file the system makes as it is read)`, { hint: 'copy it to an ordinary file first, and put that one; nothing was written' });
  }
  const read = (offset: number, into: Buffer) => readFully(fh, local, offset, into, length);
  if (length > HELD_PUT_BYTES) {
    const changed = async () => {
      const now = await fh.stat();
      return now.size !== st.size || now.mtimeMs !== st.mtimeMs;
    };
    return { length, held: null, mode, read, changed, close: () => fh.close() };
  }
  try {
    const held = Buffer.alloc(length);
    await read(0, held);
    return { length, held, mode };
  } finally {
    await fh.close();
  }
}

/** Whether the file's blocks are all mapped (no hole, nothing unwritten): what the rehearsal can see of streamed data. */
async function fullyMapped(vol: Ext4Volume, path: string, length: number): Promise<boolean> {
  const layout = await vol.layout(await vol.lookup(path));
  let next = 0;
  for (const r of layout.runs ?? []) {
    if (r.logical !== next || r.uninit) return false;
    next += r.length;
  }
  return next === Math.ceil(length / vol.sb.blockSize);
}

/** The bytes the card should hold at [at, at + length) (length up to CHUNK_BYTES): from memory, or read into one reused buffer. */
function expectedBytes(content: LocalContent): (at: number, length: number) => Promise<Buffer> {
  if (content.held !== null) {
    const held = content.held;
    return async (at, length) => held.subarray(at, at + length);
  }
  const mine = Buffer.allocUnsafeSlow(CHUNK_BYTES);
  return async (at, length) => {
    const want = mine.subarray(0, length);
    await content.read(at, want);
    return want;
  };
}

function change(path: string, content: LocalContent, oldSize: number): TreeChange {
  const slash = path.lastIndexOf('/');
  const readBack = () => new InternalError('PUT_READ_BACK', `${path} does not read back as the file that was put`);
  return {
    path,
    sizes: { oldSize, newSize: content.length },
    plan: async (vol, nowMs) => {
      const edits = new BlockEdits(vol);
      await putFile(edits, await vol.lookup(path.slice(0, slash) || '/', { followFinal: true }), path.slice(slash + 1), content.held ?? content, nowMs, { mode: content.mode, uid: 0, gid: 0 });
      return edits.writes();
    },
    check: async (vol, rehearsal) => {
      const inode = await vol.lookup(path);
      if (inode.sizeBytes !== content.length) throw readBack();
      if (rehearsal && content.held === null) {
        if (!(await fullyMapped(vol, path, content.length))) throw readBack();
        return;
      }
      // Compared piece by piece, read into reused buffers: a big file is never held.
      const slot = Buffer.allocUnsafeSlow(CHUNK_BYTES);
      const expected = expectedBytes(content);
      let at = 0;
      for await (const piece of vol.stream(inode, 0, undefined, [slot])) {
        if (!piece.equals(await expected(at, piece.length))) break;
        at += piece.length;
      }
      // Read twice (written, then compared): a file that changed in between may have gone in torn.
      if (!rehearsal && content.held === null && (await content.changed())) {
        throw new IoError('LOCAL_FILE_CHANGED', `${path} was written, but the file on this computer changed while it was being put`, { hint: 'make sure nothing writes to it, then run the command again to put it whole' });
      }
      if (at !== content.length) throw readBack();
    },
  };
}

export async function putLocalFile(src: OpenedSource, local: string, target: string, opts: PutOptions = {}): Promise<PutResult> {
  const path = await intoFolder(src, target, local, opts.forceSystem ?? false);
  const content = await openLocal(local);
  try {
    return await putContent(src, path, content, opts);
  } finally {
    if (content.held === null) await content.close();
  }
}

/** Puts `bytes` (held in memory: a file from a backup) at `target` on the card, as putLocalFile puts a file. */
export async function putBytes(src: OpenedSource, bytes: Buffer, target: string, opts: PutOptions = {}): Promise<PutResult> {
  return putContent(src, repairPath(src, target, opts.forceSystem ?? false), { length: bytes.length, held: bytes, mode: 0o644 }, opts);
}

/**
 * A PATH that is a folder on the card (or ends in '/', and then must be one) takes the file under its own
 * name, as cp does; the folder is joined before the path is checked ("put f /supervisor/" was refused as
 * changing /supervisor as a whole).
 */
async function intoFolder(src: OpenedSource, given: string, local: string, forceSystem: boolean): Promise<string> {
  const named = (folder: string): string => {
    const name = basename(local);
    if (name === '' || name === '.' || name === '..') throw new UsageError('BAD_PATH', `${local} has no file name to give it in ${folder}`, { hint: 'give the full path on the card, folder and name; nothing was written' });
    return `${folder === '/' ? '' : folder}/${name}`;
  };
  if (await namesFolder(src, given)) return repairPath(src, named(await givenFolder(src, given)), forceSystem);
  return repairPath(src, given, forceSystem);
}

async function putContent(src: OpenedSource, path: string, content: LocalContent, opts: PutOptions): Promise<PutResult> {
  await noLinkOnTheWay(src, path);
  const slash = path.lastIndexOf('/');
  const parent = await src.volume.lookup(path.slice(0, slash) || '/', { followFinal: true }).catch((err: unknown) => {
    if (err instanceof AppError && err.exitCode === 66) throw new NotFoundError('PATH_NOT_FOUND', `the folder ${path.slice(0, slash)} does not exist on the card`, { hint: 'put it into a folder that is there (put makes none); nothing was written', remedy: 'list-folder', details: { folder: posix.dirname(path.slice(0, slash) || '/') } });
    throw err;
  });
  if (parent.kind !== 'dir') throw new UsageError('NOT_A_DIRECTORY', `${path.slice(0, slash)} is a file, not a folder: nothing can be put inside it`, { hint: 'name a path in a folder; nothing was written', remedy: 'list-folder', details: { folder: posix.dirname(path.slice(0, slash) || '/') } });
  const existing = await src.volume.lookup(path).catch(() => null);
  if (existing && existing.kind !== 'file') {
    throw new UsageError('NOT_A_FILE', `${path} exists and is ${existing.kind === 'symlink' ? 'a symbolic link' : 'not a regular file (a device, pipe or socket)'}: put replaces files only`, {
      hint: 'name another path, or remove that one first (it is saved as it is removed); nothing was written',
    });
  }
  // Removed before the database is put: a change split into transactions never leaves the new one beside them.
  const stale = isDatabase(path) ? await companionsOf(src.volume, path) : [];
  const write = await writeFiles(src, async () => [...stale.map((f) => removalChange(f.path, f.size, false)), change(path, content, existing?.sizeBytes ?? 0)], opts);
  return { path, bytes: content.length, replaced: existing !== null, mode: existing ? null : content.mode, companionsRemoved: stale.map((f) => f.path), otherNames: Math.max(0, (existing?.linksCount ?? 1) - 1), write };
}

// An operating-system error while writing to this computer (export, backup extract): the output is the
// problem, not the card, so it ends the command with a message about the output folder and what to do.

import { lstatSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { AppError, IoError, RefusedError, UsageError, toAppError } from '../errors.js';
import { TOO_BIG_HINT } from './output-fs.js';

export function outputError(err: unknown, out: string): AppError {
  if (err instanceof AppError) return err;
  const code = (err as NodeJS.ErrnoException | null)?.code;
  const options = { cause: err, details: { out, errno: code } };
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new IoError('OUTPUT_FULL', `no space left where the copy goes (${out})`, { ...options, hint: 'free some space there, or choose a folder on another disk; the card was not changed' });
    case 'EACCES':
    case 'EPERM':
      return new RefusedError('OUTPUT_NO_PERMISSION', `no permission to write to ${out}`, { ...options, hint: 'choose a folder you can write to' });
    case 'EROFS':
      return new RefusedError('OUTPUT_READ_ONLY', `${out} is on a read-only disk`, { ...options, hint: 'choose a folder on a writable disk' });
    case 'EFBIG':
      return fileTooBig(out, err);
    case 'ENOTDIR':
      return new UsageError('OUT_NOT_A_FOLDER', `${out} cannot be written: a folder on its way is a file`, { ...options, hint: 'name a place in a folder that exists, or a new folder; nothing was copied' });
    case 'ENOENT':
      // A folder that exists but takes no new files (/proc, /sys, some FUSE disks), or one removed meanwhile.
      return new UsageError('OUTPUT_CANNOT_CREATE', `${out} cannot be created: its folder takes no new files there, or was removed`, { ...options, hint: 'choose a folder on a disk of this computer, e.g. in your home folder' });
    case 'EEXIST':
    case 'EISDIR':
    case 'ELOOP': {
      // Written over what was there before (an earlier copy, replaced): a folder or a link of the same name
      // stands where a file goes, or the other way round. It said "writing to OUT failed: EEXIST".
      const e = err as NodeJS.ErrnoException & { dest?: string };
      const at = e.dest ?? e.path ?? out;
      return new UsageError('OUTPUT_IN_THE_WAY', `${at} is in the way: ${whatIsAt(at)} of that name is already there, where the copy puts another kind`, {
        ...options,
        hint: `move ${at} aside (or remove it), or choose a new folder; the card was not changed`,
      });
    }
    case 'EIO':
      return new IoError('OUTPUT_IO_ERROR', `the disk that ${out} is on reported an I/O error`, { ...options, hint: 'choose a folder on another disk' });
    default:
      return code ? new IoError('OUTPUT_FAILED', `writing to ${out} failed: ${code}`, { ...options, hint: 'check the folder the copy goes to, and try again' }) : toAppError(err);
  }
}

function whatIsAt(path: string): string {
  const st = (() => {
    try {
      return lstatSync(path);
    } catch {
      return null;
    }
  })();
  return st?.isDirectory() ? 'a folder' : st?.isSymbolicLink() ? 'a symbolic link' : st ? 'a file' : 'something';
}

/** A write the output's disk refused as past its largest file (EFBIG: FAT32 holds 4 GiB at most). */
export function fileTooBig(out: string, cause: unknown): RefusedError {
  return new RefusedError('OUTPUT_FILE_TOO_BIG', `a file grew past the largest the disk of ${out} holds (FAT32: 4 GiB)`, { cause, details: { out, errno: 'EFBIG' }, hint: TOO_BIG_HINT });
}

/**
 * Creates an output folder with its parents, one level at a time: Node's recursive mkdir never ends where
 * mkdir answers ENOENT under a folder that exists (/proc, some FUSE disks). A file in the way, or a disk
 * that refuses, is said as such.
 */
export async function makeOutputFolder(dir: string): Promise<void> {
  const missing: string[] = [];
  try {
    for (let p = resolve(dir); ; p = dirname(p)) {
      const st = await stat(p).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return null;
        throw err;
      });
      if (st?.isDirectory()) break;
      if (st) throw Object.assign(new Error(`${p} is a file`), { code: 'ENOTDIR' });
      missing.push(p);
      if (dirname(p) === p) break;
    }
    for (const p of missing.reverse()) {
      await mkdir(p).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException | null)?.code;
    if (code === 'EEXIST' || code === 'ENOTDIR') {
      throw new UsageError('OUT_NOT_A_FOLDER', `${dir} cannot be a folder: it, or a folder above it, is a file`, { hint: 'name a new folder, or one that exists; nothing was copied', cause: err });
    }
    throw outputError(err, dir);
  }
}

// An operating-system error while writing to this computer (export, backup extract): the output is the
// problem, not the card, so it ends the command with a message about the output folder and what to do.

import { AppError, IoError, RefusedError, toAppError } from '../errors.js';
import { TOO_BIG_HINT } from './output-fs.js';

export function outputError(err: unknown, out: string): AppError {
  if (err instanceof AppError) return err;
  const code = (err as NodeJS.ErrnoException | null)?.code;
  const options = { cause: err, details: { out, errno: code } };
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new IoError('OUTPUT_FULL', `no space left where the copy goes (${out})`, { ...options, hint: 'free some space or choose a folder on another disk with --out; the card was not changed' });
    case 'EACCES':
    case 'EPERM':
      return new RefusedError('OUTPUT_NO_PERMISSION', `no permission to write to ${out}`, { ...options, hint: 'choose a folder you can write to with --out' });
    case 'EROFS':
      return new RefusedError('OUTPUT_READ_ONLY', `${out} is on a read-only disk`, { ...options, hint: 'choose a folder on a writable disk with --out' });
    case 'EFBIG':
      return fileTooBig(out, err);
    case 'EIO':
      return new IoError('OUTPUT_IO_ERROR', `the disk that ${out} is on reported an I/O error`, { ...options, hint: 'choose a folder on another disk with --out' });
    default:
      return code ? new IoError('OUTPUT_FAILED', `writing to ${out} failed: ${code}`, { ...options, hint: 'check the --out folder and run the command again' }) : toAppError(err);
  }
}

/** A write the output's disk refused as past its largest file (EFBIG: FAT32 holds 4 GiB at most). */
export function fileTooBig(out: string, cause: unknown): RefusedError {
  return new RefusedError('OUTPUT_FILE_TOO_BIG', `a file grew past the largest the disk of ${out} holds (FAT32: 4 GiB)`, { cause, details: { out, errno: 'EFBIG' }, hint: TOO_BIG_HINT });
}

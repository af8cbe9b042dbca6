// A damaged structure met while reading one file is that file's problem: the error names the file (the
// engine's message names only an inode number) and says what can still be done.

import { CorruptError, IoError } from '../errors.js';

const DAMAGED_HINT =
  'its record on the card is damaged, so the kernel would not read it either; the other files can still be read, ' +
  'and once they are copied, the box can often repair it at its next start with the card marked for a full check (or e2fsck on a copy of the card)';

/**
 * `err` with `path` named in it when it is damage in the filesystem, or bytes the card (or the image's map)
 * could not give: their message named a byte range alone. Any other error as it is.
 */
export function inFile(path: string, err: unknown): unknown {
  if (err instanceof IoError && !err.message.includes(path)) {
    return new IoError(err.code, `${path} cannot be read: ${err.message}`, { ...(err.hint === undefined ? {} : { hint: err.hint }), details: err.details, cause: err }, err.exitCode as 65 | 74);
  }
  if (!(err instanceof CorruptError) || err.message.includes(path)) return err;
  return new CorruptError(err.code, `${path} cannot be read: ${err.message}`, {
    hint: err.hint ?? DAMAGED_HINT,
    details: err.hint === undefined ? { ...err.details, remedy: 'check-at-start' } : err.details,
    cause: err,
  });
}

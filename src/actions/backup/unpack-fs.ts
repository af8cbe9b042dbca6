// The unpacking's own file calls. They are synchronous, as the export's are: each is a few microseconds, where
// a round trip through the thread pool costs far more (100,000 small files took 85 s, almost all of it waiting).

import { type Stats, lstatSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';

/** lstat, or null when nothing of that name is there (or it cannot be looked at): as `lstat().catch(() => null)`. */
function lstatIfThere(path: string): ReturnType<typeof lstatSync> | null {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

/**
 * Makes the folder `path`; null when it made it, else what is there already (lstat: a link is not followed).
 * The folder is made first and looked at only when something is there: each call walks the whole path in the
 * kernel, once rather than twice in a deep tree.
 */
export function madeOrThere(path: string, mode: number): Stats | null {
  try {
    mkdirSync(path, { mode });
    return null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return lstatSync(path);
  }
}

/** A new file at `path` (an existing file or link of that name, from an earlier member, is replaced); its descriptor. */
export function createFile(path: string): number {
  try {
    return openSync(path, 'wx', 0o600);
  } catch (err) {
    // Something of that name is there: a file or link is replaced; a folder never is (the error stands).
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const st = lstatIfThere(path);
    if (!st || st.isDirectory()) throw err;
    rmSync(path);
    return openSync(path, 'wx', 0o600);
  }
}

export function writeAll(fd: number, chunk: Buffer): void {
  for (let done = 0; done < chunk.length; ) done += writeSync(fd, chunk, done, chunk.length - done);
}

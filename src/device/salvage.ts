// A read the card (or an image's map) cannot give whole: the bytes before the first piece that fails, read
// piece by piece, and then that piece's error. A bad block at the end of a 1 MiB read cost the whole read:
// a file's bytes before it, and a backup's archive everything before it (its files before the damage unwritten).

import { IoError } from '../errors.js';

/**
 * Yields `read(at, n)`; when it fails with an I/O error (a bad sector, bytes not rescued) and `n` is more than
 * `step`, yields instead what reads in pieces of `step` bytes up to the first that fails, then throws that
 * piece's error (it names the bytes exactly). A read that fails whole and then reads in pieces is yielded whole.
 */
export async function* readOrSalvage(read: (at: number, n: number, first: boolean) => Promise<Buffer>, at: number, n: number, step: number): AsyncGenerator<Buffer> {
  try {
    yield await read(at, n, true);
    return;
  } catch (err) {
    if (!(err instanceof IoError) || n <= step) throw err;
  }
  const good: Buffer[] = [];
  for (let done = 0; done < n; done += step) {
    try {
      good.push(await read(at + done, Math.min(step, n - done), false));
    } catch (err) {
      if (good.length > 0) yield Buffer.concat(good);
      throw err;
    }
  }
  yield Buffer.concat(good);
}

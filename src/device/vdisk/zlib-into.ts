// Raw deflate inflated straight into a given place, one cluster at a time, as QEMU's qcow2_zlib_decompress
// does: the cluster must be filled; the stream may go on past it (its length is only known to the sector).
// One inflater serves every stream, reset between them: inflateRawSync makes a new stream object and a fresh
// result buffer per cluster, which the caller then copies. Where Node's zlib handle is not as expected,
// inflateRawSync and a copy (then a stream longer than the cluster is refused).
// The code is a self-contained string so that the inflating threads (inflate-pool.ts) run the same code as
// the event loop's thread.

import * as zlib from 'node:zlib';

/** Fills `dest[at, at + size)` from `input`; returns the bytes produced, throws the decoder's error. */
export type InflateInto = (input: Uint8Array, dest: Uint8Array, at: number, size: number) => number;

/** Source of a function (zlib) => InflateInto. */
export const INFLATER_SOURCE = `function makeInflater(zlib) {
  const SYNC = zlib.constants.Z_SYNC_FLUSH;
  let inflater = null;
  let handle = null;
  let failure = null;
  function newInflater() {
    inflater = zlib.createInflateRaw();
    handle = inflater._handle;
    const usable = handle && typeof handle.writeSync === 'function' && typeof handle.reset === 'function' && inflater._writeState instanceof Uint32Array;
    if (!usable) {
      handle = null;
      return;
    }
    // Kept for the next stream: the default handler would close the handle at the first bad stream.
    handle.onerror = (message) => { failure = String(message); };
  }
  return function inflateInto(input, dest, at, size) {
    if (inflater === null) newInflater();
    if (handle === null) {
      const r = zlib.inflateRawSync(input, { chunkSize: size, maxOutputLength: size, finishFlush: SYNC });
      dest.set(r, at);
      return r.length;
    }
    failure = null;
    handle.reset();
    handle.writeSync(SYNC, input, 0, input.length, dest, at, size);
    if (failure !== null) throw new Error(failure);
    return size - inflater._writeState[0];
  };
}`;

/** The event loop thread's inflater, made from the same source as the threads' ones. */
export const inflateInto = (new Function(`return ${INFLATER_SOURCE}`)() as (z: typeof zlib) => InflateInto)(zlib);

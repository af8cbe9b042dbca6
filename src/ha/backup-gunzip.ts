// The gzip layer of an inner archive: decompressed as the bytes come (decrypted or read), with what was
// decompressed before a failure of the source still handed out, then that failure said (backup-inner.ts).

import type { Writable } from 'node:stream';
import { createGunzip } from 'node:zlib';

/** The bytes gunzipped when they start as gzip; as they are otherwise. */
export async function* gunzipIfNeeded(bytes: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const it = bytes[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) return;
  const rest = { [Symbol.asyncIterator]: () => it };
  if (!(first.value[0] === 0x1f && first.value[1] === 0x8b)) {
    yield first.value;
    yield* rest;
    return;
  }
  async function* all(): AsyncGenerator<Buffer> {
    yield first.value as Buffer;
    yield* rest;
  }
  const gunzip = createGunzip({ chunkSize: 1 << 20 });
  // Damage met by the source (a SecureTar v1/v2 last block, a read that failed) ends the gzip stream where it
  // is: what was decompressed before it is still handed out, then that damage is said (not gzip's "unexpected
  // end", a consequence). Destroying the gunzip there lost up to its whole last output.
  let sourceFailure: unknown = null;
  const fed = feed(all(), gunzip).catch((err: unknown) => {
    sourceFailure = err;
    if (!gunzip.destroyed) gunzip.end();
  });
  try {
    yield* drain(gunzip);
  } catch (err) {
    await fed;
    throw sourceFailure ?? err;
  } finally {
    gunzip.destroy();
    await fed;
  }
  if (sourceFailure !== null) throw sourceFailure;
}

/** gzip's trailer (CRC-32 and length): written on its own, see `feed`. */
const GZIP_TRAILER = 8;

/**
 * Writes `source` into the gunzip `sink` with backpressure, then ends it; stops when the sink is destroyed
 * (the reader left). The stream's last 8 bytes go in a write of their own: zlib drops the output of the write
 * in which its checksum fails, and that output was up to the last megabyte of files.
 */
async function feed(source: AsyncIterable<Buffer>, sink: Writable): Promise<void> {
  let tail: Buffer = Buffer.alloc(0);
  const write = async (bytes: Buffer): Promise<void> => {
    if (bytes.length > 0 && !sink.destroyed && !sink.write(bytes)) await drained(sink);
  };
  try {
    for await (const chunk of source) {
      if (sink.destroyed) return;
      const all = chunk.length >= GZIP_TRAILER ? null : Buffer.concat([tail, chunk]);
      if (all === null) {
        await write(tail);
        await write(chunk.subarray(0, chunk.length - GZIP_TRAILER));
        tail = chunk.subarray(chunk.length - GZIP_TRAILER);
      } else {
        await write(all.subarray(0, Math.max(0, all.length - GZIP_TRAILER)));
        tail = all.subarray(Math.max(0, all.length - GZIP_TRAILER));
      }
    }
  } catch (err) {
    // The source failed after handing out what it could (a SecureTar v3 stream whose last message lacks its
    // FINAL tag: every byte authentic): the bytes held back go in too, so a whole gzip stream still ends whole.
    await write(tail);
    throw err;
  }
  // Every byte before the trailer decompressed and handed on first: a failing check destroys the stream, and
  // output still buffered in it was lost with it (now and then, under load).
  while (!sink.destroyed && (sink.writableLength > 0 || (sink as Writable & { readableLength: number }).readableLength > 0)) {
    await new Promise((resolve) => setImmediate(resolve));
  }
  await write(tail);
  if (!sink.destroyed) sink.end();
}

/** Resolves when `sink` takes writes again, or fails, or is closed (its reader tells the failure). */
function drained(sink: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      sink.off('drain', done);
      sink.off('close', done);
      sink.off('error', done);
      resolve();
    };
    sink.on('drain', done);
    sink.on('close', done);
    sink.on('error', done);
  });
}

/**
 * The output of a stream up to its end or error. Unlike the stream's own async iterator, every byte it
 * produced before an error is handed out first (the start of a file that damage cuts).
 */
async function* drain(stream: NodeJS.ReadableStream & { destroyed?: boolean }): AsyncGenerator<Buffer> {
  const queue: Buffer[] = [];
  let queued = 0;
  let failure: unknown = null;
  let done = false;
  let wake: (() => void) | null = null;
  const poke = (): void => wake?.();
  stream.on('data', (chunk: Buffer) => {
    queue.push(chunk);
    queued += chunk.length;
    if (queued > 8 << 20) stream.pause();
    poke();
  });
  stream.on('end', () => {
    done = true;
    poke();
  });
  stream.on('error', (err: unknown) => {
    failure ??= err;
    done = true;
    poke();
  });
  for (;;) {
    const chunk = queue.shift();
    if (chunk) {
      queued -= chunk.length;
      if (stream.isPaused() && queued < 1 << 20) stream.resume();
      yield chunk;
    } else if (done) {
      if (failure) throw failure; // named by walkInner, which knows where in the archive it came
      return;
    } else {
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = null;
    }
  }
}

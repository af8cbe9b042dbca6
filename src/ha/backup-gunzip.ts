// The gzip layer of an inner archive: decompressed as the bytes come (decrypted or read), with what was
// decompressed before a failure of the source still handed out, then that failure said (backup-inner.ts).
// Members are framed here and inflated raw (see gunzipMembers).

import type { Transform } from 'node:stream';
import * as zlib from 'node:zlib';
import { createInflateRaw } from 'node:zlib';
import { crc32 as tableCrc32 } from '../partition/crc32.js';

/** zlib's own CRC-32 (Node 20.15 and later), else the table one (the same numbers, slower). */
const crc32: (data: Uint8Array, value?: number) => number = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32 ?? tableCrc32;

/** The bytes gunzipped when they start as gzip; as they are otherwise. */
export async function* gunzipIfNeeded(bytes: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const source = new ByteSource(bytes[Symbol.asyncIterator]());
  if (await source.startsWith(GZIP_MAGIC)) {
    yield* gunzipMembers(source);
    return;
  }
  for (let chunk = await source.next(); chunk !== null; chunk = await source.next()) yield chunk;
}

/**
 * gzip's members one after the other, each framed here (header, raw deflate, CRC-32 and length) rather than by
 * zlib's gunzip: bytes after the last member that start no new one (trailing garbage) ended the gunzip with
 * "incorrect header check", and the output of the write that held them was lost with it (up to the last
 * megabyte of files), where tarfile, which the Supervisor restores with, stops at the end of the tar and never
 * reads them. They are passed over now. The checks are made after every byte is handed out: a mismatch is said
 * as damage at the end, losing nothing.
 */
async function* gunzipMembers(source: ByteSource): AsyncGenerator<Buffer> {
  let first = true;
  for (;;) {
    if (!first && !(await source.startsWith(GZIP_MAGIC))) {
      await source.skipRest(); // what follows is no gzip member; a failure of the source is still said
      return;
    }
    await readHeader(source);
    const check = { crc: 0, size: 0 };
    yield* inflateMember(source, check);
    const trailer = await source.take(GZIP_TRAILER);
    if (trailer.length < GZIP_TRAILER) throw zlibError('unexpected end of file', 'Z_BUF_ERROR');
    if (trailer.readUInt32LE(0) !== check.crc) throw zlibError('incorrect data check', 'Z_DATA_ERROR');
    if (trailer.readUInt32LE(4) !== check.size % 2 ** 32) throw zlibError('incorrect length check', 'Z_DATA_ERROR');
    if (await source.atEnd()) return;
    first = false;
  }
}

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
/** gzip's trailer: CRC-32 and length (RFC 1952). */
const GZIP_TRAILER = 8;
/** A name or comment in a gzip header longer than this is damage, not a name. */
const MAX_HEADER_TEXT = 64 * 1024;
/** Input handed to zlib at a time (output of a write that meets damage is lost with it; smaller is slower). */
const FEED_BYTES = 1024 * 1024;
const FLAG = { hcrc: 2, extra: 4, name: 8, comment: 16, reserved: 0xe0 };

/** An error as zlib words and codes it (walkInner names where it came). */
function zlibError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

/** Reads a member's header (RFC 1952 2.3), leaving the source at its deflate data. */
async function readHeader(source: ByteSource): Promise<void> {
  const head = await source.take(10);
  if (head.length < 10) throw zlibError('unexpected end of file', 'Z_BUF_ERROR');
  if (head[0] !== 0x1f || head[1] !== 0x8b) throw zlibError('incorrect header check', 'Z_DATA_ERROR');
  if (head[2] !== 8) throw zlibError('unknown compression method', 'Z_DATA_ERROR');
  const flags = head[3]!;
  if ((flags & FLAG.reserved) !== 0) throw zlibError('unknown header flags set', 'Z_DATA_ERROR');
  if ((flags & FLAG.extra) !== 0) {
    const size = await source.take(2);
    if (size.length < 2 || (await source.take(size.readUInt16LE(0))).length < size.readUInt16LE(0)) throw zlibError('unexpected end of file', 'Z_BUF_ERROR');
  }
  for (const flag of [FLAG.name, FLAG.comment]) if ((flags & flag) !== 0) await source.skipText(MAX_HEADER_TEXT);
  if ((flags & FLAG.hcrc) !== 0 && (await source.take(2)).length < 2) throw zlibError('unexpected end of file', 'Z_BUF_ERROR');
}

/**
 * One member's deflate data inflated and handed out, its CRC-32 and length counted into `check`; the bytes
 * after it go back to the source. Damage met by the source (a SecureTar v1/v2 last block, a read that failed)
 * ends the stream where it is: what was inflated before it is handed out, then that damage is said (not
 * zlib's "unexpected end", a consequence).
 */
async function* inflateMember(source: ByteSource, check: { crc: number; size: number }): AsyncGenerator<Buffer> {
  const inflate = createInflateRaw({ chunkSize: 1 << 20 });
  let sourceFailure: unknown = null;
  const fed = feed(source, inflate).catch((err: unknown) => {
    sourceFailure = err;
    if (!inflate.destroyed) inflate.end();
  });
  let whole = false;
  try {
    for await (const chunk of drain(inflate)) {
      check.crc = crc32(chunk, check.crc);
      check.size += chunk.length;
      yield chunk;
    }
    whole = true;
  } catch (err) {
    await fed;
    throw sourceFailure ?? err;
  } finally {
    if (!whole) inflate.destroy();
    await fed;
  }
  if (sourceFailure !== null) throw sourceFailure;
}

/**
 * Writes the source into `inflate` a piece at a time, each processed before the next, until the deflate data
 * ends (zlib then takes no more: what it left goes back to the source) or the source does (then it is ended).
 */
async function feed(source: ByteSource, inflate: Transform): Promise<void> {
  let fedBytes = 0;
  for (;;) {
    const chunk = await source.next();
    if (inflate.destroyed) return;
    if (chunk === null) {
      await new Promise<void>((resolve) => inflate.end(() => resolve()));
      return;
    }
    for (let at = 0; at < chunk.length; at += FEED_BYTES) {
      const piece = chunk.subarray(at, at + FEED_BYTES);
      await new Promise<void>((resolve) => inflate.write(piece, () => resolve()));
      if (inflate.destroyed) return;
      fedBytes += piece.length;
      const left = fedBytes - (inflate as Transform & { bytesWritten: number }).bytesWritten;
      if (left > 0) {
        // The deflate data ended inside what was fed: the rest is the trailer and what follows it.
        source.unshift(chunk.subarray(at + piece.length - left));
        inflate.end();
        return;
      }
    }
  }
}

/** Chunks from an iterator, with bytes put back and read by count (the framing of gzip members). */
class ByteSource {
  private readonly held: Buffer[] = [];

  constructor(private readonly it: AsyncIterator<Buffer>) {}

  /** The next bytes (never empty), or null at the end. */
  async next(): Promise<Buffer | null> {
    for (;;) {
      const held = this.held.shift();
      if (held !== undefined) return held;
      const r = await this.it.next();
      if (r.done) return null;
      if (r.value.length > 0) return r.value;
    }
  }

  unshift(bytes: Buffer): void {
    if (bytes.length > 0) this.held.unshift(bytes);
  }

  /** `n` bytes, fewer only at the end. */
  async take(n: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let got = 0;
    while (got < n) {
      const chunk = await this.next();
      if (chunk === null) break;
      const piece = chunk.subarray(0, n - got);
      this.unshift(chunk.subarray(piece.length));
      parts.push(piece);
      got += piece.length;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  async startsWith(prefix: Buffer): Promise<boolean> {
    const head = await this.take(prefix.length);
    this.unshift(head);
    return head.equals(prefix);
  }

  async atEnd(): Promise<boolean> {
    const chunk = await this.next();
    if (chunk === null) return true;
    this.unshift(chunk);
    return false;
  }

  /** Passes over a zero-terminated text of at most `limit` bytes. */
  async skipText(limit: number): Promise<void> {
    for (let seen = 0; ; ) {
      const chunk = await this.next();
      if (chunk === null) throw zlibError('unexpected end of file', 'Z_BUF_ERROR');
      const zero = chunk.indexOf(0);
      if (zero >= 0) {
        this.unshift(chunk.subarray(zero + 1));
        return;
      }
      seen += chunk.length;
      if (seen > limit) throw zlibError('invalid gzip header: a name or comment without its end', 'Z_DATA_ERROR');
    }
  }

  async skipRest(): Promise<void> {
    while ((await this.next()) !== null) {
      // read to the end, so that a failure there is said
    }
  }
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

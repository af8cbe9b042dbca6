// The gzip layer of inner archives, framed member by member (ha/backup-gunzip.ts), against Node's own zlib and
// gzip(1): every byte handed out before a check fails, trailing bytes that start no member passed over (zlib's
// gunzip failed on them, losing the output of the write that held them), every header field of RFC 1952 read.

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { deflateRawSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { gunzipIfNeeded } from '../../src/ha/backup-gunzip.js';

/** Random text-like bytes that compress about as config files do (not 100:1: a cut then says little), `n` of them. */
function payload(n: number): Buffer {
  const out = randomBytes(n);
  for (let i = 0; i < n; i++) out[i] = 97 + (out[i]! % 20);
  return out;
}

async function* chunks(bytes: Buffer, size: number, failAfter?: Error): AsyncGenerator<Buffer> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
  if (failAfter) throw failAfter;
}

async function collect(source: AsyncIterable<Buffer>): Promise<{ out: Buffer; error: unknown }> {
  const parts: Buffer[] = [];
  try {
    for await (const c of gunzipIfNeeded(source)) parts.push(c);
    return { out: Buffer.concat(parts), error: null };
  } catch (error) {
    return { out: Buffer.concat(parts), error };
  }
}

const data = payload(3 * 1024 * 1024 + 17);
const gz = gzipSync(data);

describe('gunzipIfNeeded', () => {
  it.each([1, 7, 4096, 1 << 20, 8 << 20])('reads a gzip stream fed in pieces of %i bytes as zlib does', async (size) => {
    const small = payload(5000);
    const r = await collect(chunks(size === 1 ? gzipSync(small) : gz, size));
    expect(r.error).toBeNull();
    expect(r.out.equals(size === 1 ? small : data)).toBe(true);
  });

  it('trailing bytes that start no member (garbage, zeros) are passed over: every byte kept (zlib\'s gunzip lost up to the last megabyte)', async () => {
    for (const tail of [Buffer.from('GARBAGE'.repeat(10)), Buffer.alloc(10_000), Buffer.from([0x1f])]) {
      const r = await collect(chunks(Buffer.concat([gz, tail]), 1 << 20));
      expect(r.error).toBeNull();
      expect(r.out.equals(data)).toBe(true);
    }
  });

  it('members one after another are one stream (gzip -c a b), as gzip(1) reads them', async () => {
    const a = payload(100_000);
    const b = payload(200_000);
    const both = Buffer.concat([gzipSync(a), gzipSync(b)]);
    const r = await collect(chunks(both, 65536));
    expect(r.error).toBeNull();
    expect(r.out.equals(Buffer.concat([a, b]))).toBe(true);
    expect(spawnSync('gzip', ['-dc'], { input: both, maxBuffer: 1 << 24 }).stdout.equals(r.out)).toBe(true);
  });

  it('a header with an extra field, a name, a comment and its own CRC (gzip -N writes a name) is read past', async () => {
    const small = payload(50_000);
    const header = Buffer.from([0x1f, 0x8b, 8, 2 | 4 | 8 | 16, 0, 0, 0, 0, 0, 3]);
    const extra = Buffer.concat([Buffer.from([4, 0]), Buffer.from('abcd')]);
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(crc32(small), 0);
    trailer.writeUInt32LE(small.length, 4);
    const fields = Buffer.concat([header, extra, Buffer.from('name.tar\0'), Buffer.from('a comment\0')]);
    const headerCrc = Buffer.alloc(2);
    headerCrc.writeUInt16LE(crc32(fields) & 0xffff);
    const stream = Buffer.concat([fields, headerCrc, deflateRawSync(small), trailer]);
    expect(spawnSync('gzip', ['-dc'], { input: stream }).stdout.equals(small)).toBe(true);
    const r = await collect(chunks(stream, 3));
    expect(r.error).toBeNull();
    expect(r.out.equals(small)).toBe(true);
  });

  it('a CRC or length that does not match: every byte handed out first, then said as zlib says it', async () => {
    for (const [at, message] of [[gz.length - 8, 'incorrect data check'], [gz.length - 1, 'incorrect length check']] as const) {
      const bad = Buffer.from(gz);
      bad[at]! ^= 0x40;
      const r = await collect(chunks(bad, 1 << 20));
      expect(r.out.equals(data)).toBe(true);
      expect(r.error).toMatchObject({ message, code: 'Z_DATA_ERROR' });
    }
  });

  it('cut short (in the deflate data, in the trailer): what came before is handed out, then "unexpected end of file"', async () => {
    for (const cut of [gz.length - 4, gz.length - 8, Math.floor(gz.length / 2)]) {
      const r = await collect(chunks(gz.subarray(0, cut), 1 << 20));
      expect(r.error).toMatchObject({ message: 'unexpected end of file' });
      expect(r.out.length).toBeGreaterThan(cut === Math.floor(gz.length / 2) ? data.length / 3 : data.length - 1);
      expect(r.out.equals(data.subarray(0, r.out.length))).toBe(true);
    }
  });

  it('a source that fails (a last block that does not decrypt): the bytes before it handed out, its failure said', async () => {
    const failure = new Error('the last block does not decrypt');
    const r = await collect(chunks(gz.subarray(0, gz.length - 100), 1 << 20, failure));
    expect(r.error).toBe(failure);
    expect(r.out.length).toBeGreaterThan(data.length - 1000);
    expect(r.out.equals(data.subarray(0, r.out.length))).toBe(true);
  });

  it('bytes that are not gzip are handed on as they are; a damaged header is said', async () => {
    expect((await collect(chunks(data, 4096))).out.equals(data)).toBe(true);
    const method = Buffer.from(gz);
    method[2] = 7;
    expect((await collect(chunks(method, 4096))).error).toMatchObject({ message: 'unknown compression method' });
    const flags = Buffer.from(gz);
    flags[3] = 0x80;
    expect((await collect(chunks(flags, 4096))).error).toMatchObject({ message: 'unknown header flags set' });
  });
});

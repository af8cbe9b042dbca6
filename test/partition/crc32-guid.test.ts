import { describe, expect, it } from 'vitest';
import { crc32 } from '../../src/partition/crc32.js';
import { GptType, HaosPartitionGuid, guidFromBytes, guidToBytes, normalizeGuid } from '../../src/partition/guid.js';
import { AppError } from '../../src/errors.js';
import { execFileSync } from 'node:child_process';
import zlib from 'node:zlib';
import { prng, randomBytes } from './helpers.js';

describe('crc32', () => {
  it('matches the IEEE check value', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32(Buffer.alloc(0))).toBe(0);
  });

  it('agrees with zlib.crc32 on random buffers and continues across chunks', () => {
    const rand = prng(7);
    for (let i = 0; i < 20; i++) {
      const buf = randomBytes(rand, Math.floor(rand() * 5000));
      const expected = (zlib as unknown as { crc32?: (b: Uint8Array) => number }).crc32?.(buf);
      if (expected !== undefined) expect(crc32(buf)).toBe(expected);
      const cut = Math.floor(buf.length / 3);
      expect(crc32(buf.subarray(cut), crc32(buf.subarray(0, cut)))).toBe(crc32(buf));
    }
  });

  it('agrees with the cksum-independent python/gzip oracle', () => {
    const data = Buffer.from('EFI PART haos-rescue');
    const out = execFileSync('python3', ['-c', 'import sys,zlib;print(zlib.crc32(sys.stdin.buffer.read()))'], { input: data });
    expect(crc32(data)).toBe(Number(out.toString().trim()));
  });
});

describe('guid', () => {
  it('decodes the mixed-endian on-disk layout of the ESP type GUID', () => {
    const onDisk = Buffer.from('28732ac11ff8d211ba4b00a0c93ec93b', 'hex');
    expect(guidFromBytes(onDisk)).toBe(GptType.efiSystem);
    expect(guidToBytes(GptType.efiSystem).equals(onDisk)).toBe(true);
  });

  it('round-trips every named GUID, at an offset too', () => {
    for (const g of [...Object.values(GptType), ...Object.values(HaosPartitionGuid)]) {
      const buf = Buffer.concat([Buffer.alloc(5), guidToBytes(g.toUpperCase())]);
      expect(guidFromBytes(buf, 5)).toBe(g);
    }
  });

  it('rejects malformed text and short byte ranges with AppErrors', () => {
    expect(() => guidToBytes('not-a-guid')).toThrow(AppError);
    expect(() => guidFromBytes(Buffer.alloc(10))).toThrow(AppError);
    expect(normalizeGuid('A52A4597-FA3A-4851-AEFD-2FBE9F849079')).toBe(HaosPartitionGuid.data);
    expect(normalizeGuid('xyz')).toBeNull();
  });
});

// One compressed cluster inflated as QEMU's qcow2_zlib_decompress does it: the cluster must be filled, a
// stream that goes on past it is cut there, a short or damaged stream is an error naming the cluster. The
// same code runs on the inflating threads (inflate-pool.ts) and on the event loop's thread (here).

import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decompressCluster } from '../../src/device/vdisk/qcow2-compressed.js';
import { inflateClusters, sharedBuffer } from '../../src/device/vdisk/inflate-pool.js';
import { CorruptError } from '../../src/errors.js';

const CLUSTER = 65536;
const text = (bytes: number): Buffer => Buffer.from('one line of a configuration file, and another\n'.repeat(Math.ceil(bytes / 46))).subarray(0, bytes);
// As QEMU stores it: the stream padded with the next cluster's bytes up to the sector.
const padded = (stream: Buffer): Buffer => Buffer.concat([stream, Buffer.alloc(511 - ((stream.length + 511) % 512), 0xa5)]);

describe('a compressed cluster', () => {
  it('fills the cluster; bytes after the stream are ignored', () => {
    const out = Buffer.alloc(CLUSTER);
    decompressCluster(padded(deflateRawSync(text(CLUSTER))), out, 'zlib', 'here');
    expect(out.equals(text(CLUSTER))).toBe(true);
  });

  it('a stream longer than the cluster is cut at the cluster (QEMU accepts it too)', () => {
    const out = Buffer.alloc(CLUSTER);
    decompressCluster(deflateRawSync(text(3 * CLUSTER)), out, 'zlib', 'here');
    expect(out.equals(text(CLUSTER))).toBe(true);
  });

  it('a short or damaged stream is QCOW2_BAD_COMPRESSED_CLUSTER, and the next stream still inflates', () => {
    const out = Buffer.alloc(CLUSTER);
    const short = (): void => decompressCluster(deflateRawSync(text(CLUSTER - 1)), out, 'zlib', 'at file byte 7');
    expect(short).toThrow(CorruptError);
    expect(short).toThrow(/at file byte 7: zlib data gives 65535 bytes, not a cluster of 65536/);
    const damaged = (): void => decompressCluster(Buffer.alloc(600, 0xff), out, 'zlib', 'at file byte 9');
    expect(damaged).toThrow(expect.objectContaining({ code: 'QCOW2_BAD_COMPRESSED_CLUSTER', exitCode: 65 }));
    decompressCluster(deflateRawSync(text(CLUSTER)), out, 'zlib', 'here');
    expect(out.equals(text(CLUSTER))).toBe(true);
  });

  it('on the threads: the same results, into shared memory or the batch slot', async () => {
    const streams = [padded(deflateRawSync(text(CLUSTER))), Buffer.alloc(600, 0xff), deflateRawSync(text(3 * CLUSTER)), deflateRawSync(text(100))];
    const data = sharedBuffer(streams.reduce((n, s) => n + s.length, 0));
    const spans: number[] = [];
    let at = 0;
    for (const s of streams) {
      data.set(s, at);
      spans.push(at, s.length);
      at += s.length;
    }
    const target = Buffer.from(new SharedArrayBuffer(CLUSTER + 100)).subarray(100);
    const result = await inflateClusters(data, spans, CLUSTER, [target, null, null, null]);
    expect(result.produced).toEqual([CLUSTER, -1, CLUSTER, 100]);
    expect(result.errors[1]).toMatch(/invalid/i);
    expect(target.equals(text(CLUSTER))).toBe(true);
    // The clusters without a target of their own, one after another in the slot.
    expect(result.out.subarray(CLUSTER, 2 * CLUSTER).equals(text(CLUSTER))).toBe(true);
    expect(result.out.subarray(2 * CLUSTER, 2 * CLUSTER + 100).equals(text(100))).toBe(true);
    result.release();
  });
});

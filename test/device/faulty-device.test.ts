// faultyDevice: each injected fault kind.

import { describe, expect, it } from 'vitest';
import { faultyDevice } from '../../src/device/faulty-device.js';
import { memoryDevice } from '../../src/device/memory-device.js';
import { seededRandom } from './helpers.js';

const content = seededRandom(9).bytes(8192);

describe('faultyDevice', () => {
  it('fails any read touching a bad range with READ_FAILED, and leaves others alone', async () => {
    const dev = faultyDevice(memoryDevice(Uint8Array.from(content)), { failReadsIn: [{ byteOffset: 4096, length: 512 }] });
    await expect(dev.read(4000, 100)).rejects.toMatchObject({ code: 'READ_FAILED', details: { byteOffset: 4096 } });
    await expect(dev.read(4607, 1)).rejects.toMatchObject({ code: 'READ_FAILED' });
    expect((await dev.read(4000, 96)).equals(content.subarray(4000, 4096))).toBe(true);
    expect((await dev.read(4608, 10)).equals(content.subarray(4608, 4618))).toBe(true);
  });

  it('simulates a medium ending early with SHORT_READ', async () => {
    const dev = faultyDevice(memoryDevice(Uint8Array.from(content)), { shortReadAt: 6000 });
    expect((await dev.read(5990, 10)).equals(content.subarray(5990, 6000))).toBe(true);
    await expect(dev.read(5990, 11)).rejects.toMatchObject({ code: 'SHORT_READ', details: { bytesRead: 10 } });
    await expect(dev.read(7000, 1)).rejects.toMatchObject({ code: 'SHORT_READ', details: { bytesRead: 0 } });
  });

  it('flips bits silently in the bytes read', async () => {
    const dev = faultyDevice(memoryDevice(Uint8Array.from(content)), { flipBits: [{ byteOffset: 100, mask: 0x81 }] });
    const got = await dev.read(90, 20);
    expect(got[10]).toBe(content[100]! ^ 0x81);
    expect(got.subarray(0, 10).equals(content.subarray(90, 100))).toBe(true);
    expect(got.subarray(11).equals(content.subarray(101, 110))).toBe(true);
    expect((await dev.read(0, 100)).equals(content.subarray(0, 100))).toBe(true);
  });

  it('drops writes and flushes after the Nth step, like a power cut', async () => {
    const backing = new Uint8Array(100);
    const dev = faultyDevice(memoryDevice(backing, { writable: true }), { dropWritesAfter: 2 });
    await dev.write(0, Uint8Array.of(1)); // step 1
    await dev.flush(); // step 2
    await dev.write(1, Uint8Array.of(2)); // step 3: dropped
    await dev.flush(); // step 4: dropped
    expect(dev.writeCount).toBe(4);
    expect(dev.droppedCount).toBe(2);
    expect(Array.from(backing.subarray(0, 2))).toEqual([1, 0]);
  });

  it('fails writes and flushes after the Nth step with IoError', async () => {
    const backing = new Uint8Array(100);
    const dev = faultyDevice(memoryDevice(backing, { writable: true }), { failWritesAfter: 1 });
    await dev.write(0, Uint8Array.of(1));
    await expect(dev.write(1, Uint8Array.of(2))).rejects.toMatchObject({ code: 'WRITE_FAILED', exitCode: 74 });
    await expect(dev.flush()).rejects.toMatchObject({ code: 'FLUSH_FAILED' });
    expect(dev.writeCount).toBe(3);
    expect(Array.from(backing.subarray(0, 2))).toEqual([1, 0]);
  });

  it('keeps the inner device read-only and its bounds', async () => {
    const dev = faultyDevice(memoryDevice(new Uint8Array(10)), {});
    await expect(dev.write(0, Uint8Array.of(1))).rejects.toMatchObject({ code: 'READ_ONLY' });
    expect(dev.writeCount).toBe(0);
    await expect(dev.read(5, 6)).rejects.toMatchObject({ code: 'READ_BEYOND_END' });
  });
});

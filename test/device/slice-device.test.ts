// sliceDevice: relative offsets, bounds, truncated partitions, pass-through writes.

import { describe, expect, it } from 'vitest';
import { memoryDevice } from '../../src/device/memory-device.js';
import { sliceDevice } from '../../src/device/slice-device.js';
import { seededRandom } from './helpers.js';

const content = seededRandom(5).bytes(10_000);

describe('sliceDevice', () => {
  it('addresses the partition from its own byte 0', async () => {
    const slice = sliceDevice(memoryDevice(Uint8Array.from(content)), 1000, 2000, 'partition 8 of test');
    expect(slice.sizeBytes).toBe(2000);
    expect(slice.description).toBe('partition 8 of test');
    expect(slice.truncated).toBe(false);
    expect((await slice.read(0, 10)).equals(content.subarray(1000, 1010))).toBe(true);
    expect((await slice.read(1990, 10)).equals(content.subarray(2990, 3000))).toBe(true);
  });

  it('fails reads past the slice end with READ_BEYOND_END even though the inner device goes on', async () => {
    const slice = sliceDevice(memoryDevice(Uint8Array.from(content)), 1000, 2000, 'p');
    await expect(slice.read(1995, 10)).rejects.toMatchObject({ code: 'READ_BEYOND_END' });
    await expect(slice.read(2001, 0)).rejects.toMatchObject({ code: 'READ_BEYOND_END' });
  });

  it('writes at relative offsets when the inner device is writable', async () => {
    const backing = Uint8Array.from(content);
    const slice = sliceDevice(memoryDevice(backing, { writable: true }), 4096, 4096, 'p');
    await slice.write(10, Buffer.from('ok'));
    expect(Buffer.from(backing.subarray(4106, 4108)).toString()).toBe('ok');
    await expect(slice.write(4095, Buffer.from('no'))).rejects.toMatchObject({ code: 'WRITE_BEYOND_END' });
  });

  it('refuses writes when the inner device is read-only', async () => {
    const slice = sliceDevice(memoryDevice(Uint8Array.from(content)), 0, 100, 'p');
    expect(slice.writable).toBe(false);
    await expect(slice.write(0, Uint8Array.of(1))).rejects.toMatchObject({ code: 'READ_ONLY' });
  });

  it('constructs a slice past the end of a truncated image: readable start, clear error after', async () => {
    const slice = sliceDevice(memoryDevice(Uint8Array.from(content)), 8000, 5000, 'partition 8 of cut.img');
    expect(slice.truncated).toBe(true);
    expect(slice.availableBytes).toBe(2000);
    expect(slice.sizeBytes).toBe(5000);
    expect((await slice.read(0, 2000)).equals(content.subarray(8000))).toBe(true);
    const err = await slice.read(1999, 2).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'READ_BEYOND_END', details: { truncated: true, availableBytes: 2000 } });
    expect((err as Error).message).toContain('partition 8 of cut.img');
  });

  it('a slice that starts past the end has nothing available', async () => {
    const slice = sliceDevice(memoryDevice(new Uint8Array(100)), 200, 50, 'p');
    expect(slice.truncated).toBe(true);
    expect(slice.availableBytes).toBe(0);
    await expect(slice.read(0, 1)).rejects.toMatchObject({ code: 'READ_BEYOND_END' });
  });

  it('rejects negative or fractional bounds', () => {
    const inner = memoryDevice(new Uint8Array(100));
    expect(() => sliceDevice(inner, -1, 10, 'p')).toThrow(expect.objectContaining({ code: 'BAD_SLICE' }));
    expect(() => sliceDevice(inner, 0, 1.5, 'p')).toThrow(expect.objectContaining({ code: 'BAD_SLICE' }));
  });

  it('close leaves the inner device open', async () => {
    const inner = memoryDevice(new Uint8Array(100));
    const slice = sliceDevice(inner, 0, 50, 'p');
    await slice.close();
    await expect(slice.read(0, 1)).rejects.toMatchObject({ code: 'DEVICE_CLOSED' });
    expect((await inner.read(0, 1)).length).toBe(1);
  });
});

// memoryDevice: ownership of returned buffers, read-only default, bounds.

import { describe, expect, it } from 'vitest';
import { memoryDevice } from '../../src/device/memory-device.js';

describe('memoryDevice', () => {
  it('reads copies the caller owns', async () => {
    const bytes = Uint8Array.from([1, 2, 3, 4]);
    const dev = memoryDevice(bytes);
    const got = await dev.read(1, 2);
    got[0] = 99;
    expect(Array.from(bytes)).toEqual([1, 2, 3, 4]);
    expect(dev.sectorSize).toBe(1);
  });

  it('is read-only unless asked, and writes into the given array when writable', async () => {
    await expect(memoryDevice(new Uint8Array(4)).write(0, Uint8Array.of(1))).rejects.toMatchObject({ code: 'READ_ONLY' });
    const bytes = new Uint8Array(4);
    await memoryDevice(bytes, { writable: true }).write(2, Uint8Array.of(7, 8));
    expect(Array.from(bytes)).toEqual([0, 0, 7, 8]);
  });

  it('checks bounds and arguments', async () => {
    const dev = memoryDevice(new Uint8Array(4), { writable: true });
    await expect(dev.read(3, 2)).rejects.toMatchObject({ code: 'READ_BEYOND_END' });
    await expect(dev.write(4, Uint8Array.of(1))).rejects.toMatchObject({ code: 'WRITE_BEYOND_END' });
    await expect(dev.read(-1, 1)).rejects.toMatchObject({ code: 'INVALID_RANGE' });
    await expect(dev.read(0.5, 1)).rejects.toMatchObject({ code: 'INVALID_RANGE' });
  });
});

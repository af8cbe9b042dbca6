// probeDeviceSize / probeSectorSize against virtual raw disks of any size.

import { describe, expect, it } from 'vitest';
import { probeDeviceSize, probeSectorSize, type ReadAt } from '../../src/device/probe-size.js';

/** A raw device of `sizeBytes` that exists only as arithmetic, so terabyte sizes cost nothing. */
function virtualDisk(sizeBytes: number, options: { pastEnd?: 'zero' | 'EINVAL'; sectorSize?: number } = {}): ReadAt {
  const sectorSize = options.sectorSize ?? 512;
  return async (buffer, byteOffset) => {
    if (byteOffset % sectorSize !== 0 || buffer.length % sectorSize !== 0) {
      throw Object.assign(new Error('EINVAL'), { code: 'EINVAL' });
    }
    if (byteOffset >= sizeBytes) {
      if (options.pastEnd === 'EINVAL') throw Object.assign(new Error('EINVAL'), { code: 'EINVAL' });
      return 0;
    }
    return Math.min(buffer.length, sizeBytes - byteOffset);
  };
}

describe('probeDeviceSize', () => {
  const sizes = [0, 512, 1024, 1024 * 1024 - 512, 1024 * 1024, 1024 * 1024 + 512, 31_914_983_424, 2 ** 41, 16 * 2 ** 40];
  it.each(sizes)('finds %i bytes in fewer than 64 reads', async (size) => {
    const result = await probeDeviceSize(virtualDisk(size), 512, 'test disk');
    expect(result.sizeBytes).toBe(size);
    expect(result.probes).toBeLessThan(64);
  });

  it('treats EINVAL past the end like a 0-byte read (raw devices do that)', async () => {
    expect((await probeDeviceSize(virtualDisk(64 * 1024 * 1024, { pastEnd: 'EINVAL' }), 512, 'd')).sizeBytes).toBe(
      64 * 1024 * 1024,
    );
  });

  it('counts in 4096-byte sectors for 4Kn devices', async () => {
    const size = 4096 * 1_000_003;
    expect((await probeDeviceSize(virtualDisk(size, { sectorSize: 4096 }), 4096, 'd')).sizeBytes).toBe(size);
  });

  it('passes a real read error through instead of guessing a size', async () => {
    const failing: ReadAt = async (_buffer, byteOffset) => {
      if (byteOffset > 0) throw Object.assign(new Error('EIO'), { code: 'EIO' });
      return 512;
    };
    await expect(probeDeviceSize(failing, 512, 'd')).rejects.toMatchObject({ code: 'EIO' });
  });
});

describe('probeSectorSize', () => {
  it('says 512 for a device that accepts 512-byte aligned reads', async () => {
    expect(await probeSectorSize(virtualDisk(1 << 20))).toBe(512);
  });
  it('says 4096 when a 512-byte read at 512 fails with EINVAL', async () => {
    expect(await probeSectorSize(virtualDisk(1 << 20, { sectorSize: 4096 }))).toBe(4096);
  });
});

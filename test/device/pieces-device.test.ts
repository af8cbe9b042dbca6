// A volume in several pieces of a device (an LVM logical volume grown after the volume behind it): its bytes
// in order, read and written across the pieces' boundaries as one device; checked against a model (the
// pieces' bytes joined) with random reads and writes, pieces out of disk order.

import { describe, expect, it } from 'vitest';
import { memoryDevice } from '../../src/device/memory-device.js';
import { placedDevice, toDeviceRanges, type Piece } from '../../src/device/pieces-device.js';
import { seededRandom } from './helpers.js';

const PIECES: Piece[] = [
  { byteOffset: 40_960, sizeBytes: 8192 },
  { byteOffset: 4096, sizeBytes: 12_288 },
  { byteOffset: 65_536, sizeBytes: 512 },
];
const SIZE = 8192 + 12_288 + 512;

/** The volume's bytes as the pieces hold them, in order. */
const joined = (disk: Buffer): Buffer => Buffer.concat(PIECES.map((p) => disk.subarray(p.byteOffset, p.byteOffset + p.sizeBytes)));

describe('a volume in pieces', () => {
  it('reads and writes as its pieces joined, across their boundaries, and leaves the rest of the disk as it was', async () => {
    const random = seededRandom(7);
    const disk = random.bytes(80 * 1024);
    const outside = Buffer.from(disk);
    const volume = placedDevice(memoryDevice(disk, { writable: true }), { byteOffset: PIECES[0]!.byteOffset, sizeBytes: SIZE, pieces: PIECES }, 'logical volume vg/root');
    expect(volume).toMatchObject({ sizeBytes: SIZE, byteOffset: 40_960, truncated: false, availableBytes: SIZE });
    const model = joined(disk);
    for (let i = 0; i < 300; i++) {
      const at = random.int(SIZE);
      const length = random.int(Math.min(SIZE - at, 10_000) + 1);
      if (random.int(2) === 0) {
        const into = random.int(2) === 0 ? Buffer.alloc(length + 3) : undefined;
        expect((await volume.read(at, length, into)).equals(model.subarray(at, at + length)), `read ${length} at ${at}`).toBe(true);
      } else {
        const data = random.bytes(length);
        await volume.write(at, data);
        data.copy(model, at);
      }
    }
    expect(joined(disk).equals(model)).toBe(true);
    // Bytes of the disk outside the pieces are untouched.
    for (const p of PIECES) outside.fill(0, p.byteOffset, p.byteOffset + p.sizeBytes), disk.fill(0, p.byteOffset, p.byteOffset + p.sizeBytes);
    expect(disk.equals(outside)).toBe(true);
    await expect(volume.read(SIZE - 10, 11)).rejects.toMatchObject({ code: 'READ_BEYOND_END' });
  });

  it('maps a range of the volume to the ranges of the disk that hold it', () => {
    const place = { byteOffset: 40_960, sizeBytes: SIZE, pieces: PIECES };
    expect(toDeviceRanges(place, 8000, 8192 + 12_288 + 10)).toEqual([
      [48_960, 49_152],
      [4096, 16_384],
      [65_536, 65_546],
    ]);
    expect(toDeviceRanges(place, 0, 0)).toEqual([]);
    // A slice: one range, also past its end (a block a damaged table names there).
    expect(toDeviceRanges({ byteOffset: 1000, sizeBytes: 500 }, 400, 700)).toEqual([[1400, 1500], [1500, 1700]]);
  });

  it('refuses a piece outside the disk', () => {
    const pieces = [PIECES[0]!, { byteOffset: 79 * 1024, sizeBytes: 4096 }];
    expect(() => placedDevice(memoryDevice(Buffer.alloc(80 * 1024)), { byteOffset: 40_960, sizeBytes: 12_288, pieces }, 'v')).toThrow(/not inside/);
  });
});

// openFileDevice on regular files in a temp dir: reads, bounds, short reads, read-only, OS errors.

import { execFileSync } from 'node:child_process';
import { chmod, mkdir, readFile, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFileDevice, withFileDevice } from '../../src/device/file-device.js';
import { isMediumError } from '../../src/device/map-os-error.js';
import { AppError } from '../../src/errors.js';
import { makeTempDir, seededRandom, sha256File, writeTempFile } from './helpers.js';

const SIZE = 256 * 1024 + 123;
let dir: string;
let cleanup: () => Promise<void>;
let content: Buffer;
let imagePath: string;

beforeAll(async () => {
  ({ dir, cleanup } = await makeTempDir('file-device'));
  content = seededRandom(1).bytes(SIZE);
  imagePath = await writeTempFile(dir, 'disk.img', content);
});
afterAll(() => cleanup());

async function rejection(p: Promise<unknown>): Promise<AppError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

describe('openFileDevice on an image file', () => {
  it('reports size, sector size 1, read-only and a description naming the image', async () => {
    await withFileDevice(imagePath, {}, async (dev) => {
      expect(dev.sizeBytes).toBe(SIZE);
      expect(dev.sectorSize).toBe(1);
      expect(dev.writable).toBe(false);
      expect(dev.description).toBe(`image ${imagePath}`);
    });
  });

  it('reads the same bytes as the file at random offsets, including whole-file and empty reads', async () => {
    const rnd = seededRandom(2);
    await withFileDevice(imagePath, {}, async (dev) => {
      for (let i = 0; i < 200; i++) {
        const offset = rnd.int(SIZE);
        const length = rnd.int(SIZE - offset + 1);
        expect((await dev.read(offset, length)).equals(content.subarray(offset, offset + length))).toBe(true);
      }
      expect((await dev.read(0, SIZE)).equals(content)).toBe(true);
      expect((await dev.read(SIZE, 0)).length).toBe(0);
    });
  });

  it('returns independent buffers: changing one read does not change another', async () => {
    await withFileDevice(imagePath, {}, async (dev) => {
      const a = await dev.read(10, 16);
      const b = await dev.read(10, 16);
      expect(a.length).toBe(16);
      a.fill(0xff);
      expect(b).toEqual(await dev.read(10, 16));
      expect(b.equals(a)).toBe(false);
    });
  });

  it('fails reads beyond the end with READ_BEYOND_END', async () => {
    await withFileDevice(imagePath, {}, async (dev) => {
      expect((await rejection(dev.read(SIZE - 10, 11))).code).toBe('READ_BEYOND_END');
      expect((await rejection(dev.read(SIZE + 1, 0))).code).toBe('READ_BEYOND_END');
      const err = await rejection(dev.read(SIZE * 2, 1));
      expect(err.code).toBe('READ_BEYOND_END');
      expect(err.exitCode).toBe(74);
    });
  });

  it('an image file cut short after open: SOURCE_SHRANK, never padding, never a medium error', async () => {
    const path = await writeTempFile(dir, 'shrinks.img', content);
    await withFileDevice(path, {}, async (dev) => {
      await truncate(path, 1000);
      expect((await dev.read(0, 1000)).equals(content.subarray(0, 1000))).toBe(true);
      const err = await rejection(dev.read(900, 200));
      // Said as the file cut short, not as a card failing (which the front ends answer by offering a copy).
      expect(err.code).toBe('SOURCE_SHRANK');
      expect(isMediumError(err)).toBe(false);
      expect(err.message).toMatch(/shrinks\.img is shorter now \(1000 bytes\) than when it was opened/);
      expect(err.details).toMatchObject({ byteOffset: 900, length: 200, bytesRead: 100, nowBytes: 1000 });
      expect((await rejection(dev.read(5000, 10))).code).toBe('SOURCE_SHRANK');
    });
  });

  it('cannot write when opened read-only: READ_ONLY and the file is unchanged', async () => {
    const path = await writeTempFile(dir, 'ro.img', content);
    const before = await sha256File(path);
    await withFileDevice(path, {}, async (dev) => {
      const err = await rejection(dev.write(0, Buffer.from('overwrite')));
      expect(err.code).toBe('READ_ONLY');
      expect(err.exitCode).toBe(77);
      await dev.flush();
    });
    expect(await sha256File(path)).toBe(before);
  });

  it('writes through when opened writable, and never past the end', async () => {
    const path = await writeTempFile(dir, 'rw.img', content);
    await withFileDevice(path, { writable: true }, async (dev) => {
      expect(dev.writable).toBe(true);
      await dev.write(777, Buffer.from('hello'));
      await dev.flush();
      expect((await dev.read(777, 5)).toString()).toBe('hello');
      expect((await rejection(dev.write(SIZE - 2, Buffer.from('abc')))).code).toBe('WRITE_BEYOND_END');
    });
    const after = await readFile(path);
    expect(after.length).toBe(SIZE);
    expect(after.subarray(777, 782).toString()).toBe('hello');
    expect(after.subarray(0, 777).equals(content.subarray(0, 777))).toBe(true);
  });

  it('maps a missing path to NotFoundError SOURCE_NOT_FOUND with a hint', async () => {
    const err = await rejection(openFileDevice(join(dir, 'missing.img')));
    expect(err.code).toBe('SOURCE_NOT_FOUND');
    expect(err.exitCode).toBe(66);
    expect(err.hint).toMatch(/path/);
  });

  it.skipIf(process.platform === 'win32')('refuses a FIFO before opening it (open would wait for a writer forever)', async () => {
    const fifo = join(dir, 'a-fifo');
    execFileSync('mkfifo', [fifo]);
    const err = await rejection(openFileDevice(fifo));
    expect(err.code).toBe('UNSUPPORTED_SOURCE_TYPE');
    expect(err.exitCode).toBe(64);
  });

  it('refuses a directory with a usage error', async () => {
    const sub = join(dir, 'a-directory');
    await mkdir(sub);
    const err = await rejection(openFileDevice(sub));
    expect(err.code).toBe('SOURCE_IS_DIRECTORY');
    expect(err.exitCode).toBe(64);
  });

  it.skipIf(process.getuid?.() === 0 || process.platform === 'win32')(
    // As root, chmod cannot deny access; map-os-error.test.ts covers the mapping with synthetic errors.
    'maps a file without read permission to NO_PERMISSION',
    async () => {
      const path = await writeTempFile(dir, 'secret.img', content);
      await chmod(path, 0o000);
      expect((await rejection(openFileDevice(path))).code).toBe('NO_PERMISSION');
    },
  );

  it('withFileDevice closes the device when the callback throws, and close is safe twice', async () => {
    let kept: Awaited<ReturnType<typeof openFileDevice>> | undefined;
    const failure = new Error('callback failed');
    await expect(
      withFileDevice(imagePath, {}, async (dev) => {
        kept = dev;
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect((await rejection(kept!.read(0, 1))).code).toBe('DEVICE_CLOSED');
    await kept!.close();
  });

  it('withFileDevice returns the callback result', async () => {
    await expect(withFileDevice(imagePath, {}, async (dev) => dev.sizeBytes)).resolves.toBe(SIZE);
  });
});

describe('openFileDevice on a character device with a size from the disk listing', () => {
  // macOS /dev/rdiskN and Windows \\.\PhysicalDriveN are character devices whose stat() size is 0; the
  // listing's size is used instead of probing. /dev/zero stands in for one here.
  it.runIf(process.platform !== 'win32')('takes the listed size (a multiple of the sector size) and reads within it', async () => {
    await withFileDevice('/dev/zero', { sizeBytes: 1024 * 1024 }, async (dev) => {
      expect(dev.sizeBytes).toBe(1024 * 1024);
      expect((await dev.read(1024 * 1024 - 512, 512)).equals(Buffer.alloc(512))).toBe(true);
      await expect(dev.read(1024 * 1024, 512)).rejects.toBeInstanceOf(AppError);
    });
  });
});

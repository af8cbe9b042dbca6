// openFileDevice against a real Linux block device: a loop device over a 4 MiB file with known bytes.
// Needs root, losetup and a kernel (or container) that hands out loop devices. Attaching happens while
// the file is collected so that it.skipIf can see the outcome; every attached device is detached in
// afterAll, and again on process exit should afterAll never run.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openFileDevice, withFileDevice } from '../../src/device/file-device.js';
import { probeDeviceSize } from '../../src/device/probe-size.js';
import { seededRandom, sha256File } from './helpers.js';

const IMAGE_SIZE = 4 * 1024 * 1024;
const content = seededRandom(42).bytes(IMAGE_SIZE);
const attached: string[] = [];
let tempDir: string | undefined;

/** Attaches `image` to a free loop device; returns its path, or the reason it could not. */
function attach(image: string, extraArgs: string[]): { path?: string; reason?: string } {
  if (process.platform !== 'linux') return { reason: 'loop devices are Linux-only' };
  if (process.getuid?.() !== 0) return { reason: 'losetup needs root' };
  try {
    const path = execFileSync('losetup', ['-f', '--show', ...extraArgs, image], { encoding: 'utf8', stdio: 'pipe' }).trim();
    attached.push(path);
    return { path };
  } catch (err) {
    return { reason: `losetup failed: ${(err as Error).message.split('\n')[0]}` };
  }
}

/** Detaches every device even if one fails, then reports the failures. */
function detachAll(): void {
  const failures: string[] = [];
  for (const path of attached.splice(0)) {
    try {
      execFileSync('losetup', ['-d', path], { stdio: 'pipe' });
    } catch (err) {
      failures.push(`${path}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  if (tempDir !== undefined) rmSync(tempDir, { recursive: true, force: true });
  tempDir = undefined;
  if (failures.length > 0) throw new Error(`could not detach loop devices: ${failures.join('; ')}`);
}

function makeImage(name: string): string {
  tempDir ??= mkdtempSync(join(tmpdir(), 'haos-rescue-loop-'));
  const path = join(tempDir, name);
  writeFileSync(path, content);
  return path;
}

process.on('exit', () => {
  // Last resort only: a loop device left attached outlives the test run.
  if (attached.length > 0) detachAll();
});

const image512 = process.platform === 'linux' ? makeImage('loop512.img') : '';
const loop512 = attach(image512, []);
const image4k = loop512.path === undefined ? '' : makeImage('loop4k.img');
// Older util-linux or kernels lack --sector-size; that only skips the 4 KiB test.
const loop4k = loop512.path === undefined ? { reason: loop512.reason } : attach(image4k, ['--sector-size', '4096']);

afterAll(() => detachAll());

describe(`openFileDevice on a loop device (${loop512.path ?? `skipped: ${loop512.reason}`})`, () => {
  // Skipped without root, losetup or loop support in the kernel or container: the reason is in the title.
  it.skipIf(loop512.path === undefined)('reports the real size (not stat 0) and sector size 512', async () => {
    await withFileDevice(loop512.path!, {}, async (dev) => {
      expect(dev.sizeBytes).toBe(IMAGE_SIZE);
      expect(dev.sectorSize).toBe(512);
      expect(dev.description).toBe(loop512.path);
      expect(dev.writable).toBe(false);
    });
  });

  it.skipIf(loop512.path === undefined)('reads the file bytes at unaligned offsets; past the end is an error', async () => {
    const rnd = seededRandom(43);
    await withFileDevice(loop512.path!, {}, async (dev) => {
      for (let i = 0; i < 200; i++) {
        const offset = rnd.int(IMAGE_SIZE);
        const length = rnd.int(Math.min(IMAGE_SIZE - offset, rnd.next() < 0.8 ? 1500 : IMAGE_SIZE) + 1);
        expect((await dev.read(offset, length)).equals(content.subarray(offset, offset + length)), `${offset}+${length}`).toBe(
          true,
        );
      }
      await expect(dev.read(IMAGE_SIZE - 1, 2)).rejects.toMatchObject({ code: 'READ_BEYOND_END' });
    });
  });

  it.skipIf(loop512.path === undefined)('size probing finds the same size on the real device', async () => {
    const handle = await open(loop512.path!, 'r');
    try {
      const result = await probeDeviceSize(
        async (buffer, byteOffset) => (await handle.read(buffer, 0, buffer.length, byteOffset)).bytesRead,
        512,
        loop512.path!,
      );
      expect(result.sizeBytes).toBe(IMAGE_SIZE);
    } finally {
      await handle.close();
    }
  });

  it.skipIf(loop512.path === undefined)('read-only: write() is refused and the backing file is unchanged', async () => {
    const before = await sha256File(image512);
    await withFileDevice(loop512.path!, {}, async (dev) => {
      await expect(dev.write(0, Buffer.from('x'))).rejects.toMatchObject({ code: 'READ_ONLY' });
    });
    expect(await sha256File(image512)).toBe(before);
  });

  // Runs last: it changes the image that the tests above read.
  it.skipIf(loop512.path === undefined)('writable: unaligned writes land exactly, via read-modify-write', async () => {
    const expected = Buffer.from(content);
    const dev = await openFileDevice(loop512.path!, { writable: true });
    try {
      for (const [offset, text] of [[3, 'head'], [510, 'across a boundary'], [IMAGE_SIZE - 5, 'tail!']] as const) {
        await dev.write(offset, Buffer.from(text));
        expected.write(text, offset);
      }
      await dev.flush();
    } finally {
      await dev.close();
    }
    expect(readFileSync(image512).equals(expected)).toBe(true);
  });
});

describe(`openFileDevice on a 4 KiB-sector loop device (${loop4k.path ?? `skipped: ${loop4k.reason}`})`, () => {
  it.skipIf(loop4k.path === undefined)('reports sector size 4096 and reads unaligned ranges correctly', async () => {
    await withFileDevice(loop4k.path!, {}, async (dev) => {
      expect(dev.sectorSize).toBe(4096);
      expect(dev.sizeBytes).toBe(IMAGE_SIZE);
      for (const [offset, length] of [[1, 10], [4095, 2], [12345, 67890], [IMAGE_SIZE - 7, 7]] as const) {
        expect((await dev.read(offset, length)).equals(content.subarray(offset, offset + length))).toBe(true);
      }
    });
  });
});

// The two ways the rescue reads sector by sector must give the same answers: the helper thread with blocking
// reads of the card's file descriptor (sector-worker.ts, what `image` uses on a card or image file) and one
// awaited device read per sector (sector-runs.ts, for other sources and the unit tests). Checked on a plain
// file and on a failing card made real (FUSE), sector by sector against the image's bytes and bad sectors,
// upward, downward, stopping at the first bad sector and not, and with the card pulled.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { BlockDevice } from '../../src/device/block-device.js';
import { openFileDevice, rescueFileDescriptor } from '../../src/device/file-device.js';
import { type SectorRunRequest, type SectorRuns, deviceSectorRuns } from '../../src/device/rescue/sector-runs.js';
import { SectorWorker } from '../../src/device/rescue/sector-worker.js';
import { SECTOR, failingCardUnavailable, withFailingCard } from '../helpers/failing-card.js';
import { seededRandom } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'haos-rescue-sector-worker-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// 2 MiB and a piece: the last read is shorter than a sector.
const SIZE = 2 * 1024 * 1024 + 700;
const bytes = seededRandom(11).bytes(SIZE);
const image = join(dir, 'card.img');
writeFileSync(image, bytes);
const BAD: Array<[number, number]> = [[100, 5], [1000, 40], [4090, 6]];
const badSectors = new Set(BAD.flatMap(([first, n]) => Array.from({ length: n }, (_, k) => first + k)));

/** Every sector a request read, in order: [pos, length, bytes or null]. */
async function sectorsRead(runs: SectorRuns, request: SectorRunRequest): Promise<Array<[number, number, string | null]>> {
  const out: Array<[number, number, string | null]> = [];
  const result = await runs.read(request);
  if (result.error !== undefined) throw result.error;
  for (const run of result.runs) {
    expect(run.reads).toBe(Math.ceil(run.length / SECTOR));
    const sectors = Array.from({ length: run.reads }, (_, k) => {
      const at = request.downward ? run.pos + run.length - (k + 1) * SECTOR : run.pos + k * SECTOR;
      const pos = Math.max(run.pos, at);
      return [pos, Math.min(run.pos + run.length, at + SECTOR) - pos] as const;
    });
    for (const [pos, length] of sectors) out.push([pos, length, run.data === null ? null : run.data.subarray(pos - run.pos, pos - run.pos + length).toString('hex')]);
  }
  return out;
}

/** Reads the whole range as `image` does (asking again until it is covered), sector by sector. */
async function wholeRange(runs: SectorRuns, from: number, to: number, downward: boolean, stopAtBad: boolean) {
  const out: Array<[number, number, string | null]> = [];
  for (let lo = from, hi = to; lo < hi; ) {
    const got = await sectorsRead(runs, { from: lo, to: hi, downward, stopAtBad });
    expect(got.length).toBeGreaterThan(0);
    out.push(...got);
    for (const [pos, length] of got) {
      if (downward) hi = pos;
      else lo = pos + length;
    }
    if (stopAtBad && got.at(-1)![2] === null) break;
  }
  return out;
}

/** What each sector of [pos, pos + length) should give. */
function expected(pos: number, length: number): [number, number, string | null] {
  return [pos, length, badSectors.has(Math.floor(pos / SECTOR)) ? null : Buffer.from(bytes.subarray(pos, pos + length)).toString('hex')];
}

async function bothWays(path: string, fn: (worker: SectorWorker, plain: SectorRuns, device: BlockDevice) => Promise<void>): Promise<void> {
  const device = await openFileDevice(path, { rescueReads: true });
  const fd = rescueFileDescriptor(device);
  expect(fd).not.toBeNull();
  const worker = new SectorWorker(fd!, SECTOR, path);
  try {
    await fn(worker, deviceSectorRuns(device, SECTOR), device);
  } finally {
    await worker.close();
    // A pulled card's file fails to close (ENOTCONN): nothing to do about that here.
    await device.close().catch(() => undefined);
  }
}

describe('SectorWorker', () => {
  it('on a plain file: every sector of the range, upward and downward, the short last one included', async () => {
    await bothWays(image, async (worker) => {
      expect(worker.readStartedAt).toBeNull();
      const up = await wholeRange(worker, 0, SIZE, false, false);
      expect(up.map(([p]) => p)).toEqual(Array.from({ length: Math.ceil(SIZE / SECTOR) }, (_, k) => k * SECTOR));
      for (const [pos, length, data] of up) expect(data).toBe(Buffer.from(bytes.subarray(pos, pos + length)).toString('hex'));
      const down = await wholeRange(worker, SIZE - 3 * SECTOR - 700, SIZE, true, false);
      const last = SIZE % SECTOR;
      expect(down.map(([p, l]) => [p, l])).toEqual([[SIZE - last, last], ...[1, 2, 3, 4].map((k) => [SIZE - last - k * SECTOR, SECTOR])]);
      for (const [pos, length, data] of down) expect(data).toBe(Buffer.from(bytes.subarray(pos, pos + length)).toString('hex'));
      expect(worker.readStartedAt).toBeNull();
    });
  });

  it('prepare() starts the thread without holding the process: a command that ends without using it exits', () => {
    // A child of the built module: without the thread unreferenced it would never exit and be killed here.
    const module = resolve(dirname(fileURLToPath(import.meta.url)), '../../dist/device/rescue/sector-worker.js');
    // A file, not `-e`: the thread would inherit `--input-type=module` and fail to start, which also ends it.
    const script = join(dir, 'prepare.mjs');
    writeFileSync(script, `import { SectorWorker } from ${JSON.stringify(module)}; import { openSync } from 'node:fs';
      const w = new SectorWorker(openSync(${JSON.stringify(image)}, 'r'), 512, 'card'); w.prepare(); console.log('prepared');`);
    const child = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 20_000 });
    expect(child.stderr).toBe('');
    expect(child.signal).toBeNull();
    expect([child.status, child.stdout]).toEqual([0, 'prepared\n']);
  });

  it('answers the same after prepare() as without it', async () => {
    await bothWays(image, async (worker) => {
      worker.prepare();
      worker.prepare();
      const up = await wholeRange(worker, 0, 64 * SECTOR + 100, false, false);
      expect(up).toEqual(up.map(([p, l]) => expected(p, l)));
    });
  });

  it('is only for devices opened for a rescue', async () => {
    const device = await openFileDevice(image);
    expect(rescueFileDescriptor(device)).toBeNull();
    await device.close();
  });

  const unavailable = failingCardUnavailable();
  it.skipIf(unavailable !== null)(`on a failing card: the same sectors good and bad as one device read per sector, and as the card's bad list${unavailable ? ` (skipped: ${unavailable})` : ''}`, async () => {
    await withFailingCard({ image, bad: BAD, failDelayMs: 1 }, async (card) => {
      await bothWays(card.path, async (worker, plain) => {
        for (const [from, to, downward, stopAtBad] of [
          [0, SIZE, false, false],
          [90 * SECTOR, 130 * SECTOR, false, true],
          [90 * SECTOR, 130 * SECTOR, true, true],
          [980 * SECTOR, 1100 * SECTOR, true, false],
          [4000 * SECTOR, SIZE, true, true],
          [4000 * SECTOR, SIZE, false, false],
        ] as const) {
          const a = await wholeRange(worker, from, to, downward, stopAtBad);
          const b = await wholeRange(plain, from, to, downward, stopAtBad);
          expect(a, `${from}-${to} ${downward ? 'down' : 'up'}${stopAtBad ? ', to the first bad' : ''}`).toEqual(b);
          expect(a).toEqual(a.map(([p, l]) => expected(p, l)));
        }
      });
    });
  });

  it.skipIf(unavailable !== null)(`on a card pulled from its reader: an error that is not a bad sector${unavailable ? ` (skipped: ${unavailable})` : ''}`, async () => {
    await withFailingCard({ image }, async (card) => {
      await bothWays(card.path, async (worker) => {
        expect((await worker.read({ from: 0, to: 8 * SECTOR, downward: false, stopAtBad: false })).error).toBeUndefined();
        spawnSync('pkill', ['-9', '-f', `failing-card.py .*${dirname(card.path)}`]);
        // Whether the kernel fails the first request while it tears the connection down (ECONNABORTED) or
        // says the card is gone (ENOTCONN), it is the card gone, never a bad sector.
        const result = await worker.read({ from: 8 * SECTOR, to: 16 * SECTOR, downward: false, stopAtBad: false });
        expect(result.runs).toEqual([]);
        expect(result.error).toMatchObject({ code: 'NO_MEDIUM' });
      });
    });
  });
});

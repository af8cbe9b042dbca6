// The failing-card helper itself (test/helpers/failing-card.ts + .py): a FUSE card that fails, stalls or dies
// as configured, at 512-byte granularity through direct_io. Skipped, with the reason in the title, where it
// cannot mount (no /dev/fuse, not root, no /usr/bin/python3 with fusepy, no fusermount).

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failingCardUnavailable, SECTOR, statsDiff, withFailingCard } from '../helpers/failing-card.js';

const why = failingCardUnavailable();
const hasDdrescue = spawnSync('ddrescue', ['--version']).status === 0 && spawnSync('ddrescuelog', ['--version']).status === 0;
const MiB = 1 << 20;

/** readSync of `length` bytes at `position`: the bytes, or the error code. */
function readAt(path: string, position: number, length: number): Buffer | string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    const n = readSync(fd, buf, 0, length, position);
    return buf.subarray(0, n);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  } finally {
    closeSync(fd);
  }
}

describe.skipIf(why !== null)(`failing card over FUSE${why ? ` (skipped: ${why})` : ''}`, () => {
  let dir: string;
  let image: string;
  let bytes: Buffer;
  const at = (sector: number, count = 1): Buffer => bytes.subarray(sector * SECTOR, (sector + count) * SECTOR);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'haos-rescue-failing-card-test-'));
    image = join(dir, 'card.img');
    bytes = randomBytes(4 * MiB);
    writeFileSync(image, bytes);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('serves good sectors, fails a read touching a bad one with EIO, keeps 512-byte granularity, counts', async () => {
    await withFailingCard({ image, bad: [[100, 3]] }, async (card) => {
      const s0 = await card.stats();
      expect(s0).toMatchObject({ requests: 0, bytes: 0, failed: 0, badSectorReads: {} });

      expect(readAt(card.path, 0, 4096)).toEqual(at(0, 8));
      expect(readAt(card.path, 99 * SECTOR, SECTOR)).toEqual(at(99)); // right before the bad range
      expect(readAt(card.path, 103 * SECTOR, SECTOR)).toEqual(at(103)); // right after it
      expect(readAt(card.path, 99 * SECTOR + 100, 412)).toEqual(bytes.subarray(99 * SECTOR + 100, 100 * SECTOR));
      const s1 = await card.stats();
      expect(statsDiff(s0, s1)).toMatchObject({ requests: 4, bytes: 4096 + 512 + 512 + 412, failed: 0, badSectorReads: {} });

      expect(readAt(card.path, 64 * SECTOR, 64 * SECTOR)).toBe('EIO'); // 64..127 takes in 100..102: all of it fails
      expect(readAt(card.path, 101 * SECTOR, SECTOR)).toBe('EIO');
      expect(readAt(card.path, 99 * SECTOR, 2 * SECTOR)).toBe('EIO'); // one good and one bad sector
      const s2 = await card.stats();
      expect(statsDiff(s1, s2)).toMatchObject({ requests: 3, bytes: 0, failed: 3, badSectorReads: { '100': 2, '101': 2, '102': 1 } });
      expect(s2.badSectorReads).toEqual({ '100': 2, '101': 2, '102': 1 });

      // Reading the counters is not a card read.
      expect(await card.stats()).toEqual(s2);

      // A 1 MiB read of good sectors: the kernel splits a direct_io read by the pages of the caller's buffer,
      // at most 32 of them (128 KiB, libfuse2 does not ask for more) a request, so the requests follow the
      // buffer's alignment in memory, not 512-byte sectors of the file: Node's Buffer.alloc(1 MiB) starts 16
      // bytes into a page, which gives 131056 + 7 x 131072 + 16 bytes.
      const big = readAt(card.path, 2 * MiB, MiB) as Buffer;
      expect(Buffer.isBuffer(big) && big.equals(bytes.subarray(2 * MiB, 3 * MiB))).toBe(true); // toEqual on 1 MiB takes seconds
      const s3 = await card.stats();
      const d = statsDiff(s2, s3);
      expect(d.bytes).toBe(MiB);
      expect(d.recent.length).toBe(d.requests);
      expect(d.recent.reduce((n, [, size]) => n + size, 0)).toBe(MiB);
      expect(Math.max(...d.recent.map(([, size]) => size))).toBeLessThanOrEqual(128 * 1024);
      console.log(`failing card: a 1 MiB read reached the server as ${d.requests} requests: ${d.recent.map(([, size]) => size).join(' ')}`);
    });
  });

  it('a big read across a bad sector returns what came before it (a short read), and EIO next', async () => {
    await withFailingCard({ image, bad: [[3000, 1]] }, async (card) => {
      const fd = openSync(card.path, 'r');
      try {
        const buf = Buffer.alloc(4 * MiB);
        const n = readSync(fd, buf, 0, buf.length, 0);
        // The requests before the failing one went through; the kernel returns their bytes.
        expect(n).toBeGreaterThan(0);
        expect(n).toBeLessThanOrEqual(3000 * SECTOR);
        expect(buf.subarray(0, n).equals(bytes.subarray(0, n))).toBe(true);
        expect(() => readSync(fd, buf, 0, buf.length, n)).toThrow(expect.objectContaining({ code: 'EIO' }));
      } finally {
        closeSync(fd);
      }
    });
  });

  it('stalls a read for its seconds while the event loop stays free (fs.promises FileHandle.read)', async () => {
    await withFailingCard({ image, stall: [[2000, 1, 1]] }, async (card) => {
      const fh = await open(card.path, 'r');
      try {
        let ticks = 0;
        const timer = setInterval(() => ticks++, 50);
        const buf = Buffer.alloc(4096);
        const t0 = performance.now();
        const { bytesRead } = await fh.read(buf, 0, 4096, 1998 * SECTOR); // 1998..2005 takes in 2000
        const ms = performance.now() - t0;
        clearInterval(timer);
        expect(bytesRead).toBe(4096);
        expect(buf).toEqual(at(1998, 8));
        expect(ms).toBeGreaterThanOrEqual(995);
        expect(ms).toBeLessThan(5000);
        expect(ticks).toBeGreaterThanOrEqual(10); // ~20 in a free second

        const t1 = performance.now(); // next to it, not stalled
        await fh.read(buf, 0, SECTOR, 2001 * SECTOR);
        expect(performance.now() - t1).toBeLessThan(500);
      } finally {
        await fh.close();
      }
    });
  });

  it('dies for good after dieAfterBytes', async () => {
    await withFailingCard({ image, dieAfterBytes: 8 * SECTOR }, async (card) => {
      expect(readAt(card.path, 0, 4 * SECTOR)).toEqual(at(0, 4));
      expect(readAt(card.path, 4 * SECTOR, 4 * SECTOR)).toEqual(at(4, 4)); // exactly the 8 sectors
      expect(readAt(card.path, 8 * SECTOR, SECTOR)).toBe('EIO');
      expect(readAt(card.path, 0, SECTOR)).toBe('EIO'); // even what was read before
      expect(await card.stats()).toMatchObject({ requests: 4, bytes: 8 * SECTOR, failed: 2 });
    });
    // A read that would go past the limit fails, and the card stays dead for smaller ones.
    await withFailingCard({ image, dieAfterBytes: 4 * SECTOR }, async (card) => {
      expect(readAt(card.path, 0, 8 * SECTOR)).toBe('EIO');
      expect(readAt(card.path, 0, SECTOR)).toBe('EIO');
      expect(await card.stats()).toMatchObject({ requests: 2, bytes: 0, failed: 2 });
    });
  });

  it.skipIf(!hasDdrescue)('GNU ddrescue finds exactly the bad sectors and copies every good one', async () => {
    const bad: Array<[number, number]> = [[1000, 3], [5000, 1]];
    const badSectors = bad.flatMap(([a, n]) => Array.from({ length: n }, (_, i) => a + i));
    const out = join(dir, 'rescued.img');
    const map = join(dir, 'rescued.map');
    await withFailingCard({ image, bad, failDelayMs: 2 }, async (card) => {
      const r = spawnSync('ddrescue', ['-b', String(SECTOR), card.path, out, map], { encoding: 'utf8', timeout: 30_000 });
      expect(r.status, r.stderr + r.stdout).toBe(0);
      const stats = await card.stats();
      expect(Object.keys(stats.badSectorReads).map(Number).sort((x, y) => x - y)).toEqual(badSectors);
      console.log(`failing card: ddrescue made ${stats.requests} requests (${stats.failed} failed, largest ${stats.largestRequest} bytes); bad sectors asked for ${JSON.stringify(stats.badSectorReads)}`);
    });
    const listed = spawnSync('ddrescuelog', ['-b', String(SECTOR), '-l-', map], { encoding: 'utf8' });
    expect(listed.status, listed.stderr).toBe(0);
    expect(listed.stdout.trim().split('\n').map(Number)).toEqual(badSectors);

    const rescued = readFileSync(out);
    expect(rescued.length).toBe(bytes.length);
    const zeros = Buffer.alloc(SECTOR);
    const badSet = new Set(badSectors);
    let differing = 0;
    for (let s = 0; s < bytes.length / SECTOR; s++) {
      const want = badSet.has(s) ? zeros : at(s);
      if (!rescued.subarray(s * SECTOR, (s + 1) * SECTOR).equals(want)) differing++;
    }
    expect(differing).toBe(0);
  });

  it('unmounts and ends the server even when the callback throws', async () => {
    let mountpoint = '';
    await expect(withFailingCard({ image }, async (card) => {
      mountpoint = card.path.replace(/\/card\.img$/, '');
      expect(readAt(card.path, 0, SECTOR)).toEqual(at(0));
      throw new Error('boom');
    })).rejects.toThrow('boom');
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(mountpoint);
  });

  it('unmounts even with a handle left open and a stalled read pending', async () => {
    let mountpoint = '';
    let pending: Promise<unknown> | undefined;
    const t0 = performance.now();
    await expect(withFailingCard({ image, stall: [[0, 1, 1]] }, async (card) => {
      mountpoint = card.path.replace(/\/card\.img$/, '');
      const fh = await open(card.path, 'r');
      pending = fh.read(Buffer.alloc(SECTOR), 0, SECTOR, 0).finally(() => fh.close().catch(() => {}));
      pending.catch(() => {});
      await new Promise((r) => setTimeout(r, 100));
      throw new Error('gave up');
    })).rejects.toThrow('gave up');
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(mountpoint);
    await pending?.catch(() => {});
    expect(performance.now() - t0).toBeLessThan(8000);
  });

  it('reports a server that cannot start, with its stderr', async () => {
    await expect(withFailingCard({ image: join(dir, 'card.img'), bad: [['x' as unknown as number, 1]] }, async () => 1))
      .rejects.toThrow(/server ended.*\n[\s\S]*ValueError/);
  });
});

// Read buffers on page boundaries: a read that reaches the card without the page cache (here the failing card's
// FUSE file, direct_io) is cut into requests at the pages of the buffer, so 1 MiB into an aligned buffer is
// eight whole 128 KiB requests, and into one starting mid-page it would be nine.

import { openSync, closeSync, mkdtempSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pageAlignedBuffers } from '../../src/device/page-buffers.js';
import { failingCardUnavailable, statsDiff, withFailingCard } from '../helpers/failing-card.js';
import { seededRandom } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'haos-rescue-page-buffers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('pageAlignedBuffers', () => {
  it('gives separate zeroed buffers of the size asked, each on a 4 KiB page of one memory', () => {
    for (const [count, size] of [[2, 1 << 20], [3, 100_000], [1, 1], [5, 4096]] as const) {
      const buffers = pageAlignedBuffers(count, size);
      expect(buffers).toHaveLength(count);
      for (const [i, b] of buffers.entries()) {
        expect(b.length).toBe(size);
        expect(b.byteOffset % 4096).toBe(0);
        expect(b.every((x) => x === 0)).toBe(true);
        b.fill(i + 1);
      }
      // Writing one never touches another.
      for (const [i, b] of buffers.entries()) expect(b.every((x) => x === i + 1)).toBe(true);
    }
  });

  const unavailable = failingCardUnavailable();
  it.skipIf(unavailable !== null)(`a 1 MiB read into each reaches the card as whole 128 KiB requests${unavailable ? ` (skipped: ${unavailable})` : ''}`, async () => {
    const image = join(dir, 'card.img');
    const bytes = seededRandom(3).bytes(4 << 20);
    writeFileSync(image, bytes);
    await withFailingCard({ image }, async (card) => {
      const fd = openSync(card.path, 'r');
      try {
        for (const [i, b] of pageAlignedBuffers(2, 1 << 20).entries()) {
          const before = await card.stats();
          expect(readSync(fd, b, 0, b.length, (i + 1) << 20)).toBe(1 << 20);
          const seen = statsDiff(before, await card.stats()).recent.map(([, size]) => size);
          expect(seen).toEqual(Array(8).fill(128 * 1024));
          expect(b.equals(bytes.subarray((i + 1) << 20, (i + 2) << 20))).toBe(true);
        }
      } finally {
        closeSync(fd);
      }
    });
  });
});

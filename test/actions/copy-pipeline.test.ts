// The overlapped copy (actions/copy): read-ahead keeps reads running ahead of the consumer without
// changing the order or losing an error; copyPieces writes every byte in place, calls onPiece in order,
// and on any error (a failing read, a failing write, onPiece throwing, as Stop does) rejects only after
// every write under way has ended, so the caller can remove the unfinished file at once.

import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { copyFileOut, copyPieces, readAhead } from '../../src/actions/copy/index.js';
import { openFileDevice } from '../../src/device/file-device.js';
import { memoryDevice } from '../../src/device/memory-device.js';
import { filePieces, readFileRange } from '../../src/ext4/file-data.js';
import { Ext4Volume } from '../../src/ext4/volume.js';
import { mkfs, prng, tempDir } from '../helpers/images.js';

const work = tempDir('copy-pipeline-');
afterAll(() => rm(work, { recursive: true, force: true }));

/** A source of `n` pieces that records when each read starts and can fail at one of them. */
function source(pieces: Buffer[], failAt = -1) {
  const started: number[] = [];
  let closed = false;
  async function* gen(): AsyncGenerator<Buffer> {
    try {
      for (let i = 0; i < pieces.length; i++) {
        started.push(i);
        await new Promise((r) => setTimeout(r, 1));
        if (i === failAt) throw new Error(`read ${i} failed`);
        yield pieces[i]!;
      }
    } finally {
      closed = true;
    }
  }
  return { gen: gen(), started, closed: () => closed };
}

const pieces = Array.from({ length: 40 }, (_, i) => prng(i + 1, 4096 + i * 100));

describe('readAhead', () => {
  it('yields every item in order while reads run ahead of the consumer', async () => {
    const s = source(pieces);
    const got: Buffer[] = [];
    let maxAhead = 0;
    for await (const p of readAhead(s.gen, 4)) {
      maxAhead = Math.max(maxAhead, s.started.length - got.length);
      got.push(p);
      await new Promise((r) => setTimeout(r, 3));
    }
    expect(Buffer.concat(got).equals(Buffer.concat(pieces))).toBe(true);
    expect(maxAhead).toBeGreaterThan(1);
    expect(maxAhead).toBeLessThanOrEqual(4);
  });

  it('a failing read reaches the consumer after the items before it; stopping early closes the source', async () => {
    const failing = source(pieces, 7);
    const got: Buffer[] = [];
    await expect((async () => {
      for await (const p of readAhead(failing.gen, 4)) got.push(p);
    })()).rejects.toThrow('read 7 failed');
    expect(got.length).toBe(7);
    const early = source(pieces);
    for await (const _ of readAhead(early.gen, 4)) break;
    expect(early.closed()).toBe(true);
  });
});

describe('copyPieces', () => {
  it('writes every byte in place and calls onPiece in order; the file is complete', async () => {
    const out = join(work, 'whole.bin');
    const fh = await open(out, 'w');
    const seen: number[] = [];
    const size = await copyPieces(source(pieces).gen, fh, (p) => seen.push(p.length));
    await fh.close();
    expect(size).toBe(Buffer.concat(pieces).length);
    expect(seen).toEqual(pieces.map((p) => p.length));
    expect((await readFile(out)).equals(Buffer.concat(pieces))).toBe(true);
  });

  it('onPiece throwing (Stop), a failing read and a failing write: rejected, with no write left running', async () => {
    for (const [name, run] of [
      ['stop', (fh: Awaited<ReturnType<typeof open>>) => copyPieces(source(pieces).gen, fh, (p) => { if (p === pieces[5]) throw new Error('stopped'); })],
      ['read', (fh: Awaited<ReturnType<typeof open>>) => copyPieces(source(pieces, 9).gen, fh, () => undefined)],
    ] as const) {
      const out = join(work, `${name}.bin`);
      const fh = await open(out, 'w');
      await expect(run(fh), name).rejects.toThrow(name === 'stop' ? 'stopped' : 'read 9 failed');
      // Nothing writes after the rejection: the size stays put while we wait.
      const at = (await fh.stat()).size;
      await new Promise((r) => setTimeout(r, 30));
      expect((await fh.stat()).size, name).toBe(at);
      await fh.close();
    }
    const readOnly = join(work, 'ro.bin');
    await (await open(readOnly, 'w')).close();
    const ro = await open(readOnly, 'r');
    await expect(copyPieces(source(pieces).gen, ro, () => undefined)).rejects.toMatchObject({ code: 'EBADF' });
    await ro.close();
  });
});

describe('copyFileOut', () => {
  it('a file many times the buffer ring, with a slow consumer: every byte and the hash right (buffers reused only when done)', async () => {
    const stage = join(work, 'stage');
    mkdirSync(stage);
    const data = prng(77, 45 * 1024 * 1024 + 1234);
    writeFileSync(join(stage, 'big.tar'), data);
    const image = join(work, 'fs.img');
    mkfs(image, stage, { sizeMiB: 80 });
    const device = await openFileDevice(image);
    try {
      const vol = await Ext4Volume.open(device);
      const inode = await vol.lookup('/big.tar');
      const out = join(work, 'big.out');
      const fh = await open(out, 'w');
      const hash = createHash('sha256');
      let pieces = 0;
      const size = await copyFileOut(vol, inode, fh, (p) => {
        hash.update(p);
        // A consumer slower than the reads now and then, so the read-ahead fills up.
        if (pieces++ % 3 === 0) {
          const until = performance.now() + 4;
          while (performance.now() < until);
        }
      });
      await fh.close();
      expect(size).toBe(data.length);
      expect(pieces).toBeGreaterThan(20);
      expect(hash.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
      expect((await readFile(out)).equals(data)).toBe(true);
    } finally {
      await device.close();
    }
  });
});

describe('filePieces (what copyFileOut reads)', () => {
  it('holes, unwritten extents, runs longer than a piece and a size cut inside a block: the same bytes as readFileRange', async () => {
    const disk = prng(5, 64 * 1024);
    const device = memoryDevice(disk);
    const layout = {
      ino: 12,
      blockSize: 1024,
      sizeBytes: 40 * 1024 + 300,
      inline: null,
      runs: [
        { logical: 2, physical: 10, length: 5, uninit: false },
        { logical: 9, physical: 30, length: 3, uninit: true },
        { logical: 14, physical: 40, length: 20, uninit: false },
        { logical: 38, physical: 5, length: 4, uninit: false },
      ],
    };
    for (const piece of [1024, 3000, 4096, 1 << 20]) {
      const expected: Buffer[] = [];
      for await (const p of readFileRange(device, layout, 0, layout.sizeBytes, piece)) expected.push(Buffer.from(p));
      const got: Buffer[] = [];
      for (const p of filePieces(layout, piece)) {
        expect(p.length, `piece ${piece}`).toBeLessThanOrEqual(piece);
        got.push(p.deviceOffset === null ? Buffer.alloc(p.length) : Buffer.from(disk.subarray(p.deviceOffset, p.deviceOffset + p.length)));
      }
      expect(Buffer.concat(got).equals(Buffer.concat(expected)), `piece ${piece}`).toBe(true);
      expect(Buffer.concat(got).length).toBe(layout.sizeBytes);
    }
  });
});

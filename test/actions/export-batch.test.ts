// SmallFiles, the batches of small files behind `export`: every file reaches the writer with its bytes (as
// staged into a mkfs.ext4 -d image); with several batches in flight (folders) a flush returns while its batch
// is still being read and written, so that the walk goes on, until that many are under way; one at a
// time (tar), a flush returns when its files are written. A failing write stops every batch and is thrown;
// abandon() stops them when the walk failed, and nothing is written after either.

import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BatchEntry, SmallFiles } from '../../src/actions/export/batch.js';
import type { ExportContext } from '../../src/actions/export/types.js';
import { withFileDevice } from '../../src/device/file-device.js';
import { AppError, IoError } from '../../src/errors.js';
import type { BatchRead } from '../../src/ext4/file-batch.js';
import { Ext4Volume } from '../../src/ext4/volume.js';
import { mkfs, prng, tempDir } from '../helpers/images.js';

const FILES = 900;
const work = tempDir('export-batch-');
const stage = join(work, 'stage');
const image = join(work, 'disk.img');
const name = (i: number) => `d${i % 3}/f${String(i).padStart(4, '0')}`;

beforeAll(() => {
  for (let d = 0; d < 3; d++) mkdirSync(join(stage, `d${d}`), { recursive: true });
  for (let i = 0; i < FILES; i++) writeFileSync(join(stage, name(i)), prng(i + 1, 1 + ((i * 613) % 7000)));
  mkfs(image, stage, { sizeMiB: 32 });
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs fn with the image's volume and the entries of every staged file. */
async function withEntries(fn: (ctx: ExportContext, entries: BatchEntry[]) => Promise<void>): Promise<void> {
  await withFileDevice(image, {}, async (dev) => {
    const vol = await Ext4Volume.open(dev);
    const entries: BatchEntry[] = [];
    for (let i = 0; i < FILES; i++) entries.push({ path: Buffer.from(name(i)), inode: await vol.lookup(`/${name(i)}`) });
    const skipped: string[] = [];
    // The two members SmallFiles uses.
    const ctx = { vol, skip: (p: Uint8Array) => skipped.push(Buffer.from(p).toString()) } as unknown as ExportContext;
    await fn(ctx, entries);
    expect(skipped).toEqual([]);
  });
}

/** A gate the writer waits at, and the files it was given. */
function writer() {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const written = new Map<string, Buffer>();
  let waiting = true;
  return {
    written,
    open: () => ((waiting = false), open()),
    fail: null as null | ((path: string) => boolean),
    async write(this: { fail: null | ((path: string) => boolean) }, e: BatchEntry, bytes: BatchRead) {
      if (waiting) await gate;
      const path = e.path.toString();
      if (this.fail?.(path)) throw new IoError('OUTPUT_FULL', 'the disk is full');
      if (bytes instanceof AppError) throw bytes;
      written.set(path, Buffer.from(bytes));
    },
  };
}

describe('SmallFiles', () => {
  it('three batches in flight: flush returns while two work, the third waits for one, and every file arrives whole', async () => {
    await withEntries(async (ctx, entries) => {
      const w = writer();
      const small = new SmallFiles(ctx, (e, b) => w.write(e, b), { inFlight: 3 });
      // 512 files: two batches of 256 started and under way, none written (the writer waits at its gate).
      for (const e of entries.slice(0, 512)) await small.add(e);
      expect(w.written.size).toBe(0);
      let thirdStarted = false;
      const third = (async () => {
        for (const e of entries.slice(512, 768)) await small.add(e);
        thirdStarted = true;
      })();
      await new Promise((r) => setTimeout(r, 50));
      expect(thirdStarted).toBe(false);
      w.open();
      await third;
      for (const e of entries.slice(768)) await small.add(e);
      await small.finish();
      expect(w.written.size).toBe(FILES);
      for (const [path, bytes] of w.written) expect(bytes.equals(readFileSync(join(stage, path))), path).toBe(true);
    });
  });

  it('one batch at a time: flush returns when its files are written', async () => {
    await withEntries(async (ctx, entries) => {
      const w = writer();
      w.open();
      const small = new SmallFiles(ctx, (e, b) => w.write(e, b));
      for (const e of entries.slice(0, 100)) await small.add(e);
      await small.flush();
      expect(w.written.size).toBe(100);
    });
  });

  it('a write that fails stops every batch: finish throws it, and nothing is written afterwards', async () => {
    await withEntries(async (ctx, entries) => {
      const w = writer();
      w.fail = (path) => path === name(300);
      w.open();
      const small = new SmallFiles(ctx, (e, b) => w.write(e, b), { inFlight: 3 });
      let failed: unknown = null;
      try {
        for (const e of entries) await small.add(e);
        await small.finish();
      } catch (err) {
        failed = err;
      }
      expect(failed).toMatchObject({ code: 'OUTPUT_FULL' });
      const count = w.written.size;
      expect(count).toBeLessThan(FILES - 1);
      await new Promise((r) => setTimeout(r, 50));
      expect(w.written.size).toBe(count);
    });
  });

  it('abandon (the walk failed): the batches under way write no more and are waited for', async () => {
    await withEntries(async (ctx, entries) => {
      const w = writer();
      const small = new SmallFiles(ctx, (e, b) => w.write(e, b), { inFlight: 3 });
      for (const e of entries.slice(0, 600)) await small.add(e);
      const abandoned = small.abandon();
      w.open();
      await abandoned;
      const count = w.written.size;
      await new Promise((r) => setTimeout(r, 50));
      expect(w.written.size).toBe(count);
      expect(count).toBeLessThan(600);
    });
  });
});

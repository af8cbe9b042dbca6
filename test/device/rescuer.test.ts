// The copy engine of `image` on a card with bad sectors (the fault-injecting device): every good sector is
// copied, every bad one is marked bad to the sector, no bad sector is read more than twice before the
// retries (as GNU ddrescue promises), a stop leaves a consistent map, and a second run finishes the job.
// The same checks against a real failing device and GNU ddrescue are in test/integration/image-*.test.ts.

import { describe, expect, it } from 'vitest';
import type { BlockDevice } from '../../src/device/block-device.js';
import { faultyDevice } from '../../src/device/faulty-device.js';
import { memoryDevice } from '../../src/device/memory-device.js';
import { RegionMap } from '../../src/device/rescue/region-map.js';
import { RescueStopped, Rescuer, type RescueTarget } from '../../src/device/rescue/rescuer.js';
import { rescuingDevice } from '../../src/device/rescue/rescuing-device.js';
import { seededRandom } from './helpers.js';

const SECTOR = 512;
const REQUEST = 128 * 1024;

/** A card of `sizeBytes` random bytes whose listed sectors fail; counts how often each bad sector is asked for. */
function card(sizeBytes: number, badSectors: number[], seed = 1) {
  const bytes = seededRandom(seed).bytes(sizeBytes);
  // Two MiB of zeros, so the sparse output is exercised.
  bytes.fill(0, 2 * 1024 * 1024, 4 * 1024 * 1024);
  const bad = new Set(badSectors);
  const inner = faultyDevice(memoryDevice(bytes), { failReadsIn: badSectors.map((s) => ({ byteOffset: s * SECTOR, length: SECTOR })) });
  const readsOfBad = new Map<number, number>();
  const device: BlockDevice = {
    ...inner,
    sizeBytes: inner.sizeBytes,
    sectorSize: inner.sectorSize,
    description: 'test card',
    writable: false,
    // As the kernel does: a read goes to the card as requests of at most 128 KiB, one after another; the
    // first that fails ends the read, with the bytes before it delivered (file-device.ts's deliveredBytes).
    async read(offset, length, into) {
      const out = into && into.length >= length ? into.subarray(0, length) : Buffer.alloc(length);
      for (let done = 0; done < length; ) {
        const n = Math.min(REQUEST, length - done);
        for (let s = Math.floor((offset + done) / SECTOR); s * SECTOR < offset + done + n; s++) if (bad.has(s)) readsOfBad.set(s, (readsOfBad.get(s) ?? 0) + 1);
        try {
          (await inner.read(offset + done, n)).copy(out, done);
        } catch (err) {
          (err as { details: Record<string, unknown> }).details['deliveredBytes'] = done;
          throw err;
        }
        done += n;
      }
      return out;
    },
    write: inner.write.bind(inner),
    flush: inner.flush.bind(inner),
    close: inner.close.bind(inner),
  };
  return { bytes, device, readsOfBad };
}

function memoryTarget(sizeBytes: number): RescueTarget & { bytes: Buffer; writes: number } {
  const bytes = Buffer.alloc(sizeBytes);
  const t = {
    bytes,
    writes: 0,
    async write(pos: number, data: Buffer) {
      t.writes += 1;
      data.copy(bytes, pos);
    },
    async read(pos: number, length: number) {
      return Buffer.from(bytes.subarray(pos, pos + length));
    },
  };
  return t;
}

async function allPasses(r: Rescuer, size: number): Promise<void> {
  await r.copy(0, size, true);
  await r.copy(0, size, false);
  await r.trim(0, size);
  await r.scrape(0, size);
}

function badAreas(size: number): number[] {
  const rnd = seededRandom(7);
  const out: number[] = [];
  for (let area = 0; area < 12; area++) {
    const first = rnd.int(size / SECTOR - 40);
    const count = 1 + rnd.int(30);
    for (let s = first; s < first + count; s++) out.push(s);
  }
  return [...new Set(out)].sort((a, b) => a - b);
}

describe('Rescuer', () => {
  const size = 8 * 1024 * 1024 + 3 * SECTOR;
  const options = { sectorSize: SECTOR, readBytes: 1024 * 1024, clusterBytes: 64 * 1024 };

  it('copies every good sector, marks exactly the bad ones, and reads no bad sector more than twice', async () => {
    const bad = badAreas(size);
    const { bytes, device, readsOfBad } = card(size, bad);
    const target = memoryTarget(size);
    const map = new RegionMap(size);
    const r = new Rescuer(device, target, map, options);
    await allPasses(r, size);
    const badSet = new Set(bad);
    for (let s = 0; s * SECTOR < size; s++) {
      const want = badSet.has(s) ? '-' : '+';
      expect(map.statusAt(s * SECTOR), `sector ${s}`).toBe(want);
      if (!badSet.has(s)) expect(target.bytes.subarray(s * SECTOR, (s + 1) * SECTOR).equals(bytes.subarray(s * SECTOR, (s + 1) * SECTOR)), `sector ${s}`).toBe(true);
    }
    expect(Math.max(...readsOfBad.values())).toBeLessThanOrEqual(2);
    expect(map.totals()['-']).toBe(bad.length * SECTOR);
  });

  it('retries read each bad sector once per pass', async () => {
    const bad = [100, 101, 5000];
    const { device, readsOfBad } = card(size, bad);
    const r = new Rescuer(device, memoryTarget(size), new RegionMap(size), options);
    await allPasses(r, size);
    const before = new Map(readsOfBad);
    await r.retry(0, size);
    for (const s of bad) expect(readsOfBad.get(s)).toBe(before.get(s)! + 1);
  });

  it('leaves a consistent map when stopped, and a second run on that map ends with the same image', async () => {
    const bad = badAreas(size);
    const whole = card(size, bad);
    const once = memoryTarget(size);
    const onceMap = new RegionMap(size);
    await allPasses(new Rescuer(whole.device, once, onceMap, options), size);

    const split = card(size, bad);
    const target = memoryTarget(size);
    const map = new RegionMap(size);
    let reads = 0;
    const first = new Rescuer(split.device, target, map, { ...options, shouldStop: () => ++reads > 25 });
    await expect(allPasses(first, size)).rejects.toBeInstanceOf(RescueStopped);
    expect(map.totals()['+']).toBeGreaterThan(0);
    expect(map.totals()['+']).toBeLessThan(size);
    await allPasses(new Rescuer(split.device, target, map, options), size);
    expect(target.bytes.equals(once.bytes)).toBe(true);
    expect(map.regions()).toEqual(onceMap.regions());
  });

  it('serves a filesystem reader through the image: each sector is read from the card once', async () => {
    const { bytes, device } = card(size, [2048]);
    let cardReads = 0;
    const counting: BlockDevice = { ...device, read: (o, l, i) => (cardReads++, device.read(o, l, i)) };
    const target = memoryTarget(size);
    const r = new Rescuer(counting, target, new RegionMap(size), options);
    const dev = rescuingDevice(r, counting);
    expect((await dev.read(4096, 100)).equals(bytes.subarray(4096, 4196))).toBe(true);
    const after = cardReads;
    expect((await dev.read(5000, 100)).equals(bytes.subarray(5000, 5100))).toBe(true);
    expect(cardReads).toBe(after);
    // Sector 2048 is bad: a read touching it fails as a bad sector would; its neighbours still read.
    await expect(dev.read(2048 * SECTOR - 10, 20)).rejects.toMatchObject({ code: 'NOT_RESCUED' });
    expect((await dev.read(2049 * SECTOR, 10)).equals(bytes.subarray(2049 * SECTOR, 2049 * SECTOR + 10))).toBe(true);
  });

  it('writes all-zero pieces as holes', async () => {
    const { device } = card(size, []);
    const target = memoryTarget(size);
    const r = new Rescuer(device, target, new RegionMap(size), { ...options, clusterBytes: 64 * 1024 });
    await r.copy(0, size, true);
    expect(r.stats.rescuedBytes).toBe(size);
    // Nine reads of up to 1 MiB; the two that read only zeros are not written.
    expect(r.stats.reads).toBe(9);
    expect(target.writes).toBe(7);
  });
});

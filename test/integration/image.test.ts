// `haos-rescue image` on a failing card made real (a FUSE file that fails, stalls or dies on chosen
// sectors: test/helpers/failing-card.py), with GNU ddrescue as the oracle: the same bytes rescued, the same
// bad sectors marked, each bad sector read no more often, a map ddrescuelog accepts; Ctrl-C and resume end
// with the same image; a card that dies part-way leaves an image whose logins and configuration read,
// where a linear copy of as many bytes does not. Skipped with the reason where FUSE, root or ddrescue is missing.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE, readSampleImage } from '../../fixtures/index.js';
import { CLI, cli } from '../helpers/cli.js';
import { type CardStats, SECTOR, failingCardUnavailable, withFailingCard } from '../helpers/failing-card.js';
import { tempDir } from '../helpers/images.js';
import { rmSync } from 'node:fs';

const AUTH = '/supervisor/homeassistant/.storage/auth';
const CONFIG = '/supervisor/homeassistant/configuration.yaml';
const MIB = 1024 * 1024;

function why(): string | null {
  return failingCardUnavailable() ?? (spawnSync('ddrescue', ['--version']).status === 0 ? null : 'GNU ddrescue is not installed (apt-get install gddrescue)');
}
const reason = why();

/** 20 bad areas of 50 sectors: 1,000 bad sectors over the whole card, data partition included. */
function badAreas(): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const sectors = SAMPLE.imageBytes / SECTOR;
  for (let i = 0; i < 20; i++) out.push([Math.floor(((i + 0.37) * sectors) / 20), 50]);
  return out;
}

/** The sector lists of one status in a map, as ddrescuelog prints them. */
function sectorsWith(map: string, status: string): string {
  const r = spawnSync('ddrescuelog', ['-b', String(SECTOR), `-l${status}`, map], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ddrescuelog on ${map}: ${r.stderr}`);
  return r.stdout;
}

function ddrescue(card: string, out: string, map: string, extra: string[] = []): void {
  const r = spawnSync('ddrescue', ['-b', String(SECTOR), ...extra, card, out, map], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ddrescue: ${r.stderr}`);
}

function sameRescuedBytes(a: string, b: string, map: string): void {
  const x = readFileSync(a);
  const y = readFileSync(b);
  for (const line of sectorsWith(map, '+').split('\n').filter(Boolean)) {
    const s = Number(line);
    expect(x.subarray(s * SECTOR, (s + 1) * SECTOR).equals(y.subarray(s * SECTOR, (s + 1) * SECTOR)), `sector ${s}`).toBe(true);
  }
}

function maxBadReads(s: CardStats): number {
  return Math.max(0, ...Object.values(s.badSectorReads));
}

describe.skipIf(reason !== null)(`image on a failing card${reason ? ` (skipped: ${reason})` : ''}`, () => {
  let dir: string;
  let sample: string;

  beforeAll(() => {
    dir = tempDir('haos-rescue-image-');
    sample = join(dir, 'sample.img');
    writeFileSync(sample, readSampleImage());
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('rescues what ddrescue rescues, marks the same bad sectors, reads none more often, and ddrescuelog accepts the map', async () => {
    const bad = badAreas();
    const ours = await withFailingCard({ image: sample, bad, failDelayMs: 1 }, async (card) => {
      const r = cli(['image', card.path, '--out', join(dir, 'ours.img'), '--json']);
      expect(r.code, r.stderr).toBe(65);
      return { stats: await card.stats(), json: JSON.parse(r.text) as { badSectorBytes: number; finished: boolean; order: string } };
    });
    const theirs = await withFailingCard({ image: sample, bad, failDelayMs: 1 }, async (card) => {
      ddrescue(card.path, join(dir, 'theirs.img'), join(dir, 'theirs.map'));
      return { stats: await card.stats() };
    });
    expect(ours.json).toMatchObject({ finished: true, order: 'filesystem', badSectorBytes: 1000 * SECTOR });
    const ourMap = join(dir, 'ours.img.map');
    expect(spawnSync('ddrescuelog', ['-t', ourMap]).status).toBe(0);
    expect(sectorsWith(ourMap, '-')).toBe(sectorsWith(join(dir, 'theirs.map'), '-'));
    expect(sectorsWith(ourMap, '+')).toBe(sectorsWith(join(dir, 'theirs.map'), '+'));
    sameRescuedBytes(join(dir, 'ours.img'), sample, ourMap);
    expect(maxBadReads(ours.stats)).toBeLessThanOrEqual(maxBadReads(theirs.stats));
  });

  // The phases overlap (metadata and configuration inside the used blocks, those inside the partition): a
  // retry pass went over each of them, reading a bad sector of the configuration 3 times per pass.
  it('--retries 2 reads each bad sector no more often than ddrescue -r2, sector by sector', async () => {
    const bad = badAreas();
    const ours = await withFailingCard({ image: sample, bad, failDelayMs: 1 }, async (card) => {
      const r = cli(['image', card.path, '--out', join(dir, 'retry-ours.img'), '--retries', '2', '--json']);
      expect(r.code, r.stderr).toBe(65);
      return card.stats();
    });
    const theirs = await withFailingCard({ image: sample, bad, failDelayMs: 1 }, async (card) => {
      ddrescue(card.path, join(dir, 'retry-theirs.img'), join(dir, 'retry-theirs.map'), ['-r2']);
      return card.stats();
    });
    expect(Object.keys(ours.badSectorReads).length).toBe(1000);
    const more = Object.entries(ours.badSectorReads).filter(([sector, n]) => n > (theirs.badSectorReads[sector] ?? 0));
    expect(more.slice(0, 5), `${more.length} sectors read more often than by ddrescue`).toEqual([]);
    expect(sectorsWith(join(dir, 'retry-ours.img.map'), '-')).toBe(sectorsWith(join(dir, 'retry-theirs.map'), '-'));
  });

  it('after Ctrl-C at a random moment, the same command resumes and ends with the same image as an uninterrupted run', async () => {
    const bad = badAreas().slice(0, 6);
    const config = { image: sample, bad, failDelayMs: 1, latencyMs: 1 };
    const whole = join(dir, 'whole.img');
    await withFailingCard(config, async (card) => {
      expect(cli(['image', card.path, '--out', whole]).code).toBe(65);
    });
    const resumed = join(dir, 'resumed.img');
    const delay = Math.floor(Math.random() * 1500);
    await withFailingCard(config, async (card) => {
      const child = spawn(process.execPath, [CLI, 'image', card.path, '--out', resumed], { stdio: 'ignore' });
      // Listened for from the spawn: a small card may be done (exit 65) before the Ctrl-C comes.
      const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
      // From the moment the copy has begun (its map exists), not from the spawn: on a loaded machine Node's
      // start can take longer than the delay, and a Ctrl-C before the program runs tests nothing.
      for (let i = 0; i < 400 && !existsSync(`${resumed}.map`); i++) await new Promise((r) => setTimeout(r, 25));
      await new Promise((r) => setTimeout(r, delay));
      child.kill('SIGINT');
      const code = await exited;
      expect([130, 65], `interrupted after ${delay} ms`).toContain(code);
      expect(spawnSync('ddrescuelog', ['-t', `${resumed}.map`]).status).toBe(0);
      expect(cli(['image', card.path, '--out', resumed]).code).toBe(65);
    });
    expect(readFileSync(resumed).equals(readFileSync(whole)), `interrupted after ${delay} ms`).toBe(true);
    expect(sectorsWith(`${resumed}.map`, '-')).toBe(sectorsWith(`${whole}.map`, '-'));
  });

  it('a card that dies after 12 MiB: the filesystem-aware order has the logins and the configuration, a linear copy does not', async () => {
    const config = { image: sample, dieAfterBytes: 12 * MIB, failDelayMs: 0 };
    const ours = join(dir, 'dying-ours.img');
    await withFailingCard(config, async (card) => {
      // It stops once a part that read well fails too (the card no longer answers at all).
      const r = cli(['image', card.path, '--out', ours, '--no-trim', '--no-scrape', '--verbose']);
      expect(r.code, r.stderr).toBe(74);
      expect(r.stderr).toMatch(/code: SOURCE_NOT_ANSWERING/);
    });
    const linear = join(dir, 'dying-linear.img');
    await withFailingCard(config, async (card) => {
      ddrescue(card.path, linear, `${linear}.map`, ['-n', '-N']);
    });
    for (const path of [AUTH, CONFIG]) {
      const fromOurs = cli(['cat', ours, path]);
      expect(fromOurs.code, fromOurs.stderr).toBe(0);
      const fromLinear = cli(['cat', linear, path]);
      expect(fromLinear.code, `a linear copy of 12 MiB should not hold ${path}`).not.toBe(0);
    }
    expect(JSON.parse(cli(['cat', ours, AUTH]).text).data.users.length).toBeGreaterThan(0);
  });

  // Every read failing from some point (a dead card, a hung reader) is not a disk of bad sectors: trimming
  // and scraping it took 50,000 failed reads (days at a real card's seconds per failure).
  it('a card that stops answering altogether: the copy stops, says so and how to go on, the map saved', async () => {
    const out = join(dir, 'dead.img');
    const stats = await withFailingCard({ image: sample, dieAfterBytes: 8 * MIB, failDelayMs: 0 }, async (card) => {
      const r = cli(['image', card.path, '--out', out, '--verbose']);
      expect(r.code, r.stderr).toBe(74);
      expect(r.stderr).toMatch(/code: SOURCE_NOT_ANSWERING/);
      expect(r.stderr).toMatch(/^error: the copy stopped: .* stopped answering: the last \d+ reads failed, and so does byte \d+, which read well before$/m);
      expect(r.stderr).toMatch(/^hint: take the card out and put it back, or try another reader .*; what was copied so far is kept: run the same command again to continue$/m);
      return card.stats();
    });
    expect(stats.requests).toBeLessThan(1000);
    expect(spawnSync('ddrescuelog', ['-t', `${out}.map`]).status).toBe(0);
    expect(sectorsWith(`${out}.map`, '+').split('\n').filter(Boolean).length).toBeGreaterThan(0);
  });

  // The first map was saved after 5 s: killed before, an image without a map was left, and the same
  // command refused it (only --force, starting over, went on).
  it('killed before its first save (SIGKILL, a pulled plug): the map is there, and the same command continues', async () => {
    const superblockSector = SAMPLE.dataOffsetBytes / SECTOR;
    const out = join(dir, 'killed.img');
    await withFailingCard({ image: sample, stall: [[superblockSector, 8, 4]] }, async (card) => {
      const child = spawn(process.execPath, [CLI, 'image', card.path, '--out', out], { stdio: 'ignore' });
      const exited = new Promise((r) => child.on('exit', r));
      await new Promise((r) => setTimeout(r, 1500));
      child.kill('SIGKILL');
      await exited;
    });
    expect(existsSync(out)).toBe(true);
    expect(spawnSync('ddrescuelog', ['-t', `${out}.map`]).status).toBe(0);
    await withFailingCard({ image: sample }, async (card) => {
      const r = cli(['image', card.path, '--out', out]);
      expect(r.code, r.stderr).toBe(0);
    });
    expect(readFileSync(out).equals(readFileSync(sample))).toBe(true);
  });

  it('a read that stalls does not freeze Ctrl-C: the map is saved at once, the command ends with the read, and the next run finishes', async () => {
    const stallSector = (SAMPLE.dataOffsetBytes + 8 * MIB) / SECTOR;
    const config = { image: sample, stall: [[stallSector, 8, 6]] as Array<[number, number, number]> };
    const out = join(dir, 'stall.img');
    await withFailingCard(config, async (card) => {
      const child = spawn(process.execPath, [CLI, 'image', card.path, '--out', out], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
      // The rest of the card takes well under a second; then the copy sits in the stall.
      await new Promise((r) => setTimeout(r, 2500));
      child.kill('SIGINT');
      await new Promise((r) => setTimeout(r, 1000));
      expect(err).toMatch(/the map is saved .*The card has not answered its last read yet/s);
      const map = readFileSync(`${out}.map`, 'utf8');
      expect(spawnSync('ddrescuelog', ['-t', `${out}.map`]).status).toBe(0);
      expect(map).toMatch(/\n0x[0-9A-F]+ +0x[0-9A-F]+ +\?\n/);
      expect(await exited, err).toBe(130);
    });
    await withFailingCard({ image: sample }, async (card) => {
      const r = cli(['image', card.path, '--out', out]);
      expect(r.code, r.stderr).toBe(0);
    });
    expect(readFileSync(out).equals(readFileSync(sample))).toBe(true);
  });

  it('a sector read that stalls while trimming (on the helper thread) does not freeze Ctrl-C either: exit 130 when the card answers, the map saved', async () => {
    // No filesystem: a linear copy. The stalled sector lies in the request that fails at the bad area, so
    // the copy pass stalls once (5 s) and trimming reads it alone and stalls again: Ctrl-C comes then.
    const card = join(dir, 'plain.img');
    writeFileSync(card, Buffer.alloc(8 * MIB, 0x5a));
    const out = join(dir, 'plain-out.img');
    await withFailingCard({ image: card, bad: [[4000, 10]], stall: [[4100, 1, 5]] }, async (failing) => {
      const child = spawn(process.execPath, [CLI, 'image', failing.path, '--out', out], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
      await new Promise((r) => setTimeout(r, 6500));
      const sent = Date.now();
      child.kill('SIGINT');
      await new Promise((r) => setTimeout(r, 500));
      // The map is saved at once, while the read is still under way.
      expect(err).toMatch(/the map is saved .*The card has not answered its last read yet/s);
      expect(spawnSync('ddrescuelog', ['-t', `${out}.map`]).status).toBe(0);
      expect(await exited, err).toBe(130);
      expect(Date.now() - sent).toBeLessThan(8000);
    });
  });

  it('a reader pulled mid-copy ends the run (exit 66, the map saved, not finished), and the same command finishes later', async () => {
    const out = join(dir, 'pulled.img');
    await withFailingCard({ image: sample, latencyMs: 30 }, async (card) => {
      const child = spawn(process.execPath, [CLI, 'image', card.path, '--out', out], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
      await new Promise((r) => setTimeout(r, 1500));
      // The server is the card reader: killing it is pulling the reader out.
      spawnSync('pkill', ['-9', '-f', `failing-card.py .*${dirname(card.path)}`]);
      expect(await exited, err).toBe(66);
      expect(err).toMatch(/run the same command again to continue/);
    });
    const map = readFileSync(`${out}.map`, 'utf8');
    expect(map).not.toMatch(/# Finished/);
    expect(sectorsWith(`${out}.map`, '?').length).toBeGreaterThan(0);
    await withFailingCard({ image: sample }, async (card) => {
      const r = cli(['image', card.path, '--out', out]);
      expect(r.code, r.stderr).toBe(0);
    });
    expect(readFileSync(out).equals(readFileSync(sample))).toBe(true);
  });
});

describe('image --retries on a card with nothing bad left', () => {
  it('10,000,000 passes asked for end at once (they ran for ever at full CPU, deaf to Ctrl-C, the map never saved)', () => {
    const dir = tempDir('haos-rescue-image-retries-');
    try {
      const sample = join(dir, 'sample.img');
      writeFileSync(sample, readSampleImage());
      const out = join(dir, 'copy.img');
      const r = spawnSync(process.execPath, [CLI, 'image', sample, '--out', out, '--retries', '10000000', '--json'], { timeout: 60_000, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ finished: true });
      expect(readFileSync(out).equals(readFileSync(sample))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('image refuses what would lose data, and names a missing source', () => {
  it('a missing SOURCE is exit 66 (it was an internal error), --out on the source itself 64, an existing --out without a map 64', () => {
    const dir = tempDir('haos-rescue-image-refuse-');
    try {
      const sample = join(dir, 'sample.img');
      writeFileSync(sample, readSampleImage());
      const missing = cli(['image', join(dir, 'nope.img'), '--out', join(dir, 'x.img'), '--verbose']);
      expect(missing.code, missing.stderr).toBe(66);
      expect(missing.stderr).toMatch(/code: SOURCE_NOT_FOUND/);
      const onItself = cli(['image', sample, '--out', sample, '--verbose']);
      expect(onItself.code).toBe(64);
      expect(onItself.stderr).toMatch(/code: OUTPUT_ON_SOURCE/);
      // Said once, not "X is X itself".
      expect(onItself.stderr).toMatch(/sample\.img is the disk being copied: the copy cannot go into it/);
      writeFileSync(join(dir, 'old.img'), 'x');
      const exists = cli(['image', sample, '--out', join(dir, 'old.img'), '--verbose']);
      expect(exists.code).toBe(64);
      expect(exists.stderr).toMatch(/code: OUTPUT_EXISTS/);
      expect(readFileSync(join(dir, 'old.img'), 'utf8')).toBe('x');
      // The image or its map where every read of the source looks for the source's own map: refused, and
      // the source still reads (an image written there made every later read fail on a "damaged map").
      for (const args of [['--out', `${sample}.map`], ['--out', join(dir, 'copy.img'), '--map', `${sample}.map`]]) {
        const asMap = cli(['image', sample, ...args, '--verbose']);
        expect(asMap.code, asMap.stderr).toBe(64);
        expect(asMap.stderr).toMatch(/code: OUTPUT_IS_SOURCE_MAP/);
        expect(existsSync(`${sample}.map`)).toBe(false);
      }
      expect(cli(['info', sample]).code).toBe(0);
      // A folder named as the image or its map: said as such (it said "add --force", then "e.g. /dev/sdb").
      for (const args of [['--out', dir], ['--out', join(dir, 'c.img'), '--map', dir]]) {
        const folder = cli(['image', sample, ...args, '--force', '--verbose']);
        expect(folder.code, folder.stderr).toBe(64);
        expect(folder.stderr).toMatch(/code: OUT_IS_FOLDER/);
        expect(folder.stderr).toMatch(/^hint: name a file in it, e\.g\. /m);
      }
      expect(existsSync(join(dir, 'c.img'))).toBe(false);
      // A folder not there yet is made, as export and extract make theirs (it was refused: "create it first").
      const deep = cli(['image', sample, '--out', join(dir, 'new', 'deeper', 'card.img')]);
      expect(deep.code, deep.stderr).toBe(0);
      expect(readFileSync(join(dir, 'new', 'deeper', 'card.img')).equals(readFileSync(sample))).toBe(true);
      // A file on the way (an internal error, ENOTDIR), or a folder that takes no new files (/proc: a raw
      // ENOENT with a hint to free space), are said as what they are.
      const onFile = cli(['image', sample, '--out', join(dir, 'old.img', 'card.img'), '--verbose']);
      expect(onFile.code, onFile.stderr).toBe(64);
      expect(onFile.stderr).toMatch(/code: OUT_NOT_A_FOLDER/);
      const proc = cli(['image', sample, '--out', '/proc/haos-rescue-card.img']);
      expect(proc.code, proc.stderr).toBe(64);
      expect(proc.stderr).toMatch(/cannot be created: its folder takes no new files there/);
      expect(proc.stderr).not.toMatch(/free space/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an image and map of another card of the same size are not continued from this card (they were mixed into one image, exit 0)', () => {
    const dir = tempDir('haos-rescue-image-other-');
    try {
      const a = join(dir, 'a.img');
      const b = join(dir, 'b.img');
      const cardA = readSampleImage();
      writeFileSync(a, cardA);
      const cardB = Buffer.from(cardA);
      for (let i = Math.floor(cardB.length / 4); i < cardB.length / 2; i++) cardB[i] = (i * 7919) & 0xff;
      writeFileSync(b, cardB);
      const out = join(dir, 'copy.img');
      expect(cli(['image', a, '--out', out]).code).toBe(0);
      // As if the copy of card A had stopped half-way: the second half not tried yet.
      const half = cardA.length / 2;
      writeFileSync(`${out}.map`, `# Mapfile\n0x${half.toString(16)} ?\n0x0 0x${half.toString(16)} +\n0x${half.toString(16)} 0x${half.toString(16)} ?\n`);
      const before = readFileSync(out);
      const mixed = cli(['image', b, '--out', out, '--verbose']);
      expect(mixed.code, mixed.stderr).toBe(64);
      expect(mixed.stderr).toMatch(/code: IMAGE_OF_OTHER_DISK/);
      expect(mixed.stderr).toMatch(/does not hold a copy of .*b\.img/);
      expect(mixed.stderr).toMatch(/^hint: .*name a new image file/m);
      expect(readFileSync(out).equals(before)).toBe(true);
      // The card it was copied from continues it.
      const same = cli(['image', a, '--out', out]);
      expect(same.code, same.stderr).toBe(0);
      expect(readFileSync(out).equals(cardA)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an empty file is not copied (it said "rescued 0 bytes of 0 bytes", exit 0, and made an empty image and map)', () => {
    const dir = tempDir('haos-rescue-image-empty-');
    try {
      const empty = join(dir, 'empty.img');
      writeFileSync(empty, '');
      const r = cli(['image', empty, '--out', join(dir, 'copy.img')]);
      expect(r.code, r.stderr).toBe(66);
      expect(r.stderr).toMatch(/^error: image .*empty\.img is empty \(0 bytes\): there is nothing to copy$/m);
      expect(existsSync(join(dir, 'copy.img')) || existsSync(join(dir, 'copy.img.map'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // Refused, the image of a smaller disk was still grown to this card's size first (its bytes changed).
  it('an image and map of a smaller disk: refused by the map\'s size, the image and the map untouched', () => {
    const dir = tempDir('haos-rescue-image-smaller-');
    try {
      const small = join(dir, 'small.img');
      writeFileSync(small, readSampleImage().subarray(0, 8 * MIB));
      const card = join(dir, 'card.img');
      writeFileSync(card, readSampleImage());
      const out = join(dir, 'copy.img');
      expect(cli(['image', small, '--out', out]).code).toBe(0);
      const image = readFileSync(out);
      const map = readFileSync(`${out}.map`);
      const other = cli(['image', card, '--out', out, '--verbose']);
      expect(other.code, other.stderr).toBe(64);
      expect(other.stderr).toMatch(/code: IMAGE_OF_OTHER_DISK/);
      expect(other.stderr).toMatch(/its map .*copy\.img\.map is for a disk of 8388608 bytes, and this one holds 33554432/);
      expect(readFileSync(out).equals(image)).toBe(true);
      expect(readFileSync(`${out}.map`).equals(map)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

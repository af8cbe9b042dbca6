// The rescue map: RegionMap against a naive byte-array model, the mapfile parser and writer against
// ddrescue's grammar, and GNU ddrescue 1.27 itself as the oracle: maps made by `ddrescue` (with
// --test-mode to get bad, non-trimmed, non-scraped and non-tried areas) must parse to what
// `ddrescuelog -l` lists, and `ddrescuelog` must read our maps and accept exactly the text we accept.

import { spawnSync } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatMapfile, parseMapfile, readMapfile, writeMapfileAtomic, type Mapfile, type PhaseStatus } from '../../src/device/rescue/mapfile.js';
import { RegionMap, type BlockStatus, type MapRegion } from '../../src/device/rescue/region-map.js';
import { AppError } from '../../src/errors.js';
import { makeTempDir, seededRandom } from './helpers.js';

const STATUSES: BlockStatus[] = ['?', '*', '/', '-', '+'];
const HEADER = { commandLine: 'haos-rescue image /dev/sdb card.img', startTime: new Date(2024, 4, 6, 7, 8, 9), currentTime: new Date(2024, 11, 31, 23, 59, 58), finished: false, version: '0.1.0' };

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await makeTempDir('rescue-map')));
afterAll(() => cleanup());

/** Maximal runs of equal status in model[start, end): what RegionMap.regions must return. */
function runs(model: BlockStatus[], start = 0, end = model.length): MapRegion[] {
  const out: MapRegion[] = [];
  for (let i = start; i < end; i++) {
    const last = out.at(-1);
    const status = model[i]!;
    if (last !== undefined && last.status === status) last.size++;
    else out.push({ pos: i, size: 1, status });
  }
  return out;
}

function randomMap(seed: number, sizeBytes: number, ops: number): RegionMap {
  const rnd = seededRandom(seed);
  const map = new RegionMap(sizeBytes);
  for (let i = 0; i < ops; i++) map.set(rnd.int(sizeBytes), 1 + rnd.int(sizeBytes >> 6), STATUSES[rnd.int(5)]!);
  return map;
}

/** Parses, returning the BAD_MAPFILE line instead of throwing; any other error fails the test. */
function tryParse(text: string, sizeBytes: number): { ok: true; m: Mapfile } | { ok: false; line: number; hint: string } {
  try {
    return { ok: true, m: parseMapfile(text, sizeBytes) };
  } catch (err) {
    if (!(err instanceof AppError) || err.code !== 'BAD_MAPFILE') throw err;
    expect(err.message).toMatch(/^mapfile line \d+: /);
    return { ok: false, line: err.details.line as number, hint: err.hint ?? '' };
  }
}

describe('RegionMap', () => {
  it('matches a byte-array model over 1000 random operations', () => {
    const SEED = 0x5eed_2024;
    const N = 3000;
    const rnd = seededRandom(SEED);
    const map = new RegionMap(N);
    const model: BlockStatus[] = new Array<BlockStatus>(N).fill('?');
    for (let op = 0; op < 1000; op++) {
      const at = `seed ${SEED}, op ${op}`;
      const [pos, size, status] = [rnd.int(N + 50), rnd.int(8) === 0 ? rnd.int(N) : rnd.int(40), STATUSES[rnd.int(5)]!];
      map.set(pos, size, status);
      for (let i = pos; i < Math.min(pos + size, N); i++) model[i] = status;
      expect(map.regions(), at).toEqual(runs(model));
      const from = rnd.int(N + 10);
      const end = from + rnd.int(300);
      const [lo, hi] = [Math.min(from, N), Math.min(end, N)];
      const wanted = STATUSES.filter(() => rnd.int(3) === 0);
      const slice = model.slice(lo, hi);
      expect(map.regions(from, end), at).toEqual(runs(model, lo, hi));
      expect(map.next(wanted, from, end), at).toEqual(runs(model, lo, hi).find((r) => wanted.includes(r.status)) ?? null);
      expect(map.next(wanted.join(''), from), at).toEqual(runs(model, lo).find((r) => wanted.includes(r.status)) ?? null);
      expect(map.all(from, end - from, status), at).toBe(slice.every((s) => s === status));
      expect(map.any(from, end - from, wanted), at).toBe(slice.some((s) => wanted.includes(s)));
      if (from < N) expect(map.statusAt(from), at).toBe(model[from]);
      for (const s of STATUSES) {
        expect(map.totals()[s], at).toBe(model.filter((m) => m === s).length);
        expect(map.areas(s), at).toBe(runs(model).filter((r) => r.status === s).length);
      }
    }
    expect(map.regionCount).toBeGreaterThan(20); // the walk really fragmented the map
  });

  it('refuses bad arguments with INVALID_RANGE and ignores empty or outside ranges', () => {
    const map = new RegionMap(100);
    for (const bad of [() => map.set(-1, 1, '+'), () => map.set(1.5, 1, '+'), () => map.set(0, NaN, '+'), () => map.set(0, 1, 'x' as BlockStatus),
      () => map.statusAt(100), () => map.regions(-1), () => new RegionMap(-1), () => map.grow(99)]) {
      expect(bad).toThrow(expect.objectContaining({ code: 'INVALID_RANGE' }));
    }
    map.set(10, 0, '+');
    map.set(100, 50, '+');
    map.set(90, Number.MAX_SAFE_INTEGER, '-'); // clipped, and pos + size beyond 2^53 is no problem
    expect(map.regions()).toEqual([{ pos: 0, size: 90, status: '?' }, { pos: 90, size: 10, status: '-' }]);
    expect(map.all(95, 0, '+')).toBe(true);
    expect(map.any(95, 0, '-')).toBe(false);
    expect(new RegionMap(0).regions()).toEqual([]);
  });

  it('grows with non-tried bytes, merging into a non-tried tail', () => {
    const map = new RegionMap(10, '+');
    map.grow(20);
    expect(map.regions()).toEqual([{ pos: 0, size: 10, status: '+' }, { pos: 10, size: 10, status: '?' }]);
    map.grow(30);
    expect(map.regions().at(-1)).toEqual({ pos: 10, size: 20, status: '?' });
    const empty = new RegionMap(0);
    empty.grow(5);
    expect(empty.regions()).toEqual([{ pos: 0, size: 5, status: '?' }]);
  });

  it('stays fast with 200,000 regions (binary search, no scan per call)', () => {
    const map = new RegionMap(400_000);
    for (let i = 0; i < 100_000; i++) map.set(i * 4, 2, i % 2 ? '-' : '+');
    expect(map.regionCount).toBe(200_000);
    const t0 = performance.now();
    let bad = 0;
    for (let i = 0; i < 100_000; i++) {
      if (map.statusAt(i * 4 + 3) !== '?' || !map.all(i * 4, 2, i % 2 ? '-' : '+')) bad++;
      if (map.next('?', i * 4)?.pos !== i * 4 + 2) bad++;
    }
    for (let i = 0; i < 2000; i++) map.set(200_000 + i * 4, 1, '*'); // splices in the middle
    expect(bad).toBe(0);
    expect(map.regionCount).toBe(202_000);
    expect(performance.now() - t0).toBeLessThan(3000); // a scan per call would take minutes
  });
});

// Mapfile texts with what ddrescue 1.27 makes of them (checked against ddrescuelog below): the regions
// it lists, or the line it reports as bad. Device size 4096.
const ACCEPTED: Array<[string, string, MapRegion[]]> = [
  ['ddrescue layout', '# c\n# current_pos  current_status  current_pass\n0x00000010     -               2\n#      pos        size  status\n0x00000000  0x00000100  +\n0x00000100  0x00000F00  -\n', [{ pos: 0, size: 256, status: '+' }, { pos: 256, size: 3840, status: '-' }]],
  ['pre-1.20 status line without pass', '0 +\n0 256 +\n', [{ pos: 0, size: 256, status: '+' }, { pos: 256, size: 3840, status: '?' }]],
  ['decimal, octal and signs', '-0 ?\n+0 010 -\n8 0370 /\n', [{ pos: 0, size: 8, status: '-' }, { pos: 8, size: 248, status: '/' }, { pos: 256, size: 3840, status: '?' }]],
  ['comments, blank lines, CRLF', '  # c\r\n\r\n\t0x0 G 5 # note\r\n0 16 *#x\r\n 16 16 / # c\r\n', [{ pos: 0, size: 16, status: '*' }, { pos: 16, size: 16, status: '/' }, { pos: 32, size: 4064, status: '?' }]],
  ['text after the fields', '0 + 1 junk\n0 16 +xyz\n16 16-\n', [{ pos: 0, size: 16, status: '+' }, { pos: 16, size: 16, status: '-' }, { pos: 32, size: 4064, status: '?' }]],
  ['pass that is not a number', '0 + x\n0 4096 +\n', [{ pos: 0, size: 4096, status: '+' }]],
  ['first block after 0', '0 F\n0x10 0x10 +\n', [{ pos: 0, size: 16, status: '?' }, { pos: 16, size: 16, status: '+' }, { pos: 32, size: 4064, status: '?' }]],
  ['empty block at 0', '0 +\n0 0 ?\n0 16 +\n', [{ pos: 0, size: 16, status: '+' }, { pos: 16, size: 4080, status: '?' }]],
  ['bare 0x is 0', '0x +\n0x 16 +\n', [{ pos: 0, size: 16, status: '+' }, { pos: 16, size: 4080, status: '?' }]],
  ['127 characters', `0 +\n0 ${'0'.repeat(121)}16 +\n`, [{ pos: 0, size: 14, status: '+' }, { pos: 14, size: 4082, status: '?' }]],
  ['status line only', '0 ?\n', [{ pos: 0, size: 4096, status: '?' }]],
  ['empty file', '', [{ pos: 0, size: 4096, status: '?' }]],
];
const REFUSED: Array<[string, string, number]> = [
  ['garbage', 'not a mapfile\n', 1],
  ['unknown phase', '0 X 1\n', 1],
  ['pass 0', '0 + 0\n0 16 +\n', 1],
  ['hex pass', '0 + 0x5\n', 1],
  ['negative position', '-1 + 1\n', 1],
  ['block without status', '0 +\n0 16\n', 2],
  ['phase status in a block', '0 +\n0 16 F\n', 2],
  ['negative size', '0 +\n0 -16 +\n', 2],
  ['empty block after 0', '0 +\n16 0 +\n', 2],
  ['gap', '0 +\n0 16 +\n17 16 -\n', 3],
  ['overlap', '0 +\n0 16 +\n8 16 -\n', 3],
  ['block after empty block', '0 +\n0 0 ?\n16 16 +\n', 3],
  ['# inside a word is no comment', '0 +\n0 16#c\n', 2],
  ['8 is no octal digit', '0 +\n08 16 +\n', 2],
  ['0x without digits', '0 +\n0 0xg +\n', 2],
  ['status past 127 characters', `0 +\n0 ${'0'.repeat(122)}16 +\n`, 2],
  ['NUL ends the line', '0 +\n0 16 \0+\n', 2],
  ['truncated status line', '# Mapfile\n0x0001', 2],
  ['truncated block line', '0 +\n0x00000000  0x00000100  +\n0x00000100  0x000', 3],
];

describe('parseMapfile', () => {
  it.each(ACCEPTED)('accepts %s', (_name, text, regions) => {
    expect(parseMapfile(text, 4096).map.regions()).toEqual(regions);
  });

  it.each(REFUSED)('refuses %s with BAD_MAPFILE at its line', (_name, text, line) => {
    expect(tryParse(text, 4096)).toMatchObject({ ok: false, line });
  });

  it('reads the status line', () => {
    expect(parseMapfile('0x10 - 3\n', 64)).toMatchObject({ currentPos: 16, currentStatus: '-', currentPass: 3 });
    expect(parseMapfile('', 64)).toMatchObject({ currentPos: 0, currentStatus: '?', currentPass: 1 });
  });

  it('refuses a map for a bigger disk instead of cutting it', () => {
    const text = '0 +\n0 0x800 +\n0x800 0x800 -\n';
    expect(tryParse(text, 4096).ok).toBe(true);
    const refused = tryParse(text, 4000);
    expect(refused).toMatchObject({ ok: false, line: 3 });
    expect(refused.ok === false && refused.hint).toMatch(/bigger disk/);
    expect(tryParse('0 +\n0x2000 0x10 ?\n', 4096)).toMatchObject({ ok: false, line: 2 });
  });

  it('refuses numbers above Number.MAX_SAFE_INTEGER', () => {
    const max = Number.MAX_SAFE_INTEGER;
    expect(tryParse(`0 +\n0 0x1FFFFFFFFFFFFF +\n`, max).ok).toBe(true);
    expect(tryParse(`0 +\n0 0x20000000000000 +\n`, max)).toMatchObject({ ok: false, line: 2 });
    expect(tryParse(`0 +\n0 ${'9'.repeat(40)} +\n`, max)).toMatchObject({ ok: false, line: 2 });
    expect(tryParse(`0x20000000000000 +\n`, max)).toMatchObject({ ok: false, line: 1 });
    expect(tryParse(`0 + 2147483648\n`, max)).toMatchObject({ ok: false, line: 1 });
  });

  it('refuses random garbage with BAD_MAPFILE only, never another error', () => {
    const rnd = seededRandom(7);
    let refused = 0;
    for (let i = 0; i < 300; i++) {
      const text = rnd.bytes(1 + rnd.int(200)).toString('latin1');
      if (!tryParse(text, 1 << 20).ok) refused++;
    }
    expect(refused).toBeGreaterThan(250);
  });

  it('refuses a map cut inside a block line and keeps the cut tail non-tried when cut after one', () => {
    const text = formatMapfile({ currentPos: 0, currentStatus: '?', currentPass: 1, map: randomMap(3, 4096, 6) }, HEADER);
    const lines = text.split('\n');
    const lastLine = lines.length - 2; // 0-based index of the last block line
    const cut = lines.slice(0, lastLine).join('\n') + '\n' + lines[lastLine]!.slice(0, 15);
    expect(tryParse(cut, 4096)).toMatchObject({ ok: false, line: lastLine + 1 });
    const whole = parseMapfile(lines.slice(0, lastLine).join('\n'), 4096).map;
    expect(whole.regions().at(-1)?.status).toBe('?');
    expect(whole.totals()['?']).toBeGreaterThan(0);
  });
});

describe('formatMapfile', () => {
  it('writes the ddrescue 1.27 layout', () => {
    const map = new RegionMap(0x1_0000_0200);
    map.set(0x200, 0x1_0000_0000, '+');
    const text = formatMapfile({ currentPos: 0x1_0000_0000, currentStatus: '/', currentPass: 2, map }, { ...HEADER, commandLine: 'a\nb', finished: true });
    expect(text).toBe(
      '# Mapfile. Created by haos-rescue version 0.1.0\n# Command line: a b\n' +
      '# Start time:   2024-05-06 07:08:09\n# Current time: 2024-12-31 23:59:58\n# Finished\n' +
      '# current_pos  current_status  current_pass\n0x100000000     /               2\n' +
      '#      pos        size  status\n0x00000000  0x00000200  ?\n0x00000200  0x100000000  +\n',
    );
    expect(formatMapfile({ currentPos: 0, currentStatus: '+', currentPass: 1, map: new RegionMap(0) }, HEADER)).toMatch(/\n0x00000000  0x00000000  \?\n$/);
    expect(() => formatMapfile({ currentPos: 0, currentStatus: '+', currentPass: 0, map }, HEADER)).toThrow(expect.objectContaining({ code: 'BAD_MAPFILE_STATE' }));
  });

  it('round-trips random maps through parseMapfile', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const m: Mapfile = { currentPos: seed * 512, currentStatus: (['?', '*', '/', '-', 'F', 'G', '+'] as PhaseStatus[])[seed % 7]!, currentPass: 1 + (seed % 4), map: randomMap(seed, 5000 + seed, 200) };
      const back = parseMapfile(formatMapfile(m, HEADER), m.map.sizeBytes);
      expect({ ...back, map: back.map.regions() }, `seed ${seed}`).toEqual({ ...m, map: m.map.regions(), listedBytes: m.map.sizeBytes });
    }
  });
});

describe('readMapfile and writeMapfileAtomic', () => {
  it('writes through a .tmp file that it overwrites and leaves nothing behind', async () => {
    const sub = join(dir, 'atomic');
    await mkdir(sub);
    const path = join(sub, 'card.map');
    expect(await readMapfile(path, 4096)).toBeNull();
    await writeMapfileAtomic(path, '0 +\n0 4096 +\n');
    await writeFile(`${path}.tmp`, 'half-written junk from a crash');
    await writeMapfileAtomic(path, '0 -\n0 4096 -\n');
    expect(await readFile(path, 'utf8')).toBe('0 -\n0 4096 -\n');
    expect(await readdir(sub)).toEqual(['card.map']);
    expect((await readMapfile(path, 4096))?.map.regions()).toEqual([{ pos: 0, size: 4096, status: '-' }]);
  });

  it('reports OS errors and damaged files as AppErrors, not as a missing map', async () => {
    // A folder named as the map is said as the map's (it was said as a source: "is a directory, not an image or disk").
    await expect(readMapfile(dir, 4096)).rejects.toMatchObject({ code: 'MAP_IS_FOLDER' });
    await expect(writeMapfileAtomic(join(dir, 'no-such-dir', 'x.map'), '')).rejects.toMatchObject({ code: 'SOURCE_NOT_FOUND' });
    const bad = join(dir, 'bad.map');
    await writeFile(bad, '0 +\n0 16 +\n32 16 -\n');
    await expect(readMapfile(bad, 4096)).rejects.toMatchObject({ code: 'BAD_MAPFILE', details: { line: 3 } });
  });
});

function onPath(command: string): boolean {
  return spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0;
}
const HAVE_DDRESCUE = onPath('ddrescue') && onPath('ddrescuelog');
const REAL = HAVE_DDRESCUE ? 'with GNU ddrescue' : 'with GNU ddrescue (skipped: ddrescue/ddrescuelog not on PATH)';

function run(command: string, args: string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', maxBuffer: 1 << 28, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** "first-last" runs of the block numbers ddrescuelog lists with `status`, or its error line. */
function ddrescuelogRuns(mapPath: string, status: BlockStatus, blockSize: number, limit?: number): string[] | { line: number } {
  const r = run('ddrescuelog', ['-b', String(blockSize), `-l${status}`, ...(limit ? ['-s', String(limit)] : []), mapPath], dir);
  if (r.status === 2) return { line: Number(/line (\d+)/.exec(r.stderr)?.[1]) };
  expect(r.status, r.stderr).toBe(0);
  const out: string[] = [];
  let first = -2;
  let last = -2;
  for (const n of r.stdout.split('\n').filter(Boolean).map(Number)) {
    if (n !== last + 1) {
      if (first >= 0) out.push(`${first}-${last}`);
      first = n;
    }
    last = n;
  }
  if (first >= 0) out.push(`${first}-${last}`);
  return out;
}

function ourRuns(map: RegionMap, status: BlockStatus, blockSize: number, limit = map.sizeBytes): string[] {
  return map.regions(0, limit).filter((r) => r.status === status).map((r) => `${r.pos / blockSize}-${(r.pos + r.size) / blockSize - 1}`);
}

/** ddrescuelog lists the same blocks per status as `map` (the largest block size dividing every border). */
function expectSameLists(mapPath: string, map: RegionMap, statuses: BlockStatus[] = STATUSES, limit?: number): void {
  let blockSize = 512;
  for (const r of map.regions()) while (r.pos % blockSize || r.size % blockSize) blockSize /= 2;
  for (const s of statuses) expect(ddrescuelogRuns(mapPath, s, blockSize, limit), `${mapPath} -l${s}`).toEqual(ourRuns(map, s, blockSize, limit));
}

describe.skipIf(!HAVE_DDRESCUE)(REAL, () => {
  const TEST_MODE = '0 +\n0x00000000 0x00020000 +\n0x00020000 0x00000400 -\n0x00020400 0x00040000 +\n0x00060400 0x00001200 -\n0x00061600 0x0009EA00 +\n';
  // ddrescue options, and the statuses its map must then contain
  const RUNS: Array<[string, string[], BlockStatus[]]> = [
    ['plain copy', [], ['+']],
    ['bad sectors', ['-H', 'test.map'], ['+', '-']],
    ['no trimming', ['-N', '-H', 'test.map'], ['+', '*']],
    ['no scraping', ['-n', '-H', 'test.map'], ['+', '-', '/']],
    ['interrupted by a size limit', ['-s', '300000', '-H', 'test.map'], ['+', '-', '?']],
  ];

  it.each(RUNS)('parses the map of a real ddrescue run (%s) as ddrescuelog lists it and writes it back identically', async (name, options, expected) => {
    const sub = join(dir, name.replace(/ /g, '-'));
    await mkdir(sub);
    await writeFile(join(sub, 'disk.img'), seededRandom(11).bytes(1 << 20));
    await writeFile(join(sub, 'test.map'), TEST_MODE);
    const r = run('ddrescue', ['-q', ...options, 'disk.img', 'copy.img', 'rescue.map'], sub);
    expect(r.status, r.stderr).toBe(0);
    const text = await readFile(join(sub, 'rescue.map'), 'latin1');
    const m = parseMapfile(text, 1 << 20);
    expect(STATUSES.filter((s) => m.map.areas(s) > 0).sort()).toEqual([...expected].sort());
    expectSameLists(join(sub, 'rescue.map'), m.map);
    const local = (label: string): Date => {
      const [y, mo, d, h, mi, s] = (new RegExp(`^# ${label}: +(.*)$`, 'm').exec(text)?.[1] ?? '').split(/[- :]/).map(Number);
      return new Date(y!, mo! - 1, d, h, mi, s);
    };
    const header = { commandLine: /^# Command line: (.*)$/m.exec(text)?.[1] ?? '', startTime: local('Start time'), currentTime: local('Current time'), finished: text.includes('\n# Finished\n'), version: '1.27' };
    expect(text.split('\n')[0]).toBe('# Mapfile. Created by GNU ddrescue version 1.27');
    expect(formatMapfile(m, header).split('\n').slice(1)).toEqual(text.split('\n').slice(1));
  });

  it('has ddrescuelog accept our random maps with the same block lists', async () => {
    for (let seed = 1; seed <= 5; seed++) {
      const m: Mapfile = { currentPos: 100 * seed, currentStatus: '*', currentPass: seed, map: randomMap(seed, 20_000 + seed, 300) };
      const path = join(dir, `ours-${seed}.map`);
      await writeMapfileAtomic(path, formatMapfile(m, HEADER));
      const summary = run('ddrescuelog', ['-t', path], dir);
      expect(summary.status, summary.stderr).toBe(0);
      expect(summary.stdout).toContain(`in ${String(m.map.regionCount).padStart(6)} area(s)`);
      expectSameLists(path, m.map);
    }
  });

  // Same verdict (and line) as ddrescuelog, and the same non-'?' blocks in the first 8 KiB when accepted.
  async function expectSameVerdict(text: string, label: string): Promise<void> {
    const path = join(dir, 'verdict.map');
    await writeFile(path, text, 'latin1');
    const ours = tryParse(text, Number.MAX_SAFE_INTEGER);
    const theirs = ddrescuelogRuns(path, '+', 1, 8192);
    if (!Array.isArray(theirs)) {
      expect(ours, `${label}: ddrescuelog refuses line ${theirs.line}\n${text}`).toMatchObject({ ok: false, line: theirs.line });
      return;
    }
    expect(ours.ok, `${label}: ddrescuelog accepts\n${text}`).toBe(true);
    if (ours.ok) expectSameLists(path, ours.m.map, ['+', '-', '*', '/'], 8192);
  }

  it('accepts and refuses the grammar examples exactly as ddrescuelog does', async () => {
    for (const [name, text] of [...ACCEPTED, ...REFUSED]) await expectSameVerdict(text, name);
  });

  it('agrees with ddrescuelog on every truncation and on 150 random edits of a map', async () => {
    const map = randomMap(5, 4096, 5);
    const text = formatMapfile({ currentPos: 0x200, currentStatus: '-', currentPass: 1, map }, HEADER);
    for (let cut = text.indexOf('# current_pos'); cut <= text.length; cut++) await expectSameVerdict(text.slice(0, cut), `cut at ${cut}`);
    const rnd = seededRandom(99);
    const alphabet = '0123456789abcdefxX+-?*/FG# \t\r\n';
    for (let i = 0; i < 150; i++) {
      let edited = text;
      for (let e = 1 + rnd.int(3); e > 0; e--) {
        const at = text.indexOf('# current_pos') + rnd.int(edited.length - text.indexOf('# current_pos'));
        const ch = alphabet[rnd.int(alphabet.length)]!;
        const kind = rnd.int(3);
        edited = edited.slice(0, at) + (kind === 2 ? '' : ch) + edited.slice(kind === 1 ? at : at + 1);
      }
      await expectSameVerdict(edited, `seed 99 edit ${i}`);
    }
  });
});

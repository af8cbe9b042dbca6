// An image of a failing card read with its rescue map (GNU ddrescue's mapfile format), through the CLI:
// bytes the map does not mark finished read as NOT_RESCUED (exit 65), never as zeros. The sample image is
// copied with chosen bad areas zeroed (as a ddrescue output holds zeros where it could not read) and a
// map marking them bad ('-') or non-tried ('?'); the areas are chosen with debugfs on the data filesystem
// so that they hit a few config files, one backup, a folder's only block, free space and the disk outside
// the data partition. debugfs is the oracle of which entries touch them (`ex -l` extents, clipped to the
// file's size) and of every other file's bytes (`rdump` of the unmodified image). Also: maps from real
// GNU ddrescue, `image --files-hit` on a FUSE card failing on the same sectors, damaged and missing maps,
// and a folder of many blocks with one of them unrescued.

import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKUPS, DATA_FS, DATA_PATHS, SAMPLE, SECTOR_BYTES, readSampleImage } from '../../fixtures/index.js';
import { formatMapfile } from '../../src/device/rescue/mapfile.js';
import { type BlockStatus, RegionMap } from '../../src/device/rescue/region-map.js';
import { type CliResult, cli } from '../helpers/cli.js';
import { compareExport, debugfsFacts, type InodeFacts, rdump, scanTree, sha256, showKey, type TreeEntry } from '../helpers/export-tree.js';
import { failingCardUnavailable, withFailingCard } from '../helpers/failing-card.js';
import { mkfs, tempDir } from '../helpers/images.js';

const MIB = 1024 * 1024;
const BS = DATA_FS.blockSize;
const CONFIG = DATA_PATHS.configDir;
const AUTH = DATA_PATHS.auth;
const CONFIG_ENTRIES = `${CONFIG}/.storage/core.config_entries`;
const CONFIGURATION = `${CONFIG}/configuration.yaml`;
const SECRETS = `${CONFIG}/secrets.yaml`;
const AUTOMATIONS = `${CONFIG}/automations.yaml`;
const BLUEPRINTS = `${CONFIG}/blueprints`;
const IN_LOST_FOLDER = `${BLUEPRINTS}/automation/homeassistant/motion_light.yaml`;
const HIT_BACKUP = `${DATA_PATHS.backupDir}/${BACKUPS[0].file}`;
const WHOLE_BACKUPS = BACKUPS.slice(1).map((b) => `${DATA_PATHS.backupDir}/${b.file}`);

const work = tempDir('image-map-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The unmodified sample (the card) and its data filesystem alone (what debugfs reads as the oracle). */
const card = join(work, 'card.img');
const data = join(work, 'data.img');
const sample = readSampleImage();
writeFileSync(card, sample);
writeFileSync(data, sample.subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes));

interface Area {
  pos: number;
  size: number;
  status: BlockStatus;
  what: string;
}

// ---- debugfs oracle ----

function debugfs(request: string, image = data): string {
  return execFileSync('debugfs', ['-R', request, image], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 28 }).toString('latin1');
}

/** A file's bytes as e2fsprogs reads them. */
function dump(path: string, image = data): Buffer {
  return execFileSync('debugfs', ['-R', `cat ${path}`, image], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 28 });
}

interface Run {
  logical: number;
  physical: number;
  length: number;
}

/** Leaf extents of every key (scanTree keys, '' the root), from one `debugfs ex -l` run. */
function extentsOf(keys: string[], image = data): Map<string, Run[]> {
  const cmds = join(work, 'ex-cmds');
  writeFileSync(cmds, keys.map((k) => `ex -l "/${k}"\n`).join(''));
  const out = execFileSync('debugfs', ['-f', cmds, image], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 28 }).toString('latin1');
  const runs = new Map<string, Run[]>();
  let key: string | null = null;
  for (const line of out.split('\n')) {
    const cmd = /^debugfs: ex -l "\/(.*)"$/.exec(line);
    if (cmd) {
      key = cmd[1]!;
      runs.set(key, []);
      continue;
    }
    // " 0/ 0   1/  1     0 -     1  1138 -  1139      2 [Uninit]"
    const m = /^\s*\d+\/\s*\d+\s+\d+\/\s*\d+\s+(\d+) -\s+\d+\s+(\d+) -\s+\d+\s+(\d+)\s*(\S*)/.exec(line);
    if (m && key !== null && m[4] !== 'Uninit') runs.get(key)!.push({ logical: Number(m[1]), physical: Number(m[2]), length: Number(m[3]) });
  }
  return runs;
}

interface Entry {
  key: string;
  path: string;
  kind: TreeEntry['kind'];
  /** Where the entry's bytes are in the whole image: its blocks, the last one cut at the file's size. */
  spans: Array<[number, number]>;
  facts: InodeFacts;
}

let rdTree: Map<string, TreeEntry>;
let entries: Entry[];

/** rdump of the unmodified data filesystem, and every entry's spans in the image (folders: whole blocks). */
async function oracle(): Promise<void> {
  const rd = join(work, 'rdump');
  mkdirSync(rd);
  expect(await rdump(data, rd)).toEqual([]);
  rdTree = scanTree(rd);
  const keys = [...rdTree.keys()];
  const facts = debugfsFacts(data, keys.filter((k) => rdTree.get(k)!.kind === 'dir'));
  const runs = extentsOf(keys);
  entries = keys.map((key) => {
    const f = facts.get(key)!;
    const limit = f.size ?? Infinity;
    const spans: Array<[number, number]> = [];
    for (const r of runs.get(key)!) {
      const bytes = Math.min(r.length * BS, limit - r.logical * BS);
      if (bytes > 0) spans.push([SAMPLE.dataOffsetBytes + r.physical * BS, bytes]);
    }
    return { key, path: showKey(key), kind: rdTree.get(key)!.kind, spans, facts: f };
  });
}

function entry(path: string): Entry {
  const e = entries.find((x) => x.path === path);
  if (!e) throw new Error(`${path} is not on the sample`);
  return e;
}

const overlaps = (a: [number, number], b: Area): boolean => a[0] < b.pos + b.size && b.pos < a[0] + a[1];

/** The paths debugfs says touch an area. */
function expectedHits(areas: Area[]): string[] {
  return entries.filter((e) => e.spans.some((s) => areas.some((a) => overlaps(s, a)))).map((e) => e.path).sort();
}

/** Block `index` of an entry's spans as an image byte offset (its physical block). */
function blockOf(path: string, index: number): number {
  const e = entry(path);
  let i = index;
  for (const [pos, size] of e.spans) {
    const blocks = Math.ceil(size / BS);
    if (i < blocks) return pos + i * BS;
    i -= blocks;
  }
  throw new Error(`${path} has no block ${index}`);
}

function blockCount(path: string): number {
  return entry(path).spans.reduce((n, [, size]) => n + Math.ceil(size / BS), 0);
}

/** `count` free blocks of the data filesystem from `from` on, checked with testb. */
function freeBlocks(from: number, count: number): number {
  const found = /Free blocks found: (\d+)/.exec(debugfs(`ffb 1 ${from}`));
  const block = Number(found![1]);
  const test = debugfs(`testb ${block} ${count}`);
  expect(test.match(/not in use/g)?.length, `blocks ${block}+${count} free`).toBe(count);
  return SAMPLE.dataOffsetBytes + block * BS;
}

// ---- images and maps ----

/** The map of a `sizeBytes` device: everything finished but `areas`. */
function mapText(sizeBytes: number, areas: Area[]): string {
  const map = new RegionMap(sizeBytes, '+');
  for (const a of areas) map.set(a.pos, a.size, a.status);
  const now = new Date();
  return formatMapfile({ currentPos: 0, currentStatus: '+', currentPass: 1, map }, { commandLine: 'image-map.test.ts', startTime: now, currentTime: now, finished: true, version: 'test' });
}

/** A copy of the card with `areas` zeroed (never read, as in a ddrescue output), and its map beside it. */
function imageWithMap(name: string, areas: Area[]): string {
  const img = join(work, name);
  const bytes = Buffer.from(sample);
  for (const a of areas) bytes.fill(0, a.pos, a.pos + a.size);
  writeFileSync(img, bytes);
  writeFileSync(`${img}.map`, mapText(bytes.length, areas));
  return img;
}

// ---- CLI ----

/** The error code and exit code the CLI printed (run with --verbose), or null. */
function errorCode(r: CliResult): string | null {
  return /^code: (\S+) \(exit \d+\)$/m.exec(r.stderr)?.[1] ?? null;
}

function run(args: string[]): CliResult {
  return cli([...args, '--verbose']);
}

function json<T = any>(r: CliResult): T {
  return JSON.parse(r.text) as T;
}

/** A read that fails must say NOT_RESCUED with a hint, and what it wrote before must be the file's start. */
function expectNotRescued(r: CliResult, original: Buffer | null = null): void {
  expect(r.code, r.stderr).toBe(65);
  expect(errorCode(r)).toBe('NOT_RESCUED');
  expect(r.stderr).toMatch(/^error: \/\S+ cannot be read: bytes \d+-\d+ of .* were not rescued from the card$/m);
  // The way on said whole: it read "or read the other files (the same haos-rescue image command)".
  expect(r.stderr).toMatch(/^hint: that part of the card was not copied into the image; the other files can still be read, and copying the card into the same image again retries what its map says is left \(with the card: the same haos-rescue image command, run again\)$/m);
  if (original) {
    expect(r.stdout.length).toBeLessThan(original.length);
    expect(r.stdout.equals(original.subarray(0, r.stdout.length)), 'what cat wrote is not the start of the file').toBe(true);
  }
}

// ---- the sample with chosen bad areas ----

let areas: Area[];
let img: string;
let hits: string[];

beforeAll(async () => {
  await oracle();
  const system1 = SAMPLE.partitions[4]!;
  const afterData = SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes;
  areas = [
    { pos: blockOf(CONFIG_ENTRIES, 1) + 512, size: 512, status: '-', what: 'a sector in the middle of core.config_entries' },
    { pos: blockOf(CONFIGURATION, 0), size: BS, status: '?', what: 'the block of configuration.yaml, never tried' },
    { pos: blockOf(SECRETS, 0), size: 512, status: '-', what: 'the first sector of secrets.yaml' },
    { pos: blockOf(HIT_BACKUP, blockCount(HIT_BACKUP) - 1), size: BS, status: '-', what: 'the last data block of a backup' },
    { pos: blockOf(BLUEPRINTS, 0) + 1024, size: 512, status: '-', what: 'a sector of the only block of the blueprints folder' },
    { pos: freeBlocks(3000, 2), size: 2 * BS, status: '-', what: 'free blocks' },
    { pos: freeBlocks(4000, 1), size: BS, status: '?', what: 'a free block, never tried' },
    { pos: system1.startLba * SECTOR_BYTES + 128 * 1024, size: 64 * 1024, status: '-', what: 'inside hassos-system1' },
    { pos: afterData + 4096, size: 64 * 1024, status: '?', what: 'after the data partition, before the backup GPT' },
  ].sort((a, b) => a.pos - b.pos) as Area[];
  expect(areas.at(-1)!.pos + areas.at(-1)!.size).toBeLessThan(SAMPLE.imageBytes - 33 * SECTOR_BYTES);
  for (let i = 1; i < areas.length; i++) expect(areas[i]!.pos, 'areas apart').toBeGreaterThan(areas[i - 1]!.pos + areas[i - 1]!.size);
  img = imageWithMap('damaged.img', areas);
  hits = expectedHits(areas);
});

describe('an image read with its map: the chosen bad areas', () => {
  it('hit exactly the chosen files and folder by debugfs; those in free space and outside the data partition hit nothing', () => {
    expect(hits).toEqual([CONFIG_ENTRIES, CONFIGURATION, SECRETS, HIT_BACKUP, BLUEPRINTS].sort());
    for (const a of areas) {
      const expected = /free|system1|after the data/.test(a.what) ? [] : [expect.any(String)];
      expect(expectedHits([a]), a.what).toEqual(expected);
    }
    // The folder's children are lost with its block; the oracle knows them.
    expect(entries.filter((e) => e.path.startsWith(`${BLUEPRINTS}/`)).map((e) => e.path)).toContain(IN_LOST_FOLDER);
  });

  it('info --json: the map found beside the image, its totals, the files hit and the important files', () => {
    const r = run(['info', img, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const rescue = json(r).rescue;
    const missing = areas.reduce((n, a) => n + a.size, 0);
    expect(rescue).toMatchObject({
      map: `${img}.map`,
      foundBeside: true,
      sizeBytes: SAMPLE.imageBytes,
      rescuedBytes: SAMPLE.imageBytes - missing,
      missingBytes: missing,
      badAreas: areas.filter((a) => a.status === '-').length,
    });
    const paths = (rescue.filesHit as Array<{ path: string }>).map((h) => h.path);
    expect([...new Set(paths)].sort()).toEqual(hits);
    for (const h of rescue.filesHit as Array<{ path: string; kind: string; sizeBytes: number; missingBytes: number }>) {
      if (h.kind === 'unknown') continue; // the duplicate checked at the end of this test
      const e = entry(h.path);
      expect(h.kind, h.path).toBe(e.kind);
      if (e.facts.size !== null) expect(h.sizeBytes, h.path).toBe(e.facts.size);
      // At least one byte, at most the bad bytes of its blocks (whole blocks or only the file's bytes:
      // see the slack test below).
      const inBlocks = areas.reduce((n, a) => n + e.spans.reduce((m, [pos, size]) => {
        const blockEnd = pos + Math.ceil(size / BS) * BS;
        return m + Math.max(0, Math.min(blockEnd, a.pos + a.size) - Math.max(pos, a.pos));
      }, 0), 0);
      expect(h.missingBytes, h.path).toBeGreaterThan(0);
      expect(h.missingBytes, h.path).toBeLessThanOrEqual(inBlocks);
    }
    const important = new Map((rescue.important as Array<{ path: string; whole: boolean; reason: string | null }>).map((i) => [i.path, i]));
    expect(important.get(AUTH)).toEqual({ path: AUTH, whole: true, reason: null });
    expect(important.get(DATA_PATHS.authProvider)?.whole).toBe(true);
    for (const p of [HIT_BACKUP, CONFIG_ENTRIES, CONFIGURATION, SECRETS]) {
      expect(important.get(p), p).toMatchObject({ whole: false, reason: expect.stringMatching(/not rescued/) });
    }
    for (const p of WHOLE_BACKUPS) expect(important.get(p), p).toEqual({ path: p, whole: true, reason: null });
    // A folder whose block is unrescued is listed once (for its missing bytes), not again when the walk
    // then fails to list it (this was a bug).
    expect(paths.length, `filesHit lists a path twice: ${paths.join(', ')}`).toBe(new Set(paths).size);
  });

  /** rdump keys an export must leave out: the files hit, and everything below a folder hit. */
  function leftOut(ours: Map<string, TreeEntry>): Set<string> {
    const out = new Set<string>();
    for (const path of hits) {
      const e = entry(path);
      if (e.kind === 'dir') {
        for (const key of rdTree.keys()) if (key.startsWith(`${e.key}/`)) out.add(key);
        // The folder itself may be kept (without its lost entries) or left out; it is reported either way.
        if (!ours.has(e.key)) out.add(e.key);
      } else {
        // A file that could not be read is not written at all: a partial or zero-filled copy would look whole.
        expect(ours.has(e.key), `${path} is in the export`).toBe(false);
        out.add(e.key);
      }
    }
    return out;
  }

  function checkExport(r: CliResult, root: string): void {
    expect(r.code, r.stderr).toBe(65);
    expect(errorCode(r)).toBe('EXPORT_PARTIAL');
    const skipped = (json(r).skipped as Array<{ path: string; reason: string }>);
    expect(skipped.map((s) => s.path).sort()).toEqual(hits);
    for (const s of skipped) expect(s.reason, s.path).toMatch(/not rescued/);
    // The same set as info's rescue.filesHit (checked against the oracle above): a folder is in both lists,
    // once its block is unreadable; none of the folder's children is in either, as neither can see them.
    const ours = scanTree(root);
    const missing = leftOut(ours);
    const cmp = compareExport(data, rdTree, ours, { missing });
    expect(cmp.mismatches).toEqual([]);
    const files = [...rdTree].filter(([k, e]) => e.kind === 'file' && !missing.has(k)).length;
    expect(cmp.counts.file).toBe(files);
    expect(files).toBeGreaterThan(40);
  }

  it('export --what all to a folder: every file not hit is byte-identical to rdump, the hit ones reported and absent (exit 65)', () => {
    const out = join(work, 'export-folder');
    const r = run(['export', img, '--what', 'all', '--out', out, '--json']);
    checkExport(r, out);
  });

  it('export --what all to a .tar: the same, unpacked by GNU tar', () => {
    const archive = join(work, 'export.tar');
    const r = run(['export', img, '--what', 'all', '--out', archive, '--json']);
    const x = join(work, 'export-tar');
    mkdirSync(x);
    execFileSync('tar', ['-xpf', archive, '-C', x]);
    expect(readdirSync(x)).toEqual(['data']);
    checkExport(r, join(x, 'data'));
  });

  it('cat: a file hit exits 65 with NOT_RESCUED and a hint, writing nothing that is not the file; a file not hit is its bytes', () => {
    for (const path of [CONFIGURATION, SECRETS, CONFIG_ENTRIES, HIT_BACKUP]) expectNotRescued(run(['cat', img, path]), dump(path));
    // Below the folder whose block is lost: not reachable at all.
    expectNotRescued(run(['cat', img, IN_LOST_FOLDER]));
    for (const path of [AUTH, DATA_PATHS.authProvider, AUTOMATIONS, ...WHOLE_BACKUPS]) {
      const r = run(['cat', img, path]);
      expect(r.code, `${path}: ${r.stderr}`).toBe(0);
      expect(r.stdout.equals(dump(path)), path).toBe(true);
    }
  });

  it('backup create from the image: partial (exit 65), and not offered for restoring as if whole', () => {
    const r = run(['backup', 'create', img, '--out', join(work, 'rescued-partial.tar'), '--no-encrypt']);
    expect(r.code, r.stderr).toBe(65);
    expect(r.stderr).toMatch(/error: the backup is partial/);
    expect(r.stdout.toString()).toMatch(/^left out: /m);
    expect(r.stdout.toString()).not.toMatch(/Restore it in Home Assistant/);
  });

  it('backup extract copies the backups not hit (sha256 of debugfs dump) and reports the one hit (exit 65)', () => {
    const out = join(work, 'backups');
    const r = run(['backup', 'extract', img, '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(65);
    expect(errorCode(r)).toBe('PARTIAL');
    const result = json<{ extracted: Array<{ path: string; out: string; sha256: string; size: number }>; failed: Array<{ path: string; reason: string }> }>(r);
    expect(result.failed).toEqual([{ path: HIT_BACKUP, reason: expect.stringMatching(/not rescued/), hint: expect.stringMatching(/copying the card into the same image again retries/) }]);
    // What to do is the image's, not "make an image of the card" (it is one). The hole holds its backup.json:
    // no slug to unpack the rest by.
    expect(r.stderr).toMatch(/^hint: that part of the card was not copied into the image; the other files can still be read, and copying the card into the same image again retries[^;]*$/m);
    expect(result.extracted.map((e) => e.path).sort()).toEqual([...WHOLE_BACKUPS].sort());
    for (const e of result.extracted) {
      const original = dump(e.path);
      expect(e.sha256, e.path).toBe(sha256(original));
      expect(readFileSync(e.out).equals(original), e.path).toBe(true);
    }
    // Nothing of the backup hit, not even a partial copy.
    expect(readdirSync(out).sort()).toEqual(BACKUPS.slice(1).map((b) => b.file).sort());
  });

  it('without the map, rescue is null (and the zeros are read as they are); --map names a map kept elsewhere', () => {
    const elsewhere = join(work, 'kept-elsewhere.log');
    renameSync(`${img}.map`, elsewhere);
    try {
      const bare = run(['info', img, '--json']);
      expect(bare.code, bare.stderr).toBe(0);
      expect(json(bare).rescue).toBeNull();
      // What the map protects from: without it the never-read block is the image's zeros.
      const zeros = run(['cat', img, CONFIGURATION]);
      expect(zeros.code).toBe(0);
      expect(zeros.stdout.equals(Buffer.alloc(dump(CONFIGURATION).length))).toBe(true);

      const named = run(['info', img, '--map', elsewhere, '--json']);
      expect(named.code, named.stderr).toBe(0);
      const rescue = json(named).rescue;
      expect(rescue).toMatchObject({ map: elsewhere, foundBeside: false });
      expect([...new Set((rescue.filesHit as Array<{ path: string }>).map((h) => h.path))].sort()).toEqual(hits);
      expectNotRescued(run(['cat', img, CONFIGURATION, '--map', elsewhere]), dump(CONFIGURATION));
      const out = join(work, 'backups-named-map');
      const r = run(['backup', 'extract', img, '--out', out, '--map', elsewhere, '--json']);
      expect(r.code).toBe(65);
      expect(json(r).failed.map((f: { path: string }) => f.path)).toEqual([HIT_BACKUP]);
    } finally {
      renameSync(elsewhere, `${img}.map`);
    }
  });

  it('a bad area only in the unused end of a file\'s last block touches no byte of the file: exported whole, and not in filesHit', () => {
    // automations.yaml is 833 bytes in one 4 KiB block; the bytes 2048-2559 of that block are not its own.
    const slack: Area[] = [{ pos: blockOf(AUTOMATIONS, 0) + 2048, size: 512, status: '-', what: 'slack of automations.yaml' }];
    expect(entry(AUTOMATIONS).facts.size).toBeLessThan(2048);
    const slackImg = imageWithMap('slack.img', slack);
    expect(expectedHits(slack)).toEqual([]);
    const out = join(work, 'export-slack');
    const r = run(['export', slackImg, '--what', 'all', '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(json(r).skipped).toEqual([]);
    expect(compareExport(data, rdTree, scanTree(out)).mismatches).toEqual([]);
    const c = run(['cat', slackImg, AUTOMATIONS]);
    expect(c.code).toBe(0);
    expect(c.stdout.equals(dump(AUTOMATIONS))).toBe(true);
    const info = run(['info', slackImg, '--json']);
    expect(info.code, info.stderr).toBe(0);
    // Only the file's own bytes count: the unused end of its last block is not the file (filesHit once
    // listed automations.yaml for it while export and cat read it whole).
    expect(json(info).rescue.filesHit).toEqual([]);
  });
});

// ---- real GNU ddrescue maps ----

const noDdrescue = spawnSync('ddrescue', ['--version']).status === 0 ? null : 'GNU ddrescue is not installed (apt-get install gddrescue)';

function ddrescue(args: string[]): void {
  const r = spawnSync('ddrescue', ['-q', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ddrescue ${args.join(' ')}: ${r.stderr}`);
}

describe.skipIf(noDdrescue !== null)(`maps from GNU ddrescue${noDdrescue ? ` (skipped: ${noDdrescue})` : ''}`, () => {
  // `ddrescue -s 12MiB`: only the first 12 MiB copied, so only the first MiB of the data partition (its
  // superblock, group descriptors, bitmaps, inode table and root folder), none of its other folders.
  // ddrescue writes only what it read: the image is 12 MiB while its map covers the 32 MiB card, the rest
  // non-tried. ddrescue names the map as told, so --map gives it.
  let short: string;
  let shortMap: string;
  beforeAll(() => {
    short = join(work, 'dd-short.img');
    shortMap = join(work, 'dd-short.log');
    ddrescue(['-s', '12MiB', card, short, shortMap]);
  });

  it('the premise: the image is as long as what was copied, the map as long as the card', () => {
    expect(statSync(short).size).toBe(12 * MIB);
    expect(readFileSync(shortMap, 'latin1')).toMatch(/^0x00C00000 {2}0x01400000 {2}\?$/m);
  });

  it('a short image as ddrescue leaves it: info reads the partition table; cat of the logins exits 65, never zeros', () => {
    const r = run(['info', short, '--map', shortMap, '--json']);
    // ddrescue writes only what it read: the image is 12 MiB, its map covers the card. The map's non-tried
    // tail past the image's end reads as NOT_RESCUED (it was once refused as a map for a bigger disk).
    expect(r.code, r.stderr).toBe(0);
    expect(json(r)).toMatchObject({ partitionTable: 'gpt', data: { offset: SAMPLE.dataOffsetBytes, label: SAMPLE.dataLabel } });
    expect(json(r).partitions).toHaveLength(SAMPLE.partitions.length);
    expect(json(r).rescue).toMatchObject({ map: shortMap, foundBeside: false, sizeBytes: SAMPLE.imageBytes, rescuedBytes: 12 * MIB, missingBytes: SAMPLE.imageBytes - 12 * MIB });
    expectNotRescued(run(['cat', short, AUTH, '--map', shortMap]), dump(AUTH));
  });

  it('the same map on the image at the card\'s size: the partition table reads, the logins are reported not whole and cat exits 65', () => {
    const full = join(work, 'dd-full.img');
    copyFileSync(short, full);
    truncateSync(full, SAMPLE.imageBytes); // zeros where ddrescue read nothing
    const r = run(['info', full, '--map', shortMap, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const result = json(r);
    expect(result).toMatchObject({ partitionTable: 'gpt', data: { offset: SAMPLE.dataOffsetBytes, label: SAMPLE.dataLabel } });
    expect(result.partitions).toHaveLength(SAMPLE.partitions.length);
    expect(result.rescue).toMatchObject({ sizeBytes: SAMPLE.imageBytes, rescuedBytes: 12 * MIB, badAreas: 0 });
    // "Its folder was not rescued" is not "not there": the logins are reported not whole (they once
    // vanished from `important`).
    expect(result.rescue.important).toContainEqual({ path: AUTH, whole: false, reason: expect.stringMatching(/not rescued/) });
    expectNotRescued(run(['cat', full, AUTH, '--map', shortMap]), dump(AUTH));
  });

  it('a second ddrescue run over 15-16 MiB (the folders and the logins): cat returns the bytes of debugfs; the rest exits 65', () => {
    const two = join(work, 'dd-two.img');
    const twoMap = join(work, 'dd-two.log');
    copyFileSync(short, two);
    copyFileSync(shortMap, twoMap);
    ddrescue(['-i', '15MiB', '-s', '1MiB', card, two, twoMap]);
    // At the card's size, so this test does not depend on the short-image bug above.
    truncateSync(two, SAMPLE.imageBytes);
    for (const path of [AUTH, DATA_PATHS.authProvider, CONFIGURATION]) {
      const r = run(['cat', two, path, '--map', twoMap]);
      expect(r.code, `${path}: ${r.stderr}`).toBe(0);
      expect(r.stdout.equals(dump(path)), path).toBe(true);
    }
    // Files whose blocks all lie past 16 MiB (secrets.yaml among them), by debugfs.
    const past = entries.filter((e) => e.kind === 'file' && e.spans.length > 0 && e.spans.every(([pos]) => pos >= 16 * MIB)).map((e) => e.path);
    expect(past).toContain(SECRETS);
    for (const path of [SECRETS, ...past.filter((p) => p !== SECRETS).slice(0, 2)]) {
      expectNotRescued(run(['cat', two, path, '--map', twoMap]), dump(path));
    }
    const info = run(['info', two, '--map', twoMap, '--json']);
    expect(info.code, info.stderr).toBe(0);
    const important = new Map((json(info).rescue.important as Array<{ path: string; whole: boolean }>).map((i) => [i.path, i.whole]));
    expect(important.get(AUTH)).toBe(true);
    expect(important.get(SECRETS)).toBe(false);
  });
});

// ---- image --files-hit on a card failing on the same sectors ----

const noCard = failingCardUnavailable();

describe.skipIf(noCard !== null)(`image --files-hit${noCard ? ` (skipped: ${noCard})` : ''}`, () => {
  it('lists after imaging the files debugfs says touch the bad sectors, as info does with the map it wrote', async () => {
    const out = join(work, 'imaged.img');
    const bad = areas.map((a): [number, number] => [a.pos / SECTOR_BYTES, a.size / SECTOR_BYTES]);
    const r = await withFailingCard({ image: card, bad, failDelayMs: 1 }, async (c) => run(['image', c.path, '--out', out, '--files-hit', '--json']));
    expect(r.code, r.stderr).toBe(65);
    expect(errorCode(r)).toBe('IMAGE_INCOMPLETE');
    const listed = [...new Set((json(r).filesHit as Array<{ path: string }>).map((h) => h.path))].sort();
    expect(listed).toEqual(hits);
    const info = run(['info', out, '--json']);
    expect(info.code, info.stderr).toBe(0);
    expect(json(info).rescue.foundBeside).toBe(true);
    expect(json(info).rescue.filesHit).toEqual(json(r).filesHit);
  });
});

// ---- damaged and missing maps ----

describe('damaged and missing maps', () => {
  const commands = (image: string, tag: string): string[][] => [
    ['info', image],
    ['ls', image, CONFIG],
    ['cat', image, AUTH],
    ['export', image, '--out', join(work, `never-${tag}-export`)],
    ['backup', 'extract', image, '--out', join(work, `never-${tag}-backups`)],
  ];

  it('--map naming no file: exit 64 MAP_NOT_FOUND naming it, for every read command, nothing written', () => {
    const missing = join(work, 'missing.map');
    for (const args of commands(card, 'missing')) {
      const r = run([...args, '--map', missing]);
      expect(r.code, args.join(' ')).toBe(64);
      expect(errorCode(r), args.join(' ')).toBe('MAP_NOT_FOUND');
      expect(r.stderr).toContain(missing);
    }
    expect(existsSync(join(work, 'never-missing-export'))).toBe(false);
    expect(existsSync(join(work, 'never-missing-backups'))).toBe(false);
  });

  it('garbage text found beside the image: exit 65 BAD_MAPFILE with a hint, for every read command', () => {
    const garbageImg = join(work, 'garbage.img');
    copyFileSync(card, garbageImg);
    writeFileSync(`${garbageImg}.map`, 'this is not\na ddrescue mapfile\n');
    for (const args of commands(garbageImg, 'garbage')) {
      const r = run(args);
      expect(r.code, args.join(' ')).toBe(65);
      expect(errorCode(r), args.join(' ')).toBe('BAD_MAPFILE');
      expect(r.stderr).toMatch(/^hint: /m);
      expect(r.stderr, args.join(' ')).toContain(`the rescue map ${garbageImg}.map found beside the image cannot be read`);
      expect(r.stderr, args.join(' ')).toMatch(/\(add --no-map\)/);
    }
    expect(existsSync(join(work, 'never-garbage-export'))).toBe(false);
    // --no-map reads the image without it (a mistaken Node error here once came out as a failing card, exit 74).
    const without = run(['info', garbageImg, '--no-map', '--json']);
    expect(without.code, without.stderr).toBe(0);
    expect(JSON.parse(without.stdout.toString()).data.label).toBe('hassos-data');
  });

  it('an empty map beside the image (nothing rescued): said at once, and how to read on without it (every read failed)', () => {
    const emptyImg = join(work, 'empty-map.img');
    copyFileSync(card, emptyImg);
    writeFileSync(`${emptyImg}.map`, '');
    const r = run(['info', emptyImg]);
    expect(r.code).toBe(64);
    expect(errorCode(r)).toBe('MAP_NOTHING_RESCUED');
    expect(r.stderr).toMatch(/says no part of the image was rescued\nhint: .*\(add --no-map\)$/m);
  });

  // Said as a map that cannot be read, with reading as zeros (--no-map) as the way on; an image cut short is
  // the common cause (a copy of the pair interrupted, a full disk).
  it('a map saying more was copied than the image holds (64 MiB, all rescued): exit 65 IMAGE_CUT_SHORT, no zeros offered', () => {
    const bigger = join(work, 'bigger.map');
    writeFileSync(bigger, mapText(64 * MIB, []));
    const r = run(['info', card, '--map', bigger]);
    expect(r.code).toBe(65);
    expect(errorCode(r)).toBe('IMAGE_CUT_SHORT');
    expect(r.stderr).toMatch(/^error: the image file is \d+ MiB, but the rescue map .*bigger\.map says 64 MiB of the card were copied into it: the image file is cut short, or the map is another image's$/m);
    expect(r.stderr).toMatch(/^hint: copy the image file again, whole, from where it was made .*name the right one$/m);
    expect(r.stderr).not.toMatch(/--no-map/);
  });
});

// ---- a folder of many blocks with one unrescued ----

describe('a folder of many blocks, one of them not rescued', () => {
  it('is reported by export and info; no entry of the unrescued block is made up, every entry exported is whole', () => {
    const dir = join(work, 'many');
    const stage = join(dir, 'stage');
    mkdirSync(join(stage, 'many'), { recursive: true });
    const names = Array.from({ length: 400 }, (_, i) => `entry-${String(i).padStart(4, '0')}`);
    for (const n of names) writeFileSync(join(stage, 'many', n), n);
    const image = join(dir, 'many.img');
    mkfs(image, stage, { sizeMiB: 8, blockSize: 1024 });
    const runs = extentsOf(['many'], image).get('many')!;
    const blocks = runs.flatMap((r) => Array.from({ length: r.length }, (_, i) => r.physical + i));
    expect(blocks.length).toBeGreaterThan(5);
    // The third block: not the first (under dir_index the htree root, holding only . and ..).
    const badBlock = blocks[2]!;
    const raw = readFileSync(image).subarray(badBlock * 1024, (badBlock + 1) * 1024).toString('latin1');
    // A fresh mke2fs -d folder has no deleted entries: the names in the block are its entries.
    const lost = new Set([...raw.matchAll(/entry-\d{4}/g)].map((m) => m[0]));
    expect(lost.size).toBeGreaterThan(5);
    const map = mapText(statSync(image).size, [{ pos: badBlock * 1024 + 512, size: 512, status: '-', what: 'half a folder block' }]);
    writeFileSync(`${image}.map`, map);
    const out = join(dir, 'export');
    const r = run(['export', image, '--what', 'all', '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(65);
    expect(json(r).skipped.map((s: { path: string }) => s.path)).toEqual(['/many']);
    const info = run(['info', image, '--json']);
    expect(info.code, info.stderr).toBe(0);
    expect([...new Set(json(info).rescue.filesHit.map((h: { path: string }) => h.path))]).toEqual(['/many']);
    // Today the folder loses all 400 entries: the failed read of its blocks is not a CorruptError, so the
    // whole listing fails (export-faults.test.ts asks the same of an EIO from a failing device). With a
    // map, the blocks around a NOT_RESCUED one could be read one by one at no risk, losing only `lost`.
    // Either way no name of the unrescued block may appear, and what appears must be whole.
    const exported = readdirSync(join(out, 'many'));
    for (const n of exported) {
      expect(lost.has(n), `${n} was in the unrescued block`).toBe(false);
      expect(names).toContain(n);
      expect(readFileSync(join(out, 'many', n), 'latin1')).toBe(n);
    }
  });
});

// ---- one sector of the inode table not rescued ----

describe('one 512-byte sector of the inode table not rescued', () => {
  // It holds 2 of the 16 inodes of its 4 KiB block: those two files are lost, the 14 others and their
  // folders read (the whole block's inodes were lost, and with them the folders of the config and backups).
  it('loses the entries whose inodes are in it, and only those: files-hit, export and cat agree with debugfs', () => {
    const located = /located at block (\d+), offset 0x([0-9a-f]+)/.exec(debugfs(`imap ${AUTH}`))!;
    const sectorPos = SAMPLE.dataOffsetBytes + Number(located[1]) * BS + Math.floor(parseInt(located[2]!, 16) / 512) * 512;
    const inodeSize = Number(/Inode size:\s+(\d+)/.exec(execFileSync('dumpe2fs', ['-h', data], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))![1]);
    const perSector = 512 / inodeSize;
    const authIno = entry(AUTH).facts.ino;
    const first = Math.floor((authIno - 1) / perSector) * perSector + 1;
    const lostInos = Array.from({ length: perSector }, (_, i) => first + i);
    const lost = entries.filter((e) => lostInos.includes(e.facts.ino)).map((e) => e.path).sort();
    expect(lost).toContain(AUTH);
    const image = imageWithMap('itable.img', [{ pos: sectorPos, size: 512, status: '-', what: 'a sector of the inode table' }]);
    const info = run(['info', image, '--json']);
    expect(info.code, info.stderr).toBe(0);
    expect(json(info).rescue.filesHit.map((h: { path: string }) => h.path).sort()).toEqual(lost);
    const out = join(work, 'itable-export');
    const r = run(['export', image, '--what', 'all', '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(65);
    expect(json(r).skipped.map((s: { path: string }) => s.path).sort()).toEqual(lost);
    // Every other entry is there, with debugfs's bytes.
    for (const e of entries) {
      if (lost.includes(e.path) || e.kind !== 'file') continue;
      expect(readFileSync(join(out, e.key)).equals(rdTreeBytes(e.key)), e.path).toBe(true);
    }
    expect(run(['cat', image, CONFIGURATION]).stdout.equals(dump(CONFIGURATION))).toBe(true);
    expect(run(['cat', image, AUTH]).code).toBe(65);
    // ls lists every name, then says which could not be read (it listed them as if all were well, exit 0).
    const ls = run(['ls', image, `${CONFIG}/.storage`]);
    expect(ls.code, ls.stderr).toBe(65);
    expect(ls.stdout.toString().split('\n')).toContain('auth');
    expect(ls.stderr).toMatch(/^error: (auth is listed, but what it is|\d+ entries are listed \(.*auth.*\), but what they are) cannot be read: bytes \d+-\d+ of .* were not rescued from the card$/m);
  });

  it('the root folder\'s block or the group descriptors not rescued: the data partition cannot be read (exit 65, how to retry), not "no data filesystem found" (exit 66)', () => {
    const rootBlock = Number(/^(\d+)/.exec(debugfs('blocks /').trim())![1]);
    expect(rootBlock).toBeGreaterThan(0);
    for (const [name, pos] of [['rootdir', SAMPLE.dataOffsetBytes + rootBlock * BS], ['gdt', SAMPLE.dataOffsetBytes + BS]] as const) {
      const image = imageWithMap(`${name}.img`, [{ pos, size: 512, status: '-', what: name }]);
      const r = run(['ls', image, '/']);
      expect(r.code, `${name}: ${r.stderr}`).toBe(65);
      expect(errorCode(r)).toBe('NOT_RESCUED');
      expect(r.stderr).toMatch(/^hint: that part of the card was not copied into the image/m);
      expect(r.stderr).not.toMatch(/--partition/);
    }
  });
});

/** A file's bytes as rdump wrote them. */
function rdTreeBytes(key: string): Buffer {
  return readFileSync(join(work, 'rdump', key));
}

// `df` through the CLI on images made by mke2fs -d: the totals equal dumpe2fs -h, each category equals the
// i_blocks debugfs reports for the inodes under it (hard links once), the categories add up to the used
// blocks, the metadata equals what dumpe2fs lists; a card filled to the last block is FULL with the
// database named first; stale superblock counts and a damaged folder; the bundled sample card. Also the
// `space` field of `info`.

import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, linkSync, mkdirSync, openSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SAMPLE, readSampleImage } from '../../fixtures/index.js';
import { cli, cliJson } from '../helpers/cli.js';
import { type OracleEntry, debugfsInodes, debugfsTree, dumpe2fsHeader, dumpe2fsMetadataBlocks, headerNumber } from '../helpers/du-oracle.js';
import { mkfs, prng, tempDir } from '../helpers/images.js';

const work = tempDir('df-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Category { id: string; label: string; paths: string[]; bytes: number; files: number }
interface Usage {
  blockSize: number; totalBytes: number; usedBytes: number; freeBytes: number; availableBytes: number; reservedBytes: number;
  usedPercent: number; inodesTotal: number; inodesFree: number; full: boolean; countsFrom: string; metadataBytes: number | null;
  categories: Category[]; largestFiles: Array<{ path: string; bytes: number; size: number }>; problems: Array<{ path: string; reason: string }>;
}

const CONFIG = '/supervisor/homeassistant';

function put(root: string, path: string, bytes: Buffer | string): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), bytes);
}

/** A Home Assistant OS data partition in small: something in every category, hard links, a sparse file. */
function stageCard(root: string, dbBytes = 3 * 1024 * 1024 + 123): void {
  put(root, `${CONFIG}/home-assistant_v2.db`, prng(1, dbBytes));
  put(root, `${CONFIG}/home-assistant_v2.db-wal`, prng(2, 600_000));
  put(root, `${CONFIG}/home-assistant_v2.db-shm`, prng(3, 32_768));
  put(root, `${CONFIG}/home-assistant.log`, prng(4, 50_000));
  put(root, `${CONFIG}/home-assistant.log.1`, prng(5, 20_001));
  put(root, `${CONFIG}/home-assistant.log.fault`, 'crash');
  put(root, `${CONFIG}/configuration.yaml`, 'default_config:\n');
  put(root, `${CONFIG}/.HA_VERSION`, '2025.5.3');
  put(root, `${CONFIG}/.storage/core.entity_registry`, prng(6, 70_000));
  put(root, `${CONFIG}/logs/not-a-log-category.log`, prng(7, 9_000)); // in a subfolder: configuration
  put(root, `${CONFIG}/home-assistant_v2.db.bak`, prng(8, 10_000)); // not the database's name
  put(root, `${CONFIG}/backups/core-1.tar`, prng(9, 150_000));
  symlinkSync(`/supervisor/${'long-target/'.repeat(8)}`, join(root, `${CONFIG}/slow-link`));
  put(root, '/supervisor/backup/2e9a1f3c.tar', prng(10, 2 * 1024 * 1024 + 5));
  put(root, '/supervisor/backup/7b0d44aa.tar', prng(11, 1024 * 1024 + 7));
  put(root, '/supervisor/addons/data/core_ssh/options.json', '{}');
  put(root, '/supervisor/addons/data/core_ssh/keys/host_key', prng(12, 700_000));
  put(root, '/supervisor/addons/data/core_mosquitto/db/mosquitto.db', prng(13, 260_000));
  put(root, '/supervisor/addons/data/stray-file', 'not an add-on');
  put(root, '/supervisor/addons/local/my_addon/config.yaml', 'name: mine\n');
  put(root, '/supervisor/addons/git/a0d7b954/repository.json', prng(14, 12_000));
  put(root, '/supervisor/media/camera/clip.mp4', prng(15, 1_500_000));
  put(root, '/supervisor/share/notes.txt', 'share');
  put(root, '/supervisor/share/linked-a', prng(16, 400_000));
  linkSync(join(root, '/supervisor/share/linked-a'), join(root, '/supervisor/share/linked-b'));
  const sparse = openSync(join(root, '/supervisor/share/sparse.img'), 'w');
  writeSync(sparse, Buffer.from('start'), 0, 5, 0);
  writeSync(sparse, Buffer.from('end'), 0, 3, 20 * 1024 * 1024 - 3);
  closeSync(sparse);
  put(root, '/supervisor/ssl/fullchain.pem', prng(17, 3_000));
  put(root, '/docker/overlay2/4f1c/diff/usr/bin/python3', prng(18, 1_200_000));
  put(root, '/docker/containers/9e8d/9e8d-json.log', prng(19, 90_000));
  mkdirSync(join(root, '/docker/overlay2/l'));
  // Docker's short layer links: a folder big enough for an htree, slow and fast symlinks.
  for (let i = 0; i < 300; i++) symlinkSync(`../4f1c/diff-${'x'.repeat(i % 70)}`, join(root, `/docker/overlay2/l/${String(i).padStart(26, 'L')}`));
  put(root, '/logs/system.journal', prng(20, 800_000));
  put(root, '/big-at-the-root', prng(21, 1_700_000));
}

/** The category the brief assigns to each staged path (the classification rules, for this tree). */
function expectedCategory(e: OracleEntry): string {
  const p = e.path;
  const under = (d: string): boolean => p === d || p.startsWith(`${d}/`);
  if (under('/supervisor/backup') || under(`${CONFIG}/backups`)) return 'backups';
  if (e.kind === 'file' && /^\/supervisor\/homeassistant\/home-assistant_v2\.db(-wal|-shm)?$/.test(p)) return 'database';
  if (e.kind === 'file' && /^\/supervisor\/homeassistant\/[^/]+\.log(\.\d+|\.fault)?$/.test(p)) return 'logs';
  if (under(CONFIG)) return 'config';
  const addon = /^\/supervisor\/addons\/data\/([^/]+)(\/|$)/.exec(p);
  if (addon && (addon[2] === '/' || e.kind === 'dir')) return `addon:${addon[1]}`;
  if (under('/supervisor/addons')) return 'addons';
  if (under('/docker')) return 'docker';
  if (under('/logs')) return 'system-logs';
  if (under('/supervisor/media')) return 'media';
  if (under('/supervisor/share')) return 'share';
  return 'other';
}

/** Bytes and files per category from debugfs: every inode once, in the category of its first path. */
function oracleCategories(image: string): { tallies: Map<string, { bytes: number; files: number }>; entries: OracleEntry[]; inodes: ReturnType<typeof debugfsInodes> } {
  const entries = debugfsTree(image);
  const inodes = debugfsInodes(image, entries.map((e) => e.ino));
  const seen = new Set<number>();
  const tallies = new Map<string, { bytes: number; files: number }>();
  for (const e of entries) {
    if (seen.has(e.ino)) continue;
    seen.add(e.ino);
    const t = tallies.get(expectedCategory(e)) ?? { bytes: 0, files: 0 };
    t.bytes += inodes.get(e.ino)!.allocatedBytes;
    if (e.kind === 'file') t.files++;
    tallies.set(expectedCategory(e), t);
  }
  return { tallies, entries, inodes };
}

function expectTotalsOfDumpe2fs(u: Usage, image: string): void {
  const h = dumpe2fsHeader(image);
  const bs = headerNumber(h, 'Block size');
  const blocks = headerNumber(h, 'Block count');
  const free = headerNumber(h, 'Free blocks');
  const reserved = headerNumber(h, 'Reserved block count');
  expect(u).toMatchObject({
    blockSize: bs,
    totalBytes: blocks * bs,
    usedBytes: (blocks - free) * bs,
    freeBytes: free * bs,
    reservedBytes: reserved * bs,
    availableBytes: Math.max(0, free - reserved) * bs,
    inodesTotal: headerNumber(h, 'Inode count'),
    inodesFree: headerNumber(h, 'Free inodes'),
  });
}

const byId = (u: Usage): Map<string, Category> => new Map(u.categories.map((c) => [c.id, c]));

describe.each([
  { name: '4 KiB blocks', blockSize: 4096 },
  { name: '1 KiB blocks', blockSize: 1024 },
  { name: '1 KiB blocks with meta_bg', blockSize: 1024, features: '^resize_inode,meta_bg' },
])('df on a staged card ($name)', ({ name, blockSize, features }) => {
  const stage = join(work, `stage-${blockSize}-${features ?? ''}`);
  const image = join(work, `card-${name.replace(/\W+/g, '-')}.img`);
  stageCard(stage);
  mkfs(image, stage, { sizeMiB: 128, blockSize, ...(features ? { features } : {}) });
  const u = cliJson<Usage>(['df', image]);

  it('totals equal dumpe2fs -h, and a card with room is not full', () => {
    expectTotalsOfDumpe2fs(u, image);
    expect(u.countsFrom).toBe('group descriptors');
    expect(u.full).toBe(false);
    expect(u.problems).toEqual([]);
  });

  it('each category equals the i_blocks debugfs reports under it; they add up to the used bytes', () => {
    const { tallies } = oracleCategories(image);
    const ours = byId(u);
    for (const [id, t] of tallies) {
      if (id === 'other') continue;
      expect(ours.get(id), id).toMatchObject({ bytes: t.bytes, files: t.files });
    }
    expect(ours.get('addon:core_ssh')!.paths).toEqual(['/supervisor/addons/data/core_ssh']);
    expect(ours.get('addon:core_mosquitto')!.bytes).toBeGreaterThan(260_000);
    expect(ours.get('share')!.files).toBe(3); // notes.txt, the hard-linked pair once, sparse.img
    expect(ours.get('other')!.files).toBe(tallies.get('other')!.files);
    expect(u.categories.reduce((s, c) => s + c.bytes, 0)).toBe(u.usedBytes);
    const bytes = u.categories.map((c) => c.bytes);
    expect(bytes).toEqual([...bytes].sort((a, b) => b - a));
  });

  it('"other" holds the metadata dumpe2fs lists and the journal, and the rest of what debugfs finds', () => {
    const journal = debugfsInodes(image, [8]).get(8)!.allocatedBytes;
    expect(u.metadataBytes).toBe(dumpe2fsMetadataBlocks(image) * blockSize + journal);
    const { tallies } = oracleCategories(image);
    const rootDir = debugfsInodes(image, [2]).get(2)!.allocatedBytes;
    const hidden = byId(u).get('other')!.bytes - u.metadataBytes! - tallies.get('other')!.bytes - rootDir;
    // Left over: the resize inode's blocks beyond the reserved GDT blocks dumpe2fs lists (its indirect block).
    const resizeOwn = features ? 0 : debugfsInodes(image, [7]).get(7)!.allocatedBytes - dumpe2fsReservedGdt(image) * blockSize;
    expect(hidden).toBe(resizeOwn);
  });

  it('the 10 largest files, by allocated size, as debugfs says', () => {
    const { entries, inodes } = oracleCategories(image);
    const files = new Map<number, string>();
    for (const e of entries) if (e.kind === 'file' && !files.has(e.ino)) files.set(e.ino, e.path);
    const expected = [...files].map(([ino, path]) => ({ path, bytes: inodes.get(ino)!.allocatedBytes, size: inodes.get(ino)!.size }))
      .sort((a, b) => b.bytes - a.bytes || b.size - a.size).slice(0, 10);
    expect(u.largestFiles).toEqual(expected);
    expect(u.largestFiles[0]!.path).toBe(`${CONFIG}/home-assistant_v2.db`);
  });
});

function dumpe2fsReservedGdt(image: string): number {
  const text = execFileSync('dumpe2fs', [image], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 26 }).toString();
  let n = 0;
  for (const m of text.matchAll(/Reserved GDT blocks at (\d+)-(\d+)/g)) n += Number(m[2]) - Number(m[1]) + 1;
  return n;
}

describe('df on a card filled to the last block', () => {
  const stage = join(work, 'stage-full');
  const image = join(work, 'full.img');
  stageCard(stage);
  mkfs(image, stage, { sizeMiB: 160, blockSize: 4096 });
  // Grow the database into every free block but a few (for its extent tree), and make the image again.
  const free = headerNumber(dumpe2fsHeader(image), 'Free blocks');
  const dbBlocks = Math.ceil((3 * 1024 * 1024 + 123) / 4096);
  writeFileSync(join(stage, CONFIG, 'home-assistant_v2.db'), Buffer.alloc((dbBlocks + free - 8) * 4096, 0xa5));
  mkfs(image, stage, { sizeMiB: 160, blockSize: 4096 });

  it('is FULL, with the totals of dumpe2fs -h', () => {
    expect(headerNumber(dumpe2fsHeader(image), 'Free blocks')).toBeLessThanOrEqual(8);
    const u = cliJson<Usage>(['df', image]);
    expectTotalsOfDumpe2fs(u, image);
    expect(u).toMatchObject({ full: true, availableBytes: 0 });
    expect(u.categories[0]!.id).toBe('database');
    expect(u.categories.reduce((s, c) => s + c.bytes, 0)).toBe(u.usedBytes);
  });

  it('the human output says FULL, names the database first and says what can be done', () => {
    const r = cli(['df', image]);
    expect(r.code).toBe(0);
    const lines = r.text.split('\n');
    expect(lines[0]).toMatch(/^hassos-data: [\d.]+ MiB used of 160 MiB \(\d+ %\), 0 bytes free — FULL$/);
    // The blocks kept for root are at most the few still free (it said the whole 8 MiB reserve was kept back).
    const freeBytes = headerNumber(dumpe2fsHeader(image), 'Free blocks') * 4096;
    const kept = /^ {2}([\d.]+) (bytes|KiB) more is kept back for the system \(root\)/m.exec(r.text);
    if (freeBytes === 0) expect(r.text).not.toMatch(/kept back/);
    else expect(Number(kept?.[1]) * (kept?.[2] === 'KiB' ? 1024 : 1)).toBe(freeBytes);
    const header = lines.findIndex((l) => /^ +what +size +of used +files +where$/.test(l));
    expect(lines[header + 1]).toMatch(/^ +recorder database \(history\) +[\d.]+ MiB +\d+\.\d % +3 +\/supervisor\/homeassistant\/home-assistant_v2\.db/);
    const advice = r.text.slice(r.text.indexOf('What can be done:'));
    expect(advice).toMatch(/recorder database .* can be deleted/);
    expect(advice.indexOf('recorder database')).toBeLessThan(advice.indexOf('Old backups'));
    expect(advice).toMatch(/"haos-rescue backup extract"/);
    expect(advice).toMatch(/haos-rescue rm SOURCE \/supervisor\/homeassistant\/home-assistant_v2\.db \/supervisor\/homeassistant\/home-assistant_v2\.db-wal/);
  });

  it('info says FULL too, from the superblock', () => {
    const info = cliJson(['info', image]);
    expect(info.space).toMatchObject({ full: true, availableBytes: 0 });
    expect(cli(['info', image]).text).toMatch(/^Space: +[\d.]+ MiB used of 160 MiB \(\d+ %\), 0 bytes free — FULL \(haos-rescue df shows what fills it\)$/m);
  });

  it('rm of the database gives the space back: df before and after agree with dumpe2fs, e2fsck -fn clean', () => {
    const copy = join(work, 'full-rm.img');
    copyFileSync(image, copy);
    const before = cliJson<Usage>(['df', copy]);
    const db = before.categories.find((c) => c.id === 'database')!;
    const r = cli(['rm', copy, ...['', '-wal', '-shm'].map((x) => `${CONFIG}/home-assistant_v2.db${x}`), '--no-originals']);
    expect(r.code, r.stderr).toBe(0);
    const fsck = spawnSync('e2fsck', ['-fn', copy], { encoding: 'utf8' });
    expect(fsck.status, fsck.stdout).toBe(0);
    const after = cliJson<Usage>(['df', copy]);
    expectTotalsOfDumpe2fs(after, copy);
    expect(after.freeBytes).toBe(before.freeBytes + db.bytes);
    expect(after.full).toBe(false);
    expect(after.categories.find((c) => c.id === 'database')?.bytes ?? 0).toBe(0);
  });
});

describe('df on a card with room', () => {
  const stage = join(work, 'stage-room');
  const image = join(work, 'room.img');
  stageCard(stage);
  mkfs(image, stage, { sizeMiB: 128, blockSize: 4096 });

  it('the human output: totals, categories biggest first, largest files, no advice', () => {
    const r = cli(['df', image]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.text).toMatch(/^hassos-data: [\d.]+ MiB used of 128 MiB \(\d+ %\), [\d.]+ MiB free\n/);
    expect(r.text).not.toMatch(/FULL|What can be done/);
    expect(r.text).toMatch(/^ +add-on core_ssh \(its data\) +[\d.]+ KiB +\d+\.\d % +2 +\/supervisor\/addons\/data\/core_ssh$/m);
    expect(r.text).toMatch(/^Largest files:\n +[\d.]+ MiB +\/supervisor\/homeassistant\/home-assistant_v2\.db$/m);
  });

  it('info --json space is the counts dumpe2fs shows on a card unmounted cleanly', () => {
    const h = dumpe2fsHeader(image);
    const bs = headerNumber(h, 'Block size');
    const free = headerNumber(h, 'Free blocks');
    expect(cliJson(['info', image]).space).toEqual({
      usedBytes: (headerNumber(h, 'Block count') - free) * bs,
      freeBytes: free * bs,
      availableBytes: (free - headerNumber(h, 'Reserved block count')) * bs,
      full: false,
    });
  });

  it('stale superblock counts: df sums the group descriptors, as the kernel does at mount', () => {
    const stale = join(work, 'stale.img');
    copyFileSync(image, stale);
    execFileSync('debugfs', ['-w', '-R', 'ssv free_blocks_count 100', stale], { stdio: 'ignore' });
    execFileSync('debugfs', ['-w', '-R', 'ssv free_inodes_count 7', stale], { stdio: 'ignore' });
    expect(headerNumber(dumpe2fsHeader(stale), 'Free blocks')).toBe(100);
    const u = cliJson<Usage>(['df', stale]);
    expectTotalsOfDumpe2fs(u, image);
    expect(u).toMatchObject({ countsFrom: 'group descriptors', full: false });
    // info (and the first screen of the guided flow and the window, which tell a full card from it) counts as
    // df does: it said the superblock's 100 free blocks, weeks old on a card pulled from a running box.
    expect(cliJson(['info', stale]).space).toEqual({ usedBytes: u.usedBytes, freeBytes: u.freeBytes, availableBytes: u.availableBytes, full: false });
  });

  it('a damaged folder is listed, counted as far as it reads, and the rest still adds up (exit 65)', () => {
    const damaged = join(work, 'damaged.img');
    copyFileSync(image, damaged);
    const block = Number(execFileSync('debugfs', ['-R', 'blocks /supervisor/addons/data/core_ssh', image], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim());
    const fd = openSync(damaged, 'r+');
    writeSync(fd, prng(99, 4096), 0, 4096, block * 4096);
    closeSync(fd);
    const r = cli(['df', damaged, '--json']);
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(/^error: the count is partial: 1 place\(s\) could not be read$/m);
    const u = JSON.parse(r.text) as Usage;
    expectTotalsOfDumpe2fs(u, image);
    expect(u.problems).toEqual([{ path: '/supervisor/addons/data/core_ssh', reason: expect.stringMatching(/checksum|corrupt|damaged/) }]);
    const ssh = byId(u).get('addon:core_ssh')!;
    expect(ssh).toMatchObject({ bytes: 4096, files: 0 });
    expect(u.categories.reduce((s, c) => s + c.bytes, 0)).toBe(u.usedBytes);
    const human = cli(['df', damaged]);
    expect(human.code).toBe(65);
    expect(human.text).toMatch(/^Could not be read .*\n +\/supervisor\/addons\/data\/core_ssh: /m);
  });
});

describe('df on a card with no free inode', () => {
  const stage = join(work, 'stage-inodes');
  const image = join(work, 'inodes.img');
  mkdirSync(join(stage, CONFIG), { recursive: true });
  mkdirSync(join(stage, 'supervisor/backup')); // empty: its own block is no backup to copy off
  mkfs(image, stage, { sizeMiB: 128, blockSize: 4096, extra: ['-N', '128'] });
  // Every inode left free beside the folders above becomes a small file.
  const free = headerNumber(dumpe2fsHeader(image), 'Free inodes');
  for (let i = 0; i < free; i++) put(stage, `${CONFIG}/entry-${i}`, String(i));
  mkfs(image, stage, { sizeMiB: 128, blockSize: 4096, extra: ['-N', '128'] });

  it('is FULL with plenty of space, and says why', () => {
    expect(headerNumber(dumpe2fsHeader(image), 'Free inodes')).toBe(0);
    const u = cliJson<Usage>(['df', image]);
    expectTotalsOfDumpe2fs(u, image);
    expect(u).toMatchObject({ full: true, inodesFree: 0 });
    expect(u.availableBytes).toBeGreaterThan(64 * 1024 * 1024);
    const text = cli(['df', image]).text;
    expect(text).toMatch(/^  Files and folders \(inodes\): 128 used of 128, none left — FULL\.$/m);
    expect(text).toMatch(/^The partition has no free inode left: no new file can be made/m);
    expect(byId(u).get('backups')).toMatchObject({ bytes: 4096, files: 0 });
    expect(text).not.toMatch(/Old backups/);
  });
});

/** Gives each file a 2000-byte user attribute (too big for the inode: it goes to a block); false if unsupported. */
function withBigXattr(files: string[]): boolean {
  const r = spawnSync('python3', ['-c', 'import os,sys\nfor f in sys.argv[1:]: os.setxattr(f, "user.big", b"v" * 2000)', ...files]);
  return r.status === 0;
}

describe('df and extended attribute blocks', () => {
  const stage = join(work, 'stage-xattr');
  const image = join(work, 'xattr.img');
  put(stage, '/supervisor/share/x1', 'one');
  put(stage, '/supervisor/share/x2', 'two');
  const supported = withBigXattr([join(stage, '/supervisor/share/x1'), join(stage, '/supervisor/share/x2')]);

  it.skipIf(!supported)('a block shared by two files (as the kernel shares equal ones) is counted once', () => {
    mkfs(image, stage, { sizeMiB: 16, blockSize: 4096 });
    const acl = (path: string): number => Number(/File ACL: (\d+)/.exec(execFileSync('debugfs', ['-R', `stat ${path}`, image], { stdio: ['ignore', 'pipe', 'ignore'] }).toString())![1]);
    const before = byId(cliJson<Usage>(['df', image])).get('share')!.bytes;
    execFileSync('debugfs', ['-w', '-R', `sif /supervisor/share/x2 file_acl ${acl('/supervisor/share/x1')}`, image], { stdio: 'ignore' });
    expect(acl('/supervisor/share/x2')).toBe(acl('/supervisor/share/x1'));
    const { tallies } = oracleCategories(image);
    const u = cliJson<Usage>(['df', image]);
    // i_blocks still counts the block in both files (debugfs says so); the card holds it once.
    expect(tallies.get('share')!.bytes).toBe(before);
    expect(byId(u).get('share')!.bytes).toBe(before - 4096);
    expect(u.categories.reduce((s, c) => s + c.bytes, 0)).toBe(u.usedBytes);
  });
});

describe('df on the bundled sample card', () => {
  const data = join(work, 'sample-data.img');
  writeFileSync(data, readSampleImage().subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes));

  it('exit 0; the backups are the files backup list names and their folders', () => {
    const r = cli(['df', data, '--json']);
    expect(r.code).toBe(0);
    const u = JSON.parse(r.text) as Usage;
    expectTotalsOfDumpe2fs(u, data);
    const listed = cliJson<Array<{ path: string }>>(['backup', 'list', data]);
    expect(listed.length).toBeGreaterThan(0);
    const tree = debugfsTree(data);
    const ino = (path: string): number => tree.find((e) => e.path === path)!.ino;
    const folders = tree.filter((e) => e.kind === 'dir' && byId(u).get('backups')!.paths.includes(e.path)).map((e) => e.ino);
    const inodes = debugfsInodes(data, [...listed.map((b) => ino(b.path)), ...folders]);
    const files = listed.reduce((s, b) => s + inodes.get(ino(b.path))!.allocatedBytes, 0);
    const dirs = folders.reduce((s, i) => s + inodes.get(i)!.allocatedBytes, 0);
    expect(byId(u).get('backups')).toMatchObject({ bytes: files + dirs, files: listed.length });
    expect(u.categories.reduce((s, c) => s + c.bytes, 0)).toBe(u.usedBytes);
  });
});

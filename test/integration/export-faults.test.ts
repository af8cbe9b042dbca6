// A failing card under `export` and `backup extract`: the fault-injecting device fails reads of one bad
// sector inside one file's data (found with debugfs, never with our reader), one folder's blocks, or one
// backup's bytes. The action carries on: every other file comes out byte-identical to debugfs rdump / dump,
// the damaged path is reported with its reason, and nothing half-written is left behind.
//
// The actions open sources by path only (openSource/withSource take no BlockDevice), so these tests call
// exportTree with an Ext4Volume over the faulty device, and extractBackups with a hand-built OpenedSource
// holding the fields it reads (volume, layout, fs). The CLI's exit 65 for a partial result is covered by
// export.test.ts and backup-extract.test.ts with damaged images.

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractBackups } from '../../src/actions/backup/index.js';
import { listBackups } from '../../src/actions/backup/index.js';
import { type ExportOptions, type ExportResult, exportTree } from '../../src/actions/export/index.js';
import type { OpenedSource } from '../../src/actions/source.js';
import { volumeFs } from '../../src/actions/volume-fs.js';
import type { ByteRange } from '../../src/device/cow-device.js';
import { faultyDevice } from '../../src/device/faulty-device.js';
import { withFileDevice } from '../../src/device/file-device.js';
import { Ext4Volume } from '../../src/ext4/volume.js';
import { haosLayout } from '../../src/ha/layout.js';
import { debugfs, debugfsExtents, fileBlocks } from '../ext4/fixtures-debugfs.js';
import { type TreeEntry, compareExport, debugfsDumpSha, debugfsFacts, rdump, renamesOf, scanTree, sha256 } from '../helpers/export-tree.js';
import { mkfs, prng, stageVariedTree, tempDir } from '../helpers/images.js';

const BS = 4096;
const SECTOR = 512;
const BACKUP_DIR = '/supervisor/backup';
const BACKUPS = ['b1-monday.tar', 'b2-tuesday.tar', 'b3-wednesday.tar'];

const work = tempDir('export-faults-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const image = join(work, 'disk.img');
let reference: Map<string, TreeEntry>;
let serial = 0;

/** A Supervisor backup tar: ./backup.json first, then a 1.5 MiB payload, like a real one (haos-format §5). */
function stageBackup(dir: string, file: string, slug: string, seed: number): void {
  const tmp = join(work, `backup-${slug}`);
  mkdirSync(tmp);
  writeFileSync(join(tmp, 'backup.json'), JSON.stringify({
    slug, version: 2, name: file, date: '2025-06-01T12:00:00+00:00', type: 'partial', supervisor_version: '2025.05.0',
    protected: false, crypto: null, compressed: true, folders: ['share'], addons: [], homeassistant: null, repositories: [],
  }));
  writeFileSync(join(tmp, 'share.tar.gz'), prng(seed, 1536 * 1024 + 77));
  execFileSync('tar', ['-cf', join(dir, file), '-C', tmp, './backup.json', 'share.tar.gz']);
  rmSync(tmp, { recursive: true });
}

beforeAll(async () => {
  const stage = join(work, 'stage');
  stageVariedTree(stage);
  mkdirSync(join(stage, 'supervisor/backup'));
  BACKUPS.forEach((f, i) => stageBackup(join(stage, 'supervisor/backup'), f, `5a1e${i}000`, 100 + i));
  mkfs(image, stage, { sizeMiB: 128, blockSize: BS });
  const rd = join(work, 'rdump');
  mkdirSync(rd);
  expect(await rdump(image, rd)).toEqual([]);
  reference = scanTree(rd);
});

/** One bad 512-byte sector (the `sector`th) of the file's data block at `logical` (debugfs ex). */
function badSectorInFile(path: string, logical: number, sector = 3): ByteRange {
  const ext = debugfsExtents(image, path).find(([l, , n]) => logical >= l && logical < l + n);
  if (!ext) throw new Error(`${path} has no block ${logical}`);
  return { byteOffset: (ext[1] + logical - ext[0]) * BS + sector * SECTOR, length: SECTOR };
}

async function exportFaulty(out: string, failReadsIn: ByteRange[], options: Partial<ExportOptions> = {}): Promise<ExportResult> {
  return withFileDevice(image, {}, async (dev) => {
    const vol = await Ext4Volume.open(faultyDevice(dev, { failReadsIn }));
    return exportTree(vol, haosLayout(), { out, what: 'all', ...options });
  });
}

/** Exports with the faults in each format and returns the exported tree (archives unpacked by GNU tar). */
async function exportIn(format: 'folder' | 'tar' | 'tar.gz', faults: ByteRange[]) {
  const dir = join(work, `run-${serial++}`);
  mkdirSync(dir);
  const out = format === 'folder' ? join(dir, 'out') : join(dir, `out.${format}`);
  const result = await exportFaulty(out, faults);
  let root = out;
  let listing: string[] = [];
  if (format !== 'folder') {
    expect(readdirSync(dir), 'only the archive, no .partial file').toEqual([`out.${format}`]);
    listing = execFileSync('tar', ['-tf', out]).toString().trim().split('\n');
    mkdirSync(join(dir, 'x'));
    execFileSync('tar', ['-xpf', out, '-C', join(dir, 'x')]);
    root = join(dir, 'x', 'data');
  }
  const renames = renamesOf(result.renamed, reference.keys(), format !== 'folder');
  return { result, tree: scanTree(root), listing, dir, renames };
}

const EIO = /read failed on image .* at byte \d+: EIO \(injected\)/;
const FORMATS = ['folder', 'tar', 'tar.gz'] as const;

describe('export with a bad sector in one file', () => {
  it.each(FORMATS)('%s: the file is skipped with the reason, everything else matches rdump', async (format) => {
    const bad = badSectorInFile('/big-3m', 400);
    const { result, tree, listing, dir, renames } = await exportIn(format, [bad]);
    expect(result.skipped).toEqual([{ path: '/big-3m', reason: expect.stringMatching(EIO), cardRead: true }]);
    expect(result.skipped[0]!.reason).toContain(`at byte ${bad.byteOffset}`);
    expect(tree.has('big-3m')).toBe(false);
    if (format !== 'folder') expect(listing).not.toContain('data/big-3m');
    const cmp = compareExport(image, reference, tree, { missing: new Set(['big-3m']), renames });
    expect(cmp.mismatches).toEqual([]);
    expect(cmp.counts.file).toBeGreaterThan(320);
    expect(result.files + result.hardlinks).toBe(cmp.counts.file);
    rmSync(dir, { recursive: true, force: true });
  });

  it.each(FORMATS)('%s: a small file among 300 neighbours read together: only it is skipped', async (format) => {
    const victim = '/many/entry-with-a-longish-name-150';
    const { result, tree, dir, renames } = await exportIn(format, [badSectorInFile(victim, 0, 0)]);
    expect(result.skipped).toEqual([{ path: victim, reason: expect.stringMatching(EIO), cardRead: true }]);
    const cmp = compareExport(image, reference, tree, { missing: new Set([victim.slice(1)]), renames });
    expect(cmp.mismatches).toEqual([]);
    expect(tree.has('many/entry-with-a-longish-name-149') && tree.has('many/entry-with-a-longish-name-151')).toBe(true);
    rmSync(dir, { recursive: true, force: true });
  });

  it.each(FORMATS)('%s: a hard-linked file is skipped under both names', async (format) => {
    const { result, tree, dir, renames } = await exportIn(format, [badSectorInFile('/file-4096', 0)]);
    expect(result.skipped.map((s) => s.path)).toEqual(['/file-4096', '/hardlink-4096']);
    for (const s of result.skipped) expect(s.reason).toMatch(EIO);
    const cmp = compareExport(image, reference, tree, { missing: new Set(['file-4096', 'hardlink-4096']), renames });
    expect(cmp.mismatches).toEqual([]);
    expect(result.hardlinks).toBe(0);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('export with a bad sector in a folder', () => {
  it.each(FORMATS)('%s: the folder is reported, its entries are missing, the rest matches rdump', async (format) => {
    const blocks = fileBlocks(image, '/many');
    expect(blocks.length).toBeGreaterThan(2);
    const { result, tree, dir, renames } = await exportIn(format, [{ byteOffset: blocks[1]! * BS, length: SECTOR }]);
    expect(result.skipped).toEqual([{ path: '/many', reason: expect.stringMatching(EIO), cardRead: true }]);
    const below = [...reference.keys()].filter((k) => k.startsWith('many/'));
    expect(below).toHaveLength(300);
    // The folder itself is exported (its inode was readable), empty.
    expect(tree.get('many')?.kind).toBe('dir');
    const cmp = compareExport(image, reference, tree, { missing: new Set(below), renames });
    expect(cmp.mismatches).toEqual([]);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('export with a bad sector in the inode table', () => {
  // A 512-byte sector holds 2 of the 256-byte inodes, a 4 KiB block 16. The reader reads the inode table
  // 16 blocks (256 inodes) at a time (volume.ts ITABLE_READ_BLOCKS); when that read fails it reads the one
  // block holding the inode, so a bad sector loses only the inodes of its block, and a bad sector in the
  // table's first 64 KiB does not take the root folder (inode 2) with it.
  const inodeByte = (ino: number): number => {
    const m = /located at block (\d+), offset 0x([0-9a-f]+)/.exec(debugfs(image, `imap <${ino}>`))!;
    return Number(m[1]) * BS + parseInt(m[2]!, 16);
  };
  /** The bad sector under the inode of the /many entry with inode number `ino` (debugfs ls -p, imap). */
  const sectorOfInode = (ino: number): { path: string; sector: ByteRange } => {
    const entry = [...debugfsFacts(image, ['many'])].find(([, f]) => f.ino === ino);
    if (!entry) throw new Error(`no /many entry has inode ${ino}`);
    const at = inodeByte(ino);
    return { path: `/${entry[0]}`, sector: { byteOffset: at - (at % SECTOR), length: SECTOR } };
  };
  const expectOnlyItsBlock = (result: ExportResult, path: string): void => {
    expect(result.skipped.map((s) => s.path)).toContain(path);
    for (const s of result.skipped) {
      expect(s.reason).toMatch(EIO);
      expect(s.path.startsWith('/many/'), `${s.path} is not in the failed block`).toBe(true);
    }
    expect(result.skipped.length).toBeLessThanOrEqual(BS / 256);
  };

  it('a sector in the second 64 KiB of the table: only the inodes of its 4 KiB block are lost', async () => {
    const { path, sector } = sectorOfInode(280);
    const { result, dir } = await exportIn('folder', [sector]);
    rmSync(dir, { recursive: true, force: true });
    expectOnlyItsBlock(result, path);
  });

  it('a sector in the first 64 KiB (not the root inode\'s): the export still runs', async () => {
    const { path, sector } = sectorOfInode(70);
    // Not the root inode's block, nor /many's: with the fix nothing but /many entries may be lost.
    for (const ino of [2, 52]) expect(Math.floor(sector.byteOffset / BS)).not.toBe(Math.floor(inodeByte(ino) / BS));
    const { result, dir } = await exportIn('folder', [sector]);
    rmSync(dir, { recursive: true, force: true });
    expectOnlyItsBlock(result, path);
  });
});

/** What extractBackups reads of an OpenedSource, over the faulty device. */
function faultySource(vol: Ext4Volume): OpenedSource {
  return { path: image, volume: vol, onDiskVolume: vol, layout: haosLayout(), fs: volumeFs(vol), warnings: [] } as unknown as OpenedSource;
}

async function extractFaulty(outDir: string, failReadsIn: ByteRange[]) {
  return withFileDevice(image, {}, async (dev) => {
    const src = faultySource(await Ext4Volume.open(faultyDevice(dev, { failReadsIn })));
    const listed = await listBackups(src);
    return { ...(await extractBackups(src, { outDir })), listed };
  });
}

describe('backup extract with a bad sector in one backup', () => {
  // `slug`: the damaged backup's, when its backup.json was read (its files before the bad sector can be unpacked by it).
  const check = (outDir: string, result: Awaited<ReturnType<typeof extractFaulty>>, damaged: string, slug?: string): void => {
    expect(result.failed).toEqual([{ path: `${BACKUP_DIR}/${damaged}`, reason: expect.stringMatching(EIO), cardRead: true, ...(slug ? { slug } : {}) }]);
    const good = BACKUPS.filter((b) => b !== damaged);
    expect(result.extracted.map((e) => e.path)).toEqual(good.map((b) => `${BACKUP_DIR}/${b}`));
    for (const e of result.extracted) {
      const bytes = readFileSync(e.out);
      expect(e.sha256).toBe(sha256(bytes));
      expect(e.sha256).toBe(debugfsDumpSha(image, e.path));
      expect(e.size).toBe(bytes.length);
    }
    // No half-copied file (nor its .partial-PID) is left for the damaged one.
    expect(readdirSync(outDir).sort()).toEqual(good);
  };

  it('a sector in the middle of the payload: listed, not copied; the others are', async () => {
    const outDir = join(work, `extract-${serial++}`);
    const result = await extractFaulty(outDir, [badSectorInFile(`${BACKUP_DIR}/${BACKUPS[1]}`, 200)]);
    expect(result.listed.map((b) => [b.file, b.slug, b.error])).toEqual(BACKUPS.map((f, i) => [f, `5a1e${i}000`, undefined]));
    check(outDir, result, BACKUPS[1]!, '5a1e1000');
  });

  it('a sector under backup.json: not even listed, reported, the others are copied', async () => {
    const outDir = join(work, `extract-${serial++}`);
    // Bytes 512-1023: backup.json, right after the first tar header.
    const result = await extractFaulty(outDir, [badSectorInFile(`${BACKUP_DIR}/${BACKUPS[0]}`, 0, 1)]);
    expect(result.listed.map((b) => [b.file, b.error !== undefined])).toEqual(BACKUPS.map((f, i) => [f, i === 0]));
    expect(result.listed[0]!.error).toMatch(EIO);
    check(outDir, result, BACKUPS[0]!);
  });

  it('the same backups copy complete without the fault (the oracle agrees with the source)', async () => {
    const outDir = join(work, `extract-${serial++}`);
    const result = await extractFaulty(outDir, []);
    expect(result.failed).toEqual([]);
    expect(readdirSync(outDir).sort()).toEqual(BACKUPS);
    for (const b of BACKUPS) expect(sha256(readFileSync(join(outDir, b)))).toBe(debugfsDumpSha(image, `${BACKUP_DIR}/${b}`));
  });
});

describe('without faults', () => {
  it('the export through the faulty device is complete and matches rdump', async () => {
    const { result, tree, dir } = await exportIn('folder', []);
    expect(result.skipped).toEqual([]);
    expect(compareExport(image, reference, tree).mismatches).toEqual([]);
    rmSync(dir, { recursive: true, force: true });
  });
});

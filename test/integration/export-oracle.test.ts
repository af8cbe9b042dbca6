// `export --what all` to a folder against the oracle, debugfs rdump of the same image: same paths, kinds,
// bytes, permission bits, owners, symlink targets and times; full mode bits, symlink owners, sizes and hard
// links against debugfs ls -p. (a) images made by mke2fs with the feature sets the reader supports, staged
// with a varied tree plus special files and odd modes; (b) every VALID e2fsprogs corpus image that needs no
// journal recovery. The rdump quirks the comparison allows for are listed in test/helpers/export-tree.ts.

import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync, linkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type ExportResult, exportTree } from '../../src/actions/export/index.js';
import { withSource } from '../../src/actions/source.js';
import { withFileDevice } from '../../src/device/file-device.js';
import { Ext4Volume } from '../../src/ext4/volume.js';
import { haosLayout } from '../../src/ha/layout.js';
import { corpusImagePath, corpusImages, hasCorpora } from '../helpers/corpus.js';
import { type CompareOptions, compareExport, rdump, scanTree } from '../helpers/export-tree.js';
import { mkfs, stageVariedTree, tempDir, type MkfsOptions } from '../helpers/images.js';

const work = tempDir('export-oracle-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const asRoot = process.getuid?.() === 0;

const stage = join(work, 'stage');
stageVariedTree(stage);
// What the varied tree lacks and an export must keep or report: special files, setuid/setgid/sticky
// bits, foreign owners, a folder nobody may enter, a file nobody may read, old times, a cross-folder link.
execFileSync('mkfifo', [join(stage, 'fifo')]);
if (asRoot) execFileSync('mknod', [join(stage, 'null-device'), 'c', '1', '3']);
mkdirSync(join(stage, 'modes'));
writeFileSync(join(stage, 'modes/setuid'), '#!/bin/sh\n');
chmodSync(join(stage, 'modes/setuid'), 0o4755);
writeFileSync(join(stage, 'modes/setgid'), 'g');
chmodSync(join(stage, 'modes/setgid'), 0o2750);
mkdirSync(join(stage, 'modes/sticky'));
chmodSync(join(stage, 'modes/sticky'), 0o1777);
mkdirSync(join(stage, 'modes/locked'));
writeFileSync(join(stage, 'modes/locked/inside'), 'behind a 000 folder once staged');
linkSync(join(stage, 'modes/locked/inside'), join(stage, 'modes/link-to-inside'));
writeFileSync(join(stage, 'modes/old'), 'from 1980');
utimesSync(join(stage, 'modes/old'), 315_532_800, 315_532_800);
if (asRoot) {
  // Only root can stage (mke2fs -d reads them) and compare (read back) entries without permissions.
  writeFileSync(join(stage, 'modes/unreadable'), 'secret');
  chmodSync(join(stage, 'modes/unreadable'), 0o000);
  chmodSync(join(stage, 'modes/locked'), 0o000);
  writeFileSync(join(stage, 'modes/owned'), 'uid 1000');
  chownSync(join(stage, 'modes/owned'), 1000, 1001);
  chownSync(join(stage, 'modes/sticky'), 33, 33);
  execFileSync('chown', ['-h', '1234:5678', join(stage, 'fast-link')]);
}
// The staged folders' own times are those of the staging, set while children were written; fix them.
execFileSync('find', [stage, '-type', 'd', '-exec', 'touch', '-h', '-d', '@1700000000', '{}', '+']);

/** A representative subset of the reader-vs-debugfs feature matrix. */
const FEATURE_SETS: Array<[string, MkfsOptions]> = [
  ['default ext4 (metadata_csum, 64bit)', {}],
  ['no metadata_csum', { features: '^metadata_csum' }],
  ['no extents (ext3-like block maps)', { features: '^extent,^64bit' }],
  ['1 KiB blocks', { blockSize: 1024 }],
  ['inline_data', { features: 'inline_data' }],
  ['32-bit (^64bit)', { features: '^64bit' }],
];

let serial = 0;

/** Exports `image` to a new folder and compares it with rdump; returns the result and the comparison. */
async function exportAndCompare(image: string, run: (out: string) => Promise<ExportResult>, options: CompareOptions = {}) {
  const dir = join(work, `run-${serial++}`);
  const rd = join(dir, 'rdump');
  const out = join(dir, 'export');
  mkdirSync(rd, { recursive: true });
  const [rdumpErrors, result] = await Promise.all([rdump(image, rd), run(out)]);
  const cmp = compareExport(image, scanTree(rd), scanTree(out), options);
  rmSync(dir, { recursive: true, force: true });
  return { result, cmp, rdumpErrors };
}

describe('export --what all matches debugfs rdump on mke2fs images', () => {
  it.each(FEATURE_SETS)('%s', async (name, options) => {
    const image = join(work, `${name.replace(/\W+/g, '_')}.img`);
    mkfs(image, stage, { sizeMiB: 96, ...options });
    const { result, cmp, rdumpErrors } = await exportAndCompare(image, (out) =>
      withSource(image, {}, (s) => exportTree(s.volume, s.layout, { out, what: 'all' })),
    );
    expect(rdumpErrors).toEqual([]);
    expect(cmp.mismatches).toEqual([]);
    expect(result.skipped).toEqual([]);
    expect(result.renamed).toEqual([]);
    expect(result.special).toEqual(cmp.special);
    expect(result.special).toEqual(asRoot ? ['/fifo', '/null-device'] : ['/fifo']);
    // The tree really is the varied one: 300 entries of /many, 12 levels, links, every odd mode.
    expect(cmp.counts.file).toBeGreaterThan(320);
    expect(cmp.counts.dir).toBeGreaterThan(15);
    expect(cmp.counts.symlink).toBe(3);
    // Counters: one result.files per inode copied, one result.hardlinks per further name.
    expect(result.files + result.hardlinks).toBe(cmp.counts.file);
    expect(result.hardlinks).toBe(2);
    expect(result.dirs).toBe(cmp.counts.dir - 1);
    expect(result.symlinks).toBe(cmp.counts.symlink);
    rmSync(image, { force: true });
  });

  it('a .tar.gz unpacked by GNU tar matches rdump too (non-UTF-8 names renamed and reported)', async () => {
    const image = join(work, 'tar.img');
    mkfs(image, stage, { sizeMiB: 96 });
    const dir = join(work, 'tar-run');
    mkdirSync(join(dir, 'rdump'), { recursive: true });
    mkdirSync(join(dir, 'x'));
    const archive = join(dir, 'all.tar.gz');
    const [rdumpErrors, result] = await Promise.all([
      rdump(image, join(dir, 'rdump')),
      withSource(image, {}, (s) => exportTree(s.volume, s.layout, { out: archive, what: 'all' })),
    ]);
    execFileSync('tar', ['-xzpf', archive, '-C', join(dir, 'x')]);
    expect(rdumpErrors).toEqual([]);
    expect(result.skipped).toEqual([]);
    // The one name that is not UTF-8 becomes its \xNN spelling in the archive.
    const latin1 = Buffer.from('latin1-\xe9t\xe9', 'latin1');
    expect(result.renamed).toEqual([{ path: '/latin1-\\xe9t\\xe9', as: 'data/latin1-\\xe9t\\xe9', reason: 'name is not UTF-8' }]);
    const renames = new Map([[latin1.toString('latin1'), Buffer.from('latin1-\\xe9t\\xe9', 'utf8').toString('latin1')]]);
    const cmp = compareExport(image, scanTree(join(dir, 'rdump')), scanTree(join(dir, 'x', 'data')), { renames });
    // Mode 000 entries (staged as root only): see 'tar mode and mode 000' below.
    expect(cmp.mismatches.filter((l) => !/^\/modes\/(locked|unreadable): (permissions|mode) /.test(l))).toEqual([]);
    expect(cmp.counts.file).toBeGreaterThan(320);
    expect(result.special).toEqual(cmp.special);
    rmSync(dir, { recursive: true, force: true });
    rmSync(image, { force: true });
  });

  it('a mismatch is caught: the comparison is not vacuous', async () => {
    const image = join(work, 'canary.img');
    mkfs(image, stage, { sizeMiB: 96 });
    const { cmp } = await exportAndCompare(image, async (out) => {
      const r = await withSource(image, {}, (s) => exportTree(s.volume, s.layout, { out, what: 'all' }));
      writeFileSync(join(out, 'file-1025'), 'changed');
      chmodSync(join(out, 'modes/setuid'), 0o755);
      utimesSync(join(out, 'modes/old'), 315_532_801, 315_532_801);
      rmSync(join(out, 'hardlink-4096'));
      writeFileSync(join(out, 'hardlink-4096'), readFileSync(join(out, 'file-4096')));
      writeFileSync(join(out, 'extra'), '');
      return r;
    });
    expect(cmp.mismatches).toHaveLength(7);
    expect(cmp.mismatches).toEqual(expect.arrayContaining([
      '/extra: in the export but not in rdump',
      '/file-1025: size 7, expected 1025',
      expect.stringMatching(/^\/file-1025: mtime \d+, expected \d+$/),
      expect.stringMatching(/^\/hardlink-4096: mtime \d+, expected \d+$/),
      expect.stringMatching(/^inode \d+: names \/file-4096, \/hardlink-4096 are 2 files/),
      '/modes/old: mtime 315532801, expected 315532800',
      '/modes/setuid: mode (vs inode) 755, expected 4755',
    ]));
    rmSync(image, { force: true });
  });
});

describe('tar mode and mode 000', () => {
  // tar-stream's pack.entry() replaces a falsy header.mode with 0644 (0755 for folders); export-tar.ts
  // passes the mode with its type bits, which is never 0, and tar-stream masks it to 0o7777 when encoding.
  it.runIf(asRoot)('an entry with mode 000 keeps it in an archive', async () => {
    const dir = join(work, 'mode0');
    mkdirSync(join(dir, 'stage/locked'), { recursive: true });
    writeFileSync(join(dir, 'stage/unreadable'), 'x');
    chmodSync(join(dir, 'stage/unreadable'), 0o000);
    chmodSync(join(dir, 'stage/locked'), 0o000);
    const image = join(dir, 'mode0.img');
    mkfs(image, join(dir, 'stage'), { sizeMiB: 8 });
    const archive = join(dir, 'mode0.tar');
    await withSource(image, {}, (s) => exportTree(s.volume, s.layout, { out: archive, what: 'all' }));
    const listing = execFileSync('tar', ['-tvf', archive]).toString();
    expect(listing).toMatch(/^d--------- \S+ .* data\/locked$/m);
    expect(listing).toMatch(/^---------- \S+ .* data\/unreadable$/m);
  });
});

describe.runIf(asRoot)('the export root folder', () => {
  // Folder mode gives --out the root inode's mode, times and owner, as rdump does and as GNU tar does
  // unpacking our own archive (its root entry carries uid/gid). Four corpus images have a root owned by
  // someone else (f_desc_size_128 502:20, f_full_bg, f_rehash_dir, f_valid_ea_in_inode).
  it("takes the root inode's owner, as it takes its mode and times", async () => {
    const image = join(work, 'root-owner.img');
    mkfs(image, null, { sizeMiB: 16, extra: ['-E', 'root_owner=1000:1001'] });
    const { cmp } = await exportAndCompare(image, (out) => withSource(image, {}, (s) => exportTree(s.volume, s.layout, { out, what: 'all' })));
    expect(cmp.mismatches).toEqual([]);
  });
});

// VALID images left out, each with its reason. None today: no VALID image makes rdump report an error or
// skip an entry (checked per image below, so a new corpus image that does fails loudly instead of being
// compared with a partial rdump). j_ext_dumpe2fs, which debugfs cannot open, is not VALID (verdict N/A).
const NOT_COMPARABLE = new Map<string, string>();

describe.skipIf(!hasCorpora)('export --what all matches debugfs rdump on the e2fsprogs corpus', () => {
  const valid = corpusImages().filter((i) => i.verdict === 'VALID' && !i.needsRecovery);

  it('compares every VALID image but those named above', () => {
    const names = valid.map((i) => i.test);
    for (const t of NOT_COMPARABLE.keys()) expect(names, `${t} is no longer VALID: drop it from NOT_COMPARABLE`).toContain(t);
    expect(valid.length - NOT_COMPARABLE.size).toBeGreaterThanOrEqual(35);
  });

  it.each(valid.filter((i) => !NOT_COMPARABLE.has(i.test)).map((i) => [i.test]))('%s', async (test) => {
    const image = corpusImagePath(test);
    // The root folder's owner: see 'the export root folder' above.
    const { result, cmp, rdumpErrors } = await exportAndCompare(
      image,
      (out) => withFileDevice(image, {}, async (dev) => exportTree(await Ext4Volume.open(dev), haosLayout(), { out, what: 'all' })),
      { rootOwner: false },
    );
    expect(rdumpErrors, 'debugfs rdump reported errors: add the image to NOT_COMPARABLE with the reason').toEqual([]);
    expect(cmp.mismatches).toEqual([]);
    expect(result.skipped).toEqual([]);
    expect(result.renamed).toEqual([]);
    expect(result.special).toEqual(cmp.special);
    expect(result.files + result.hardlinks).toBe(cmp.counts.file);
    expect(result.symlinks).toBe(cmp.counts.symlink);
  });
});

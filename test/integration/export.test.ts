// `export` through the CLI: folder, tar and tar.gz exports match the staged tree; hostile symlinks stay
// links and nothing is written outside --out; a damaged file is skipped and reported with exit 65.

import { execFileSync } from 'node:child_process';
import { copyFileSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync, writeSync, closeSync, chmodSync, utimesSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { displayName } from '../../src/ext4/path.js';
import { cli } from '../helpers/cli.js';
import { mkfs, stageVariedTree, tempDir } from '../helpers/images.js';

let work: string;
let stage: string;
let image: string;
const CONFIG = 'supervisor/homeassistant';

type NameMap = (name: Buffer) => Buffer;
const folderName: NameMap = (n) => Buffer.from(n.map((b) => (b < 0x20 || b === 0x7f ? 0x5f : b)));
const tarName: NameMap = (n) => Buffer.from(displayName(n), 'utf8');

function p(...parts: Array<string | Buffer>): Buffer {
  return Buffer.concat(parts.flatMap((x, i) => (i === 0 ? [Buffer.from(x)] : [Buffer.from('/'), Buffer.from(x)])));
}

/** Compares the staged tree with an exported one: types, modes, bytes, symlink targets, mtimes, nothing extra. */
function compareTrees(src: Buffer, dst: Buffer, map: NameMap, ignore: string[] = []): number {
  let count = 0;
  const srcNames = (readdirSync(src, { encoding: 'buffer' }) as Buffer[]).filter((n) => !ignore.includes(n.toString()));
  const dstNames = (readdirSync(dst, { encoding: 'buffer' }) as Buffer[]).filter((n) => !ignore.includes(n.toString()));
  expect(dstNames.map((n) => n.toString('latin1')).sort()).toEqual(srcNames.map((n) => map(n).toString('latin1')).sort());
  for (const name of srcNames) {
    const s = p(src, name);
    const d = p(dst, map(name));
    const a = lstatSync(s);
    const b = lstatSync(d);
    const where = d.toString();
    expect(b.mode.toString(8), where).toBe(a.mode.toString(8));
    count++;
    if (a.isSymbolicLink()) {
      expect(readlinkSync(d, { encoding: 'buffer' }).toString('latin1'), where).toBe(readlinkSync(s, { encoding: 'buffer' }).toString('latin1'));
      continue;
    }
    expect(Math.floor(b.mtimeMs / 1000), where).toBe(Math.floor(a.mtimeMs / 1000));
    if (a.isDirectory()) count += compareTrees(s, d, map);
    else {
      expect(b.size, where).toBe(a.size);
      expect(readFileSync(d).equals(readFileSync(s)), where).toBe(true);
    }
  }
  return count;
}

beforeAll(() => {
  work = tempDir('haos-rescue-export-');
  stage = join(work, 'stage');
  mkdirSync(stage);
  stageVariedTree(stage);
  const cfg = join(stage, CONFIG);
  symlinkSync('/etc/passwd', join(cfg, 'evil-absolute'));
  symlinkSync('../../outside', join(cfg, 'evil-up'));
  symlinkSync('../../../../../../../../tmp/pwned', join(cfg, 'evil-deep'));
  writeFileSync(join(cfg, 'ctl\x01name\x1b'), 'control characters');
  writeFileSync(join(cfg, 'home-assistant_v2.db'), 'db');
  writeFileSync(join(cfg, 'home-assistant_v2.db-wal'), 'wal');
  writeFileSync(join(cfg, 'home-assistant_v2.db-shm'), 'shm');
  writeFileSync(join(cfg, 'secrets.yaml'), 'x: 1\n');
  chmodSync(join(cfg, 'secrets.yaml'), 0o600);
  mkdirSync(join(cfg, 'empty-dir'));
  mkdirSync(join(cfg, 'private'), { mode: 0o700 });
  writeFileSync(join(cfg, 'private', 'script.sh'), '#!/bin/sh\n');
  chmodSync(join(cfg, 'private', 'script.sh'), 0o750);
  utimesSync(join(cfg, 'secrets.yaml'), 1_600_000_000, 1_600_000_000);
  image = join(work, 'disk.img');
  mkfs(image, stage, { sizeMiB: 128, blockSize: 4096 });
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('export to a folder', () => {
  it('exports the config folder with bytes, modes, symlinks and times, and writes nothing outside --out', () => {
    const parent = join(work, 'folder-config');
    mkdirSync(parent);
    const out = join(parent, 'out');
    const r = cli(['export', image, '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.text);
    expect(report.skipped).toEqual([]);
    expect(report.renamed.map((x: { as: string }) => x.as)).toEqual(['ctl_name_']);
    expect(compareTrees(p(stage, CONFIG), Buffer.from(out), folderName)).toBeGreaterThan(10);
    expect(readlinkSync(join(out, 'evil-absolute'))).toBe('/etc/passwd');
    expect(readlinkSync(join(out, 'evil-up'))).toBe('../../outside');
    expect(readdirSync(parent)).toEqual(['out']);
    expect(() => lstatSync('/tmp/pwned')).toThrow();
  });

  it('exports the whole filesystem with hard links kept', () => {
    const out = join(work, 'folder-all');
    const r = cli(['export', image, '--out', out, '--what', 'all']);
    expect(r.code, r.stderr).toBe(0);
    compareTrees(Buffer.from(stage), Buffer.from(out), folderName, ['lost+found']);
    expect(statSync(join(out, 'hardlink-4096')).ino).toBe(statSync(join(out, 'file-4096')).ino);
  });

  it('leaves out the database with --exclude-db', () => {
    const out = join(work, 'folder-nodb');
    const r = cli(['export', image, '--out', out, '--exclude-db', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const names = readdirSync(out);
    expect(names.filter((n) => n.startsWith('home-assistant_v2'))).toEqual([]);
    expect(names).toContain('configuration.yaml');
  });

  it('refuses a non-empty --out with exit 64', () => {
    const out = join(work, 'not-empty');
    mkdirSync(out);
    writeFileSync(join(out, 'keep'), 'mine');
    const r = cli(['export', image, '--out', out]);
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/not empty/);
    expect(readdirSync(out)).toEqual(['keep']);
    // Standard output named as --out (a pipe here, which has no real path): refused, not an internal error.
    const piped = cli(['export', image, '--out', '/dev/stdout']);
    expect(piped.code, piped.stderr).toBe(64);
    expect(piped.stderr).toBe('error: /dev/stdout exists and is not a folder\nhint: name a new folder, or a FILE.tar / FILE.tar.gz\n');
    // A link to a folder: refused as a link (it said "exists and is not a folder" of a folder), nothing written.
    const target = join(work, 'link-target');
    mkdirSync(target);
    symlinkSync(target, join(work, 'link-out'));
    const linked = cli(['export', image, '--out', join(work, 'link-out')]);
    expect(linked.code).toBe(64);
    expect(linked.stderr).toBe(`error: ${join(work, 'link-out')} is a symbolic link: the export is not written through it\nhint: name the folder it points to, or a new folder\n`);
    expect(readdirSync(target)).toEqual([]);
  });
});

describe('export to an archive', () => {
  for (const ext of ['tar', 'tar.gz']) {
    it(`writes a .${ext} that GNU tar unpacks to the same tree`, () => {
      const dir = join(work, `arch-${ext}`);
      mkdirSync(dir);
      const file = join(dir, `export.${ext}`);
      const r = cli(['export', image, '--out', file, '--what', 'all', '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(readdirSync(dir)).toEqual([`export.${ext}`]);
      const report = JSON.parse(r.text);
      expect(report.renamed.some((x: { reason: string }) => /UTF-8/.test(x.reason))).toBe(true);
      const x = join(work, `unpacked-${ext}`);
      mkdirSync(x);
      execFileSync('tar', ['-xpf', file, '-C', x]);
      expect(readdirSync(x)).toEqual(['data']);
      compareTrees(Buffer.from(stage), Buffer.from(join(x, 'data')), tarName, ['lost+found']);
      expect(statSync(join(x, 'data', 'hardlink-4096')).ino).toBe(statSync(join(x, 'data', 'file-4096')).ino);
    });
  }
});

describe('damaged media', () => {
  let damaged: string;
  beforeAll(() => {
    damaged = join(work, 'damaged.img');
    copyFileSync(image, damaged);
    const imap = execFileSync('debugfs', ['-R', 'imap /file-65537', damaged], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    const m = /located at block (\d+), offset (0x[0-9a-f]+)/.exec(imap);
    if (!m) throw new Error(`debugfs imap: ${imap}`);
    const fd = openSync(damaged, 'r+');
    writeSync(fd, Buffer.alloc(2), 0, 2, Number(m[1]) * 4096 + Number(m[2]) + 40);
    closeSync(fd);
  });

  it('skips the unreadable file in folder mode, exports the rest and exits 65', () => {
    const out = join(work, 'damaged-folder');
    const r = cli(['export', image.replace('disk.img', 'damaged.img'), '--out', out, '--what', 'all', '--json']);
    expect(r.code, r.stderr).toBe(65);
    const report = JSON.parse(r.text);
    expect(report.skipped.map((s: { path: string }) => s.path)).toEqual(['/file-65537']);
    expect(readdirSync(out)).not.toContain('file-65537');
    expect(readFileSync(join(out, 'file-4097')).equals(readFileSync(join(stage, 'file-4097')))).toBe(true);
    expect(readFileSync(join(out, 'big-3m')).equals(readFileSync(join(stage, 'big-3m')))).toBe(true);
  });

  it('skips it in tar mode too, and the archive is complete otherwise', () => {
    const file = join(work, 'damaged.tar');
    const r = cli(['export', damaged, '--out', file, '--what', 'all']);
    expect(r.code, r.stderr).toBe(65);
    expect(r.text).toMatch(/Skipped[\s\S]*\/file-65537/);
    const list = execFileSync('tar', ['-tf', file]).toString().split('\n');
    expect(list).not.toContain('data/file-65537');
    expect(list).toContain('data/big-3m');
    expect(list).toContain('data/supervisor/homeassistant/configuration.yaml');
  });

  it('a name whose record was cleared (no file type) is skipped as damage, exit 65 (it was listed with the device files, exit 0)', () => {
    const cleared = join(work, 'cleared.img');
    copyFileSync(image, cleared);
    execFileSync('debugfs', ['-w', '-R', 'clri /file-4097', cleared], { stdio: 'ignore' });
    for (const out of [join(work, 'cleared-folder'), join(work, 'cleared.tar')]) {
      const r = cli(['export', cleared, '--out', out, '--what', 'all', '--json']);
      expect(r.code, r.stderr).toBe(65);
      const report = JSON.parse(r.text);
      expect(report.special).toEqual([]);
      expect(report.skipped).toEqual([{ path: '/file-4097', reason: 'its record on the card has no file type (damaged, or cleared): nothing of it can be read; e2fsck would remove it' }]);
    }
  });
});

describe('a folder with a second "." and ".."', () => {
  it('the files they point at are said as lost (exit 65); they vanished unsaid', () => {
    const dots = join(work, 'dots-stage');
    mkdirSync(join(dots, 'supervisor', 'homeassistant'), { recursive: true });
    writeFileSync(join(dots, 'supervisor', 'homeassistant', 'configuration.yaml'), 'homeassistant:\n');
    writeFileSync(join(dots, 'supervisor', 'homeassistant', 'Q'), 'dot payload\n');
    writeFileSync(join(dots, 'supervisor', 'homeassistant', 'QQ'), 'dotdot payload\n');
    const img = join(work, 'dots.img');
    mkfs(img, dots, { sizeMiB: 16, features: '^metadata_csum,^dir_index' });
    // The entries Q and QQ renamed to "." and ".." in place (name length and type stay: a regular file).
    execFileSync('python3', ['-c', `
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
def rename(name, new):
    j = 0
    while True:
        j = d.find(name, j + 1)
        if j < 0: raise SystemExit('not found')
        if d[j - 2] == len(name) and d[j - 1] == 1 and d[j + len(name)] == 0:
            d[j:j + len(name)] = new
            return
rename(b'Q', b'.')
rename(b'QQ', b'..')
open(sys.argv[1], 'wb').write(d)
`, img]);
    const r = cli(['export', img, '--out', join(work, 'dots-out'), '--json']);
    expect(r.code, r.stderr).toBe(65);
    const reasons = (JSON.parse(r.text).skipped as Array<{ reason: string }>).map((k) => k.reason);
    expect(reasons).toEqual([
      expect.stringMatching(/^this folder holds a second entry named "\." \(inode \d+\): the filesystem is damaged/),
      expect.stringMatching(/^this folder holds a second entry named "\.\." \(inode \d+\): the filesystem is damaged/),
    ]);
    expect(readFileSync(join(work, 'dots-out', 'configuration.yaml'), 'utf8')).toBe('homeassistant:\n');
  });
});

describe('owners in an archive', () => {
  it('an owner or group past what the tar field holds (262143) is kept in a PAX record, as GNU tar and bsdtar read it (it came out as 262143)', () => {
    const owned = join(work, 'owned.img');
    copyFileSync(image, owned);
    for (const cmd of ['sif /file-4097 uid 4000000000', 'sif /file-4097 gid 3000000', 'sif /file-4096 uid 1000']) execFileSync('debugfs', ['-w', '-R', cmd, owned], { stdio: 'ignore' });
    const file = join(work, 'owned.tar');
    const r = cli(['export', owned, '--out', file, '--what', 'all']);
    expect(r.code, r.stderr).toBe(0);
    for (const reader of [['tar', '--numeric-owner', '-tvf', file], ['bsdtar', '--numeric-owner', '-tvf', file]]) {
      const listing = execFileSync(reader[0]!, reader.slice(1), { encoding: 'utf8' }).split('\n');
      expect(listing.find((l) => l.endsWith('data/file-4097')), reader[0]).toMatch(/4000000000[ /]+3000000 /);
      expect(listing.find((l) => l.endsWith('data/file-4096')), reader[0]).toMatch(/ 1000[ /]+0 /);
    }
  });
});

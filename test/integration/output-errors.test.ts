// When the computer's side fails (the output disk is full, or read-only), export and backup extract stop
// with a message about the output (exit 74 / 77), never as an internal bug, and the card is untouched.
// Uses a tiny tmpfs as the full disk (needs root and mount; skipped with the reason otherwise).

import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSampleImage } from '../../fixtures/index.js';
import { CLI, cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('output-errors-');
const image = join(work, 'sample.img');
writeFileSync(image, readSampleImage());
const small = join(work, 'small');
mkdirSync(small);
const mounted = process.getuid?.() === 0 && spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', small]).status === 0;
afterAll(() => {
  if (mounted) spawnSync('umount', [small]);
  rmSync(work, { recursive: true, force: true });
});
const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');

describe.skipIf(!mounted)(`a full output disk${mounted ? '' : ' (skipped: needs root to mount a small tmpfs)'}`, () => {
  it('export to a .tar.gz stops with exit 74 OUTPUT_FULL and removes its partial file', () => {
    const before = sha(image);
    const r = cli(['export', image, '--what', 'all', '--out', join(small, 'config.tar.gz'), '--verbose']);
    expect(r.code, r.stderr).toBe(74);
    expect(r.stderr).toMatch(/error: no space left where the copy goes/);
    expect(r.stderr).toMatch(/code: OUTPUT_FULL/);
    expect(sha(image)).toBe(before);
    expect(readdirSync(small)).toEqual([]);
  });

  // A folder or .tar whose files' data alone is more than the disk's room is refused before a byte is copied.
  it.each([['folder', 'config'], ['.tar', 'config.tar']])('export to a %s that cannot fit is refused first: exit 77', (_kind, name) => {
    const r = cli(['export', image, '--what', 'all', '--out', join(small, name), '--verbose']);
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toMatch(/error: the disk holding .* has 256 KiB free; the files to export hold [\d.]+ MiB in \d+ file\(s\)/);
    expect(r.stderr).toMatch(/code: NOT_ENOUGH_SPACE/);
    expect(r.stderr).toMatch(/hint: .*or compressed \(\.tar\.gz\); nothing was copied \(--what config, --exclude-db, or --out FILE\.tar\.gz\)/);
    expect(readdirSync(small)).toEqual([]);
  });

  // Room for the files' data but not for the rest (a folder's pages, a tar's headers): the copy starts, the
  // disk fills, exit 74. An archive is removed with its partial file; a folder keeps what was copied.
  it.each([['folder', 'config'], ['.tar', 'config.tar']])('export to a %s that fills the disk mid-way stops with exit 74 OUTPUT_FULL', (kind, name) => {
    const all = join(work, 'all');
    rmSync(all, { recursive: true, force: true });
    expect(cli(['export', image, '--what', 'all', '--out', all]).code).toBe(0);
    const list = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? list(join(d, e.name)) : e.isFile() ? [join(d, e.name)] : []));
    const dataBytes = list(all).reduce((n, f) => n + readFileSync(f).length, 0);
    const tight = join(work, `tight-${kind}`);
    mkdirSync(tight);
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${Math.ceil(dataBytes / 4096) * 4096 + 16384}`, 'tmpfs', tight]).status).toBe(0);
    try {
      const r = cli(['export', image, '--what', 'all', '--out', join(tight, name), '--verbose']);
      expect(r.code, r.stderr).toBe(74);
      expect(r.stderr).toMatch(/error: no space left where the copy goes/);
      expect(r.stderr).toMatch(/code: OUTPUT_FULL/);
      expect(readdirSync(tight)).toEqual(kind === 'folder' ? [name] : []);
      // The folder kept is said as part of the copy, with the way to have it whole (it said nothing of it).
      if (kind === 'folder') {
        expect(r.stderr).toMatch(/^error: no space left where the copy goes \(\S+\): \S+ holds part of the copy \(\d+ file\(s\), \d+ folder\(s\)\)$/m);
        expect(r.stderr).toMatch(/^hint: .*; to have it whole, copy again into another folder, or over this one \(replacing it\)$/m);
      }
    } finally {
      spawnSync('umount', [tight]);
    }
  });

  it('export, backup extract and image onto a read-only disk are said as such (they spoke of free space; a small one "lacked room")', () => {
    const ro = join(work, 'ro');
    mkdirSync(ro, { recursive: true });
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,ro', 'tmpfs', ro]).status).toBe(0);
    try {
      for (const args of [['export', image, '--out', join(ro, 'e.tar')], ['export', image, '--out', join(ro, 'folder')], ['backup', 'extract', image, '--out', join(ro, 'b')], ['image', image, '--out', join(ro, 'card.img')]]) {
        const r = cli(args);
        expect(r.code, r.stderr).toBe(77);
        expect(r.stderr).toMatch(/is on a read-only disk/);
        expect(r.stderr).not.toMatch(/free/);
      }
    } finally {
      spawnSync('umount', [ro]);
    }
  });

  it('image onto a disk with less room than the map keeps free: refused before anything is made (it left an empty image and map)', () => {
    const r = cli(['image', image, '--out', join(small, 'card.img'), '--verbose']);
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toMatch(/code: NOT_ENOUGH_SPACE/);
    expect(r.stderr).toMatch(/the image needs as much room as the card's data uses, and 8 MiB more for its map/);
    expect(readdirSync(small)).toEqual([]);
  });

  it('backup extract is refused before copying anything when the space is short', () => {
    const r = cli(['backup', 'extract', image, '--out', join(small, 'backups')]);
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toMatch(/has [\d.]+ KiB free; the backups are [\d.]+ KiB, and the disk takes up to 1 MiB more for its own bookkeeping/);
    expect(readdirSync(small)).not.toContain('backups'); // no empty folder left to look like a copy
  });
});

// `image` keeps room on its disk for the bad-sector map, so that a disk the copy fills still records what was
// copied; it refuses before the card's files when the used part of the data partition cannot fit, and a disk
// that fills only with the card's free space leaves a readable image and says so.
describe.skipIf(!mounted)(`image onto a disk that is too small${mounted ? '' : ' (skipped: needs root to mount a small tmpfs)'}`, () => {
  const before = sha(image);
  const disks: string[] = [];
  const disk = (name: string, size: string): string => {
    const dir = join(work, name);
    mkdirSync(dir);
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]).status).toBe(0);
    disks.push(dir);
    return dir;
  };
  afterAll(() => {
    for (const d of disks) spawnSync('umount', [d]);
  });
  // The sample card with 11 MiB of old data in its free blocks (a file written, then deleted: debugfs keeps
  // its bytes), as a card in use has: free space that is not zeros takes room in the image.
  const dirty = join(work, 'dirty.img');
  const dataAt = 11 * 1024 * 1024;
  const makeDirty = (): void => {
    const part = join(work, 'data.part');
    const whole = readSampleImage();
    writeFileSync(part, whole.subarray(dataAt, dataAt + 20 * 1024 * 1024));
    writeFileSync(join(work, 'old.bin'), randomBytes(11 * 1024 * 1024));
    for (const req of [`write ${join(work, 'old.bin')} old`, 'rm old']) {
      expect(spawnSync('debugfs', ['-w', '-R', req, part]).status).toBe(0);
    }
    readFileSync(part).copy(whole, dataAt);
    writeFileSync(dirty, whole);
  };

  it('backup extract of small backups onto a disk with a few MiB free: copied (a 16 MiB margin refused it)', () => {
    const few = disk('few', '4m');
    const r = cli(['backup', 'extract', image, '--out', join(few, 'backups')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.text).toMatch(/3 backup\(s\) copied/);
  });

  it('a disk filled by the copy keeps the map: exit 74, and a bigger disk continues from it', () => {
    // Room for the map's 8 MiB and a little more: the copy starts, and the card's metadata fills it.
    const tiny = disk('tiny', '8600k');
    const r = cli(['image', image, '--out', join(tiny, 'card.img'), '--verbose']);
    expect(r.code, r.stderr).toBe(74);
    expect(r.stderr).toMatch(/error: the copy stopped: the disk holding .*card\.img is full \([\d.]+ [KM]iB left, kept for the bad-sector map\)/);
    expect(r.stderr).not.toMatch(/map could not be saved/);
    const map = readFileSync(join(tiny, 'card.img.map'), 'utf8');
    expect(map).toMatch(/^0x[0-9A-F]+ +[?*/+-] +\d+$/m);
    expect(sha(image)).toBe(before);
  });

  it('refuses before the card\'s files when the used part of the data partition cannot fit: exit 77', () => {
    const small12 = disk('twelve', '12m');
    const r = cli(['image', image, '--out', join(small12, 'card.img'), '--verbose']);
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toMatch(/has [\d.]+ MiB free; the image needs at least [\d.]+ MiB: the [\d.]+ MiB in use on the card's data partition not yet copied, and room for the map/);
    expect(r.stderr).toMatch(/code: NOT_ENOUGH_SPACE/);
    // Nothing past the metadata the check needed: the configuration is not in the image yet.
    const phases = readFileSync(join(small12, 'card.img.map'), 'utf8').split('\n').filter((l) => /^0x\S+ +0x\S+ +\+/.test(l));
    const rescued = phases.reduce((n, l) => n + Number(l.split(/ +/)[1]), 0);
    expect(rescued).toBeLessThan(4 * 1024 * 1024);
    expect(sha(image)).toBe(before);
  });

  it('a disk that fills with the card\'s free space: the copy ends without it, every file in the image (exit 0)', () => {
    makeDirty();
    const dirtyBefore = sha(dirty);
    const mid = disk('twenty', '20m');
    const out = join(mid, 'card.img');
    for (const run of ['first', 'again']) {
      const r = cli(['image', dirty, '--out', out]);
      expect(r.code, `${run}: ${r.stderr}`).toBe(0);
      expect(r.text).toMatch(/rescued ([\d.]+ MiB) of \1 \(the used blocks; free blocks left out\)/);
      expect(r.text).toMatch(/The free space of the card's data partition was left out: the disk holding .* is full \([\d.]+ MiB left, kept for the bad-sector map\)\. It holds no files/);
    }
    const info = cli(['info', out]);
    expect(info.text).toMatch(/whole +\/supervisor\/homeassistant\/\.storage\/auth$/m);
    expect(cli(['cat', out, '/supervisor/homeassistant/.storage/auth']).stdout.equals(cli(['cat', dirty, '/supervisor/homeassistant/.storage/auth']).stdout)).toBe(true);
    expect(sha(dirty)).toBe(dirtyBefore);
  });
});

// Output folders that cannot be made: a file in the way (was exit 70, "internal error: EEXIST"), and a place
// where mkdir answers ENOENT under a folder that exists (/proc), where Node's recursive mkdir never returns.
describe('an output folder that cannot be made', () => {
  const before = sha(image);
  const aFile = join(work, 'a-file');
  writeFileSync(aFile, 'not a folder');

  it.each([
    ['backup extract', ['backup', 'extract', image, '--out', aFile]],
    ['backup extract (below a file)', ['backup', 'extract', image, '--out', join(aFile, 'sub')]],
    ['export', ['export', image, '--out', join(aFile, 'sub')]],
  ])('%s onto a file: exit 64, said as such', (_what, args) => {
    const r = cli([...args, '--verbose']);
    expect(r.code, r.stderr).toBe(64);
    expect(r.stderr).toMatch(/cannot be a folder: it, or a folder above it, is a file/);
    expect(r.stderr).toMatch(/code: OUT_NOT_A_FOLDER/);
    expect(readFileSync(aFile, 'utf8')).toBe('not a folder');
  });

  it('put saving originals below a file: exit 74 before anything is written to the card', () => {
    const card = join(work, 'put-card.img');
    writeFileSync(card, readFileSync(image));
    const r = cli(['put', card, aFile, '/supervisor/homeassistant/configuration.yaml', '--originals', join(aFile, 'o'), '--yes']);
    expect(r.code, r.stderr).toBe(74);
    expect(r.stderr).toMatch(/cannot save the original files to .*: .* is a file\nhint: choose a writable folder for them; nothing was written to the card \(add --originals DIR\)/);
    expect(sha(card)).toBe(before);
  });

  // The copy of the 1 MiB recorder database fills the 256 KiB disk: the part copied was left behind, and
  // the same command, with room made, refused the folder as "already holds saved originals".
  it('rm whose originals fill the disk: exit 74, the card untouched, the copies taken back; the same command goes through later', () => {
    const card = join(work, 'rm-card.img');
    writeFileSync(card, readFileSync(image));
    const cardBefore = sha(card);
    const orig = join(small, 'originals');
    const args = ['rm', card, '/supervisor/homeassistant/home-assistant_v2.db', '--originals', orig, '--yes'];
    const r = cli(args);
    expect(r.code, r.stderr).toBe(74);
    expect(r.stderr).toMatch(/^hint: choose a folder with room for the copies, or leave them out; nothing was written to the card/m);
    expect(sha(card)).toBe(cardBefore);
    expect(readdirSync(small)).toEqual([]);
    const roomy = join(work, 'rm-originals');
    const again = cli([...args.slice(0, 3), '--originals', roomy, '--yes']);
    expect(again.code, again.stderr).toBe(0);
    // The database with SQLite's own files beside it (removed with it).
    expect(readdirSync(roomy).sort()).toEqual(['manifest.json', 'supervisor__homeassistant__home-assistant_v2.db', 'supervisor__homeassistant__home-assistant_v2.db-shm', 'supervisor__homeassistant__home-assistant_v2.db-wal']);
  });

  it.skipIf(process.platform !== 'linux')('a folder mkdir cannot make (/proc/...): the command ends with the reason', () => {
    for (const args of [['backup', 'extract', image, '--out', '/proc/haos-rescue-x'], ['export', image, '--out', '/proc/haos-rescue-x']]) {
      const r = spawnSync(process.execPath, [CLI, ...args], { timeout: 30_000, encoding: 'utf8' });
      expect(r.signal, `${args[0]} did not end`).toBeNull();
      // Said as a place that takes no files (it was a raw "writing to … failed: ENOENT", exit 74).
      expect(r.status, r.stderr).toBe(64);
      expect(r.stderr).toMatch(/\/proc\/haos-rescue-x cannot be created: its folder takes no new files there, or was removed/);
    }
  });
});

// With --force an existing output is replaced: never when it is the image being read (the only copy).
describe('the image being read as the output', () => {
  it.each([
    ['export to a .tar', (img: string) => ['export', img, '--out', img, '--force']],
    ['backup create', (img: string) => ['backup', 'create', img, '--no-encrypt', '--out', img, '--force']],
    ['backup extract', (img: string) => ['backup', 'extract', img, '--out', join(img, '..'), '--force']],
  ])('%s onto it is refused even with --force: exit 64, the image unchanged', (_what, args) => {
    const dir = join(work, `as-output-${_what.replace(/\W+/g, '-')}`);
    mkdirSync(dir);
    // Named as its output would be: a .tar, or the name of a backup on the card.
    const img = join(dir, 'backup_example.tar');
    writeFileSync(img, readFileSync(image));
    const r = cli([...args(img), '--verbose']);
    expect(r.code, r.stderr).toBe(64);
    expect(r.stderr).toMatch(/error: the output .*backup_example\.tar is the image being read/);
    expect(r.stderr).toMatch(/code: OUTPUT_IS_SOURCE/);
    expect(sha(img)).toBe(sha(image));
  });
});


describe('an output in a folder that does not exist yet', () => {
  it('export to a .tar(.gz) and backup create make the folders, as a folder export does (they failed: ENOENT, exit 74)', () => {
    for (const [args, out] of [[['export', image], join(work, 'new', 'a', 'config.tar.gz')], [['backup', 'create', image], join(work, 'new', 'b', 'rescued.tar')]] as const) {
      const r = cli([...args, '--out', out]);
      expect(r.code, r.stderr).toBe(0);
      expect(readFileSync(out).length).toBeGreaterThan(0);
    }
  });

  it('a file where a folder on the way should be: exit 64 saying so (was exit 74 "failed: ENOTDIR")', () => {
    writeFileSync(join(work, 'plain-file'), 'x');
    const r = cli(['export', image, '--out', join(work, 'plain-file', 'config.tar'), '--verbose']);
    expect(r.code, r.stderr).toBe(64);
    expect(r.stderr).toMatch(/a folder on its way is a file/);
    expect(readFileSync(join(work, 'plain-file'), 'utf8')).toBe('x');
  });
});

// Replacing an earlier copy where a folder stands at a file's name: "writing to OUT failed: EEXIST" (or
// EISDIR), naming nothing, and backup extract left its copy behind as NAME.partial-PID.
describe('a folder in the way of a file being replaced', () => {
  it('export and backup extract name it and say what to do (exit 64); nothing unfinished is left', () => {
    const ex = join(work, 'in-the-way-export');
    mkdirSync(join(ex, 'secrets.yaml'), { recursive: true });
    const r = cli(['export', image, '--out', ex, '--force']);
    expect(r.code, r.stderr).toBe(64);
    expect(r.stderr).toContain(`error: ${join(ex, 'secrets.yaml')} is in the way: a folder of that name is already there, where the copy puts another kind`);
    expect(r.stderr).toMatch(/^hint: move \S+secrets\.yaml aside \(or remove it\), or choose a new folder; the card was not changed/m);
    const bk = join(work, 'in-the-way-backup');
    mkdirSync(join(bk, 'backup_example.tar'), { recursive: true });
    const b = cli(['backup', 'extract', image, '--slug', '7fed74c8', '--out', bk, '--force']);
    expect(b.code, b.stderr).toBe(64);
    expect(b.stderr).toContain(`error: ${join(bk, 'backup_example.tar')} is in the way: a folder of that name is already there`);
    expect(readdirSync(bk)).toEqual(['backup_example.tar']);
  });
});

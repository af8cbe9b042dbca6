// backup extract through the CLI: bytes equal debugfs dump, no overwrite without --force, a damaged backup
// reported while the others are copied (exit 65).

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BACKUPS, SAMPLE, readSampleImage } from '../../fixtures/index.js';
import { CLI, cli, cliJson } from '../helpers/cli.js';
import { HA_CORPUS } from '../helpers/corpus.js';
import { mkfs, mkfsConfigNoBackups, tempDir } from '../helpers/images.js';

const work = tempDir('backup-extract-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const data = join(work, 'data.img');
writeFileSync(data, readSampleImage().subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes));
const dump = (img: string, path: string): Buffer => execFileSync('debugfs', ['-R', `cat ${path}`, img], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 28 });

describe('backup extract', () => {
  it('a backup with a hole (an image whose map says a block was not rescued): the hint names the unpacking of its files before the hole, which gives them', () => {
    const stage = join(work, 'hole-stage');
    mkdirSync(join(stage, 'supervisor', 'backup'), { recursive: true });
    // A plain backup of 1 KiB, then 2 MiB that do not compress, in its homeassistant archive.
    execFileSync('python3', ['-c', `
import io, json, os, sys, tarfile
inner = io.BytesIO()
with tarfile.open(fileobj=inner, mode="w:gz") as t:
    for name, data in (("data/first.yaml", b"first: 1\\n" * 100), ("data/big.bin", os.urandom(2 << 20))):
        ti = tarfile.TarInfo(name); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
meta = json.dumps({"slug": "b1b1b1b1", "name": "hole", "date": "2026-01-01T00:00:00+00:00", "type": "partial", "folders": [], "homeassistant": {"version": "2025.1.0"}, "protected": False}).encode()
with tarfile.open(sys.argv[1], "w") as o:
    for name, data in (("homeassistant.tar.gz", inner.getvalue()), ("./backup.json", meta)):
        ti = tarfile.TarInfo(name); ti.size = len(data); o.addfile(ti, io.BytesIO(data))
`, join(stage, 'supervisor', 'backup', 'hole.tar')]);
    const img = join(work, 'hole.img');
    mkfs(img, stage, { sizeMiB: 16, blockSize: 4096 });
    // The 300th block of the backup (inside big.bin) never rescued: zeros in the image, '-' in its map.
    const at = Number(execFileSync('debugfs', ['-R', 'bmap /supervisor/backup/hole.tar 300', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()) * 4096;
    const size = statSync(img).size;
    const bytes = readFileSync(img);
    bytes.fill(0, at, at + 4096);
    writeFileSync(img, bytes);
    const hex = (n: number): string => `0x${n.toString(16)}`;
    writeFileSync(`${img}.map`, `# Mapfile\n${hex(0)} + 1\n${hex(0)} ${hex(at)} +\n${hex(at)} ${hex(4096)} -\n${hex(at + 4096)} ${hex(size - at - 4096)} +\n`);
    const r = cli(['backup', 'extract', img, '--out', join(work, 'hole-out')]);
    expect(r.code, r.stderr).toBe(65);
    expect(r.stderr).toContain(`; the files of a backup before its unreadable part can still be unpacked: haos-rescue backup extract ${img} --slug b1b1b1b1 --decrypt --out FOLDER\n`);
    const unpacked = join(work, 'hole-unpacked');
    const u = cli(['backup', 'extract', img, '--slug', 'b1b1b1b1', '--decrypt', '--out', unpacked]);
    expect(u.code).toBe(65);
    expect(readFileSync(join(unpacked, 'homeassistant', 'data', 'first.yaml'), 'utf8')).toBe('first: 1\n'.repeat(100));
  });

  it('copies every backup byte-identical to debugfs, with the sha256 it reports', () => {
    const out = join(work, 'all');
    const r = cliJson<{ extracted: Array<{ out: string; path: string; sha256: string; size: number }>; failed: unknown[] }>(['backup', 'extract', data, '--out', out]);
    expect(r.extracted).toHaveLength(BACKUPS.length);
    expect(r.failed).toEqual([]);
    for (const e of r.extracted) {
      const bytes = readFileSync(e.out);
      expect(sha(bytes)).toBe(e.sha256);
      expect(bytes.equals(dump(data, e.path))).toBe(true);
    }
    expect(readdirSync(out).sort()).toEqual(BACKUPS.map((b) => b.file).sort());
  });

  // It was "is not a disk image: it is a tar archive; a backup file is read by the backup commands" (66), to
  // someone running a backup command.
  it('a backup file given without --decrypt: said as one, with the command that unpacks it (64); nothing written', () => {
    const file = join(work, 'copied', BACKUPS[0].file);
    mkdirSync(join(work, 'copied'), { recursive: true });
    writeFileSync(file, dump(data, `/supervisor/backup/${BACKUPS[0].file}`));
    const out = join(work, 'not-made');
    const r = cli(['backup', 'extract', file, '--out', out]);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain(`error: ${file} is a backup file, not a card: without --decrypt there is nothing to copy off it`);
    expect(r.stderr).toContain(`hint: to unpack its files (decrypted): haos-rescue backup extract ${file} --decrypt --out ${out}`);
    expect(existsSync(out)).toBe(false);
    expect(cli(['backup', 'extract', file, '--decrypt', '--out', out]).code).toBe(0);
  });

  it('a card with no backups says so before making any folder (it made an empty one: "0 backup(s) copied", exit 0), and what can be done', () => {
    const img = join(work, 'no-backups.img');
    mkfsConfigNoBackups(img, join(work, 'no-backups-tree'));
    const out = join(work, 'no-backups-out');
    const r = cli(['backup', 'extract', img, '--out', out]);
    expect(r.code).toBe(66);
    expect(r.stderr).toMatch(/^error: there are no backups on this card \(its backup folder holds none\); nothing was copied$/m);
    expect(r.stderr).toContain(`(haos-rescue backup create ${img} --out backup.tar makes one from what the card holds)`);
    expect(existsSync(out)).toBe(false);
    // A filesystem without Home Assistant's data: the right disk is the question, not a backup to make.
    const plain = join(work, 'plain.img');
    mkfs(plain, null, { sizeMiB: 16 });
    const other = cli(['backup', 'extract', plain, '--out', out]);
    expect(other.code).toBe(66);
    expect(other.stderr).toMatch(/^hint: it holds no Home Assistant configuration either: is it the right disk or partition\?.*\(haos-rescue disks\)$/m);
    expect(existsSync(out)).toBe(false);
  });

  it('--slug picks one; an existing file is not replaced without --force', () => {
    const out = join(work, 'one');
    expect(cli(['backup', 'extract', data, '--out', out, '--slug', BACKUPS[1].slug]).code).toBe(0);
    expect(readdirSync(out)).toEqual([BACKUPS[1].file]);
    writeFileSync(join(out, BACKUPS[1].file), 'mine');
    expect(cli(['backup', 'extract', data, '--out', out, '--slug', BACKUPS[1].slug]).code).toBe(64);
    expect(readFileSync(join(out, BACKUPS[1].file)).toString()).toBe('mine');
    expect(cli(['backup', 'extract', data, '--out', out, '--slug', BACKUPS[1].slug, '--force']).code).toBe(0);
    expect(readFileSync(join(out, BACKUPS[1].file)).equals(dump(data, `/supervisor/backup/${BACKUPS[1].file}`))).toBe(true);
    expect(cli(['backup', 'extract', data, '--out', out, '--slug', 'feedbeef']).code).toBe(66);
    // By its file name, as `backup ls` takes it (it was "no backup with slug backup_example_enc.tar").
    const byName = join(work, 'by-name');
    expect(cli(['backup', 'extract', data, '--out', byName, '--slug', BACKUPS[1].file]).code).toBe(0);
    expect(readdirSync(byName)).toEqual([BACKUPS[1].file]);
  });

  it('run again after an interruption: the copies made are kept (not read again), the rest copied; another file in the way is refused', () => {
    const out = join(work, 'again');
    type Extracted = { extracted: Array<{ out: string; path: string; sha256: string; earlier?: true }> };
    const first = cliJson<Extracted>(['backup', 'extract', data, '--out', out]);
    const kept = first.extracted[0]!.out;
    const lost = first.extracted[1]!.out;
    // The card's times are the copy's, so a run again knows its own copies.
    const cardTime = Number(/mtime: (0x[0-9a-f]+)/.exec(execFileSync('debugfs', ['-R', `stat ${first.extracted[0]!.path}`, data], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))![1]);
    expect(Math.floor(statSync(kept).mtimeMs / 1000)).toBe(cardTime);
    rmSync(lost);
    // What a killed run leaves (its unfinished copy under a name with a process number no longer running):
    // it stayed, taking the disk's room, unsaid; a live run's is left alone.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    writeFileSync(`${lost}.partial-${dead}`, 'unfinished');
    writeFileSync(`${lost}.partial-${process.pid}`, 'live');
    const ino = statSync(kept).ino;
    const r = cli(['backup', 'extract', data, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.text).toContain(`removed ${lost}.partial-${dead}: an unfinished copy a stopped run left\n`);
    expect(existsSync(`${lost}.partial-${dead}`)).toBe(false);
    expect(existsSync(`${lost}.partial-${process.pid}`)).toBe(true);
    rmSync(`${lost}.partial-${process.pid}`);
    expect(r.text).toContain(`${kept}  `);
    expect(r.text).toMatch(/ {2}\(copied earlier: kept by its size and time, not read off the card again\)\n/);
    expect(r.text).toContain(`${first.extracted.length - 1} of the files there were copied by an earlier run (the same size and time as on the card): kept, not read again.`);
    expect(statSync(kept).ino).toBe(ino);
    expect(readFileSync(lost).equals(dump(data, first.extracted[1]!.path))).toBe(true);
    const again = cliJson<Extracted>(['backup', 'extract', data, '--out', out]);
    expect(again.extracted.map((e) => [e.sha256, e.earlier])).toEqual(first.extracted.map((e) => [e.sha256, true]));
    // The same size but another time: not a copy of this card's file.
    utimesSync(kept, new Date('2020-01-01'), new Date('2020-01-01'));
    const refused = cli(['backup', 'extract', data, '--out', out]);
    expect(refused.code).toBe(64);
    expect(refused.stderr).toContain(`error: ${kept} already exists, and is not a copy of the card's `);
  });

  it('a backup with a damaged extent tree is reported, the others are copied, exit 65', () => {
    const damaged = join(work, 'damaged.img');
    const bytes = readFileSync(data);
    const imap = execFileSync('debugfs', ['-R', `imap /supervisor/backup/${BACKUPS[0].file}`, data], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    const m = /located at block (\d+), offset 0x([0-9a-f]+)/.exec(imap)!;
    const at = Number(m[1]) * 4096 + parseInt(m[2]!, 16) + 40;
    bytes[at] = 0;
    bytes[at + 1] = 0;
    writeFileSync(damaged, bytes);
    // First as a failing card leaves it (the inode checksum stale), then with the checksum made right
    // again by debugfs, so that the extent tree itself is what the reader meets.
    for (const [name, reason] of [['stale', /inode \d+ is damaged: its checksum does not match/], ['recomputed', /corrupt extent header in inode \d+/]] as const) {
      if (name === 'recomputed') execFileSync('debugfs', ['-n', '-w', '-R', `sif /supervisor/backup/${BACKUPS[0].file} checksum calc`, damaged], { stdio: 'ignore' });
      const out = join(work, `partial-${name}`);
      const r = cli(['backup', 'extract', damaged, '--out', out]);
      expect(r.code, name).toBe(65);
      expect(r.text).toMatch(new RegExp(`could not copy /supervisor/backup/${BACKUPS[0].file}: ${reason.source}`));
      expect(readdirSync(out).sort()).toEqual(BACKUPS.slice(1).map((b) => b.file).sort());
    }
  });
});

// Each backup copied took a ring of 20 MiB of shared memory that the collector freed late: 300 small
// backups needed 2 GB, 1,000 needed 3.9 GB. Memory stays flat whatever the number of backups.
describe('many backups', () => {
  it('150 small backups are copied with the memory of a few (peak RSS under 250 MB), each whole', () => {
    const stage = join(work, 'many-stage');
    const folder = join(stage, 'supervisor', 'backup');
    mkdirSync(join(stage, 'supervisor', 'homeassistant', '.storage'), { recursive: true });
    mkdirSync(folder, { recursive: true });
    const tar = readFileSync(join(HA_CORPUS, 'supervisor_fixtures', 'backup_example.tar'));
    for (let i = 0; i < 150; i++) writeFileSync(join(folder, `backup-${String(i).padStart(3, '0')}.tar`), tar);
    const card = join(work, 'many.img');
    mkfs(card, stage, { sizeMiB: 64 });
    // The process's own peak, said by it at exit.
    const preload = join(work, 'max-rss.cjs');
    writeFileSync(preload, "process.on('exit', () => process.stderr.write(`maxrss ${process.resourceUsage().maxRSS}\\n`));\n");
    const out = join(work, 'many-out');
    const r = spawnSync(process.execPath, ['-r', preload, CLI, 'backup', 'extract', card, '--out', out], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const maxRssKb = Number(/maxrss (\d+)/.exec(r.stderr)![1]);
    expect(maxRssKb / 1024).toBeLessThan(250);
    expect(readdirSync(out)).toHaveLength(150);
    for (const name of readdirSync(out)) expect(readFileSync(join(out, name)).equals(tar), name).toBe(true);
  });
});

describe('output names', () => {
  it('two backups are never written to one file: a prefixed name that is another backup\'s, names that differ in case', () => {
    const stage = join(work, 'names-stage');
    const fixture = (name: string): Buffer => readFileSync(join(HA_CORPUS, 'supervisor_fixtures', name));
    const [plain, enc] = [fixture('backup_example.tar'), fixture('backup_example_enc.tar')];
    const other = readFileSync(join(HA_CORPUS, 'librun_ha-backup-tool_test_data', 'test_unprotected.tar'));
    mkdirSync(join(stage, 'supervisor', 'core', 'backup'), { recursive: true });
    mkdirSync(join(stage, 'supervisor', 'backup'), { recursive: true });
    // x.tar in two folders is prefixed with the folder: supervisor_backup_x.tar, which is a third backup's name.
    writeFileSync(join(stage, 'supervisor', 'backup', 'x.tar'), plain);
    writeFileSync(join(stage, 'supervisor', 'core', 'backup', 'x.tar'), enc);
    writeFileSync(join(stage, 'supervisor', 'backup', 'supervisor_core_backup_x.tar'), other);
    // The same name but for case: one file on Windows and macOS disks.
    writeFileSync(join(stage, 'supervisor', 'backup', 'Case.tar'), plain);
    writeFileSync(join(stage, 'supervisor', 'backup', 'case.tar'), enc);
    const card = join(work, 'names.img');
    mkfs(card, stage, { sizeMiB: 32 });
    const out = join(work, 'names-out');
    const r = cliJson<{ extracted: Array<{ out: string; path: string }> }>(['backup', 'extract', card, '--out', out]);
    expect(r.extracted).toHaveLength(5);
    const outs = r.extracted.map((e) => e.out.toLowerCase());
    expect(new Set(outs).size).toBe(5);
    expect(readdirSync(out)).toHaveLength(5);
    for (const e of r.extracted) expect(readFileSync(e.out).equals(dump(card, e.path)), e.path).toBe(true);
    // One --slug at a time into one folder: each file named as the whole copy names it. The second x.tar was
    // refused as "exists … add --force", and --force replaced the first backup's copy with it.
    const one = join(work, 'names-one');
    // (Backups copied from one fixture share its slug: --slug takes each of them.)
    for (const slug of new Set(cliJson<Array<{ slug: string }>>(['backup', 'list', card]).map((b) => b.slug))) {
      const each = cli(['backup', 'extract', card, '--slug', slug, '--out', one]);
      expect(each.code, `${slug} ${each.stderr}`).toBe(0);
    }
    expect(readdirSync(one).sort()).toEqual(readdirSync(out).sort());
    for (const e of r.extracted) expect(readFileSync(join(one, e.out.slice(out.length + 1))).equals(dump(card, e.path)), e.path).toBe(true);
  });
});

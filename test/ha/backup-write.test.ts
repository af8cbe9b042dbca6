// The pieces of a new backup: tar headers Python's tarfile and GNU tar read (also past 8 GiB), the
// Supervisor's exclusion globs with PurePath.full_match semantics, the slug, and the SecureTar version.

import { execFileSync } from 'node:child_process';
import { closeSync, ftruncateSync, openSync, rmSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CONFIG_EXCLUDES, DATABASE_EXCLUDES, OuterTarWriter, backupSlug, globMatcher, pythonIsoDate, secureTarVersionFor, ustarHeader } from '../../src/ha/backup-write.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('backup-write-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const py = (code: string, ...args: string[]): string => execFileSync('python3', ['-c', code, ...args], { encoding: 'utf8' }).trim();

describe('outer tar', () => {
  it('members written by OuterTarWriter (a streamed one with its size patched) read back with Python and GNU tar', async () => {
    const path = join(work, 'outer.tar');
    const fh = await open(path, 'w');
    const tar = new OuterTarWriter(fh, 1_700_000_000);
    async function* body(): AsyncGenerator<Buffer> {
      yield Buffer.from('SecureTar\x02 placeholder ');
      yield Buffer.alloc(1000, 0x61);
    }
    const size = await tar.addStream('homeassistant.tar.gz', body(), () => ({ offset: 10, bytes: Buffer.from('P') }));
    await tar.addFile('./backup.json', Buffer.from('{"slug":"x"}'));
    await tar.finish();
    await fh.close();
    expect(size).toBe(1023);
    const listed = py('import sys,tarfile\nt=tarfile.open(sys.argv[1],"r:")\nprint(";".join(f"{m.name}:{m.size}:{m.mtime}" for m in t))', path);
    expect(listed).toBe('homeassistant.tar.gz:1023:1700000000;./backup.json:12:1700000000');
    const member = execFileSync('tar', ['-xOf', path, 'homeassistant.tar.gz']);
    expect(member.subarray(0, 12).toString()).toBe('SecureTar\x02Pp');
    expect(execFileSync('tar', ['-xOf', path, './backup.json'], { encoding: 'utf8' })).toBe('{"slug":"x"}');
    expect(execFileSync('stat', ['-c', '%s', path], { encoding: 'utf8' }).trim()).toBe('10240');
  });

  it('a member of 9 GiB gets a base-256 size that Python tarfile reads', () => {
    const path = join(work, 'big.tar');
    const size = 9 * 1024 ** 3 + 5;
    const fd = openSync(path, 'w');
    writeSync(fd, ustarHeader({ name: 'media.tar.gz', size, mode: 0o644, mtime: 0, type: '0' }));
    ftruncateSync(fd, 512 + Math.ceil(size / 512) * 512 + 1024);
    closeSync(fd);
    expect(py('import sys,tarfile\nt=tarfile.open(sys.argv[1],"r:")\nm=t.next()\nprint(m.name, m.size)', path)).toBe(`media.tar.gz ${size}`);
  });
});

describe('Supervisor exclusions (full_match on data/<path>)', () => {
  const excluded = globMatcher(CONFIG_EXCLUDES);
  it.each([
    ['home-assistant.log', true],
    ['home-assistant.log.1', true],
    ['logs/home-assistant.log', false], // '*' does not cross '/'
    ['custom_components/x/__pycache__/a.pyc', true],
    ['__pycache__/a.pyc', true], // '**' may be no folder at all
    ['a/b/c/.DS_Store', true],
    ['.storage/auth.corrupt.2024', true],
    ['home-assistant_v2.db-shm', true],
    ['tts/hello.mp3', true],
    ['tts', false],
    ['tts/sub/deeper.mp3', false], // the folder tts/sub is left out, so this is never reached
    ['backups/x.tar', true],
    ['backups/x.tar.gz', false],
    ['configuration.yaml', false],
    ['home-assistant_v2.db', false],
  ])('%s → %s', (path, want) => {
    expect(excluded(path)).toBe(want);
  });

  it('the database only with --exclude-db', () => {
    const db = globMatcher(DATABASE_EXCLUDES);
    expect(db('home-assistant_v2.db')).toBe(true);
    expect(db('home-assistant_v2.db-wal')).toBe(true);
    expect(db('home-assistant_v12.db')).toBe(false);
    expect(db('sub/home-assistant_v2.db')).toBe(false);
  });

  const hasFullMatch = py('import pathlib\nprint(hasattr(pathlib.PurePath, "full_match"))') === 'True';
  it.skipIf(!hasFullMatch)('agrees with PurePath.full_match (Python 3.13+; skipped with an older python3)', () => {
    const paths = ['home-assistant.log', 'a/__pycache__/b', '__pycache__/b', 'x/.DS_Store', 'tts/a', 'tts/a/b', 'backups/a.tar', 'a.log.1', 'b/a.log'];
    const pyOut = py(`import json,sys,pathlib\npats=json.loads(sys.argv[1])\nprint(json.dumps([any(pathlib.PurePath("data/"+p).full_match("data/"+g) for g in pats) for p in json.loads(sys.argv[2])]))`, JSON.stringify(CONFIG_EXCLUDES), JSON.stringify(paths));
    expect(paths.map((p) => excluded(p))).toEqual(JSON.parse(pyOut));
  });
});

describe('backup.json values', () => {
  it('slug and date as the Supervisor makes them', () => {
    const date = pythonIsoDate(new Date('2024-11-21T17:58:38.135Z'));
    expect(date).toBe('2024-11-21T17:58:38.135000+00:00');
    const want = py('import hashlib,sys\nprint(hashlib.sha1(f"{sys.argv[1]} - {sys.argv[2]}".lower().encode()).hexdigest()[:8])', date, 'My Backup');
    expect(backupSlug('My Backup', date)).toBe(want);
  });

  it('SecureTar v3 from Home Assistant 2026.3.0 on, v2 before', () => {
    expect(secureTarVersionFor('2026.2.9')).toBe(2);
    expect(secureTarVersionFor('2026.3.0')).toBe(3);
    expect(secureTarVersionFor('2027.1.0')).toBe(3);
    expect(secureTarVersionFor('2025.5.3')).toBe(2);
    expect(secureTarVersionFor('landingpage')).toBe(2);
  });
});

// SQLite's own files beside the recorder's database (its -wal and -shm) in `put` and `mv`, checked with
// SQLite itself (Python's sqlite3): a database put in place of one whose write-ahead log was left beside it
// was read by SQLite with that log applied, "database disk image is malformed"; a database set aside by `mv`
// without its log lost its newest rows, and the log stayed beside the name Home Assistant makes a new one at.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { mkfs, tempDir } from '../helpers/images.js';

const work = tempDir('sqlite-companions-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const HA = '/supervisor/homeassistant';
const DB = `${HA}/home-assistant_v2.db`;
const hasSqlite = spawnSync('python3', ['-c', 'import sqlite3']).status === 0;

/** A database in WAL mode whose newest 500 rows are only in its -wal (copied while the writer holds it open). */
const WAL_DB = `
import shutil, sqlite3, sys
folder = sys.argv[1]
c = sqlite3.connect(folder + '/live.db')
c.execute('pragma journal_mode=wal'); c.execute('pragma wal_autocheckpoint=0')
c.execute('create table states (id integer primary key, v text)')
c.execute('insert into states (v) select hex(randomblob(64)) from (with recursive n(i) as (select 1 union all select i + 1 from n where i < 2000) select i from n)')
c.commit()
c.execute('pragma wal_checkpoint(truncate)')
c.execute('insert into states (v) select hex(randomblob(64)) from (with recursive n(i) as (select 1 union all select i + 1 from n where i < 500) select i from n)')
c.commit()
for s in ['', '-wal', '-shm']: shutil.copyfile(folder + '/live.db' + s, folder + '/home-assistant_v2.db' + s)
c.close()
`;

/** What SQLite says of the database at `path` (with whatever -wal lies beside it): its check and its rows. */
function sqliteSays(path: string): string {
  const r = spawnSync('python3', ['-c', `import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
print(c.execute('pragma integrity_check').fetchone()[0], c.execute('select count(*) from states').fetchone()[0])`, path], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : r.stderr.trim().split('\n').pop()!;
}

/** The files of `names` on the card copied into a new local folder `dir`, under the same names. */
function copyOff(card: string, dir: string, names: string[]): void {
  mkdirSync(dir, { recursive: true });
  for (const n of names) writeFileSync(join(dir, n), cli(['cat', card, `${HA}/${n}`]).stdout);
}

const ls = (card: string): string[] => (JSON.parse(cli(['ls', card, HA, '--json']).text) as Array<{ name: string }>).map((e) => e.name);

describe.skipIf(!hasSqlite)('SQLite\'s -wal and -shm in put and mv', () => {
  let stage: string;
  beforeAll(() => {
    stage = join(work, 'stage');
    mkdirSync(join(stage, 'supervisor', 'homeassistant'), { recursive: true });
    execFileSync('python3', ['-c', WAL_DB, join(stage, 'supervisor', 'homeassistant')]);
    rmSync(join(stage, 'supervisor', 'homeassistant', 'live.db'));
    for (const s of ['-wal', '-shm']) rmSync(join(stage, 'supervisor', 'homeassistant', `live.db${s}`), { force: true });
    // The card's database as SQLite reads it (a copy: SQLite folds the log in and deletes it when it closes the
    // database): all 2,500 rows, 500 of them only in the log.
    const check = join(work, 'stage-check');
    mkdirSync(check);
    for (const s of ['', '-wal', '-shm']) execFileSync('cp', [join(stage, 'supervisor', 'homeassistant', `home-assistant_v2.db${s}`), join(check, `c.db${s}`)]);
    execFileSync('cp', [join(stage, 'supervisor', 'homeassistant', 'home-assistant_v2.db'), join(check, 'alone.db')]);
    expect(sqliteSays(join(check, 'c.db'))).toBe('ok 2500');
    expect(sqliteSays(join(check, 'alone.db'))).toBe('ok 2000');
  });

  it('put of a database removes the old one\'s -wal and -shm first (saved): SQLite reads the new one whole', () => {
    const card = join(work, 'put.img');
    mkfs(card, stage, { sizeMiB: 32 });
    const good = join(work, 'good', 'home-assistant_v2.db');
    mkdirSync(join(work, 'good'), { recursive: true });
    execFileSync('python3', ['-c', `import sqlite3, sys
c = sqlite3.connect(sys.argv[1]); c.execute('create table states (id integer primary key, v text)')
c.executemany('insert into states (v) values (?)', [('restored',)] * 10); c.commit(); c.close()`, good]);
    const saved = join(work, 'put-originals');
    const r = cli(['put', card, good, DB, '--originals', saved]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.text).toContain(`  removed ${DB}-wal: SQLite's own file of the database it replaced; left beside the new one, it would damage it (saved with the others)`);
    expect(ls(card).filter((n) => n.startsWith('home-assistant_v2'))).toEqual(['home-assistant_v2.db']);
    copyOff(card, join(work, 'put-out'), ['home-assistant_v2.db']);
    expect(sqliteSays(join(work, 'put-out', 'home-assistant_v2.db'))).toBe('ok 10');
    expect(spawnSync('e2fsck', ['-fn', card]).status).toBe(0);
    // The old database with its log, as saved, still reads whole.
    const names = ['', '-wal', '-shm'].map((s) => `supervisor__homeassistant__home-assistant_v2.db${s}`);
    mkdirSync(join(work, 'put-old'));
    for (const [i, n] of names.entries()) execFileSync('cp', [join(saved, n), join(work, 'put-old', `old.db${['', '-wal', '-shm'][i]}`)]);
    expect(sqliteSays(join(work, 'put-old', 'old.db'))).toBe('ok 2500');
  });

  it('mv of a database takes its -wal and -shm along: set aside, it keeps its newest rows, and none stay behind', () => {
    const card = join(work, 'mv.img');
    mkfs(card, stage, { sizeMiB: 32 });
    const r = cli(['mv', card, DB, `${DB}.corrupt`, '--no-originals']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.text).toContain(`  moved ${DB}-wal to ${DB}.corrupt-wal: SQLite's own file of the database, which goes with it`);
    expect(ls(card).filter((n) => n.startsWith('home-assistant_v2')).sort()).toEqual(['home-assistant_v2.db.corrupt', 'home-assistant_v2.db.corrupt-shm', 'home-assistant_v2.db.corrupt-wal']);
    copyOff(card, join(work, 'mv-out'), ['home-assistant_v2.db.corrupt', 'home-assistant_v2.db.corrupt-wal', 'home-assistant_v2.db.corrupt-shm']);
    expect(sqliteSays(join(work, 'mv-out', 'home-assistant_v2.db.corrupt'))).toBe('ok 2500');
    // And back, with --dry-run first: said, nothing written.
    const dry = cli(['mv', card, `${DB}.corrupt`, DB, '--dry-run']);
    expect(dry.text).toContain(`  would move ${DB}.corrupt-wal to ${DB}-wal`);
    expect(cli(['mv', card, `${DB}.corrupt`, DB, '--no-originals']).code).toBe(0);
    copyOff(card, join(work, 'mv-back'), ['home-assistant_v2.db', 'home-assistant_v2.db-wal', 'home-assistant_v2.db-shm']);
    expect(sqliteSays(join(work, 'mv-back', 'home-assistant_v2.db'))).toBe('ok 2500');
    expect(spawnSync('e2fsck', ['-fn', card]).status).toBe(0);
  });

  it('mv of a database onto one with a -wal of its own: that one removed, the moved one\'s takes its name (it was "internal error: … -wal is still there")', () => {
    const both = join(work, 'stage-both');
    const ha = join(both, 'supervisor', 'homeassistant');
    mkdirSync(ha, { recursive: true });
    for (const s of ['', '-wal', '-shm']) execFileSync('cp', [join(stage, 'supervisor', 'homeassistant', `home-assistant_v2.db${s}`), join(ha, `old.db${s}`)]);
    // The database in place has a log that is not the moved one's: left beside it, SQLite would not read its rows.
    execFileSync('cp', [join(stage, 'supervisor', 'homeassistant', 'home-assistant_v2.db'), join(ha, 'home-assistant_v2.db')]);
    writeFileSync(join(ha, 'home-assistant_v2.db-wal'), Buffer.alloc(8192, 0x5a));
    const card = join(work, 'mv-onto.img');
    mkfs(card, both, { sizeMiB: 32 });
    const r = cli(['mv', card, `${HA}/old.db`, DB, '--force', '--no-originals']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.text).toContain(`  removed ${DB}-wal: SQLite's own file of the database that had that name`);
    expect(r.text).toContain(`  moved ${HA}/old.db-wal to ${DB}-wal`);
    expect(ls(card).filter((n) => n.includes('.db')).sort()).toEqual(['home-assistant_v2.db', 'home-assistant_v2.db-shm', 'home-assistant_v2.db-wal']);
    copyOff(card, join(work, 'mv-onto-out'), ['home-assistant_v2.db', 'home-assistant_v2.db-wal', 'home-assistant_v2.db-shm']);
    expect(sqliteSays(join(work, 'mv-onto-out', 'home-assistant_v2.db'))).toBe('ok 2500');
    expect(spawnSync('e2fsck', ['-fn', card]).status).toBe(0);
  });
});

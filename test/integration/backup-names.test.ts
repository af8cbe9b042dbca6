// Member names of a backup that are not UTF-8 (a Latin-1 computer's files; GNU tar and PAX hdrcharset=BINARY
// keep the bytes): each such byte stands as \xNN, in `backup ls`, `backup cat` and the names `backup extract`
// writes. They became U+FFFD, so café and cafè in Latin-1 were one file, the second over the first, without a
// word. The archives are made by Python's tarfile (the Supervisor's own tar writer) with surrogateescape.

import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { mkfs, tempDir } from '../helpers/images.js';

const work = tempDir('backup-names-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Python that makes the tar in `b` a plain Supervisor backup's homeassistant archive, written to sys.argv[1]. */
function wrapped(slug: string, name: string): string {
  return `v = gzip.compress(b.getvalue())
meta = {"slug": "${slug}", "version": 2, "name": "${name}", "date": "2025-06-01T12:00:00+00:00", "type": "partial", "supervisor_version": "2026.03.1", "extra": {},
        "homeassistant": {"version": "2025.5.3", "exclude_database": False, "size": 0.0}, "compressed": True, "protected": False, "folders": [], "addons": [], "repositories": []}
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    for n, d in [("homeassistant.tar.gz", v), ("./backup.json", json.dumps(meta).encode())]:
        i = tarfile.TarInfo(n); i.size = len(d); t.addfile(i, io.BytesIO(d))
`;
}

/** A plain Supervisor backup whose homeassistant archive (tar `format`) holds `files`: name → content. */
function backupWith(name: string, format: 'GNU_FORMAT' | 'PAX_FORMAT', slug = 'e0e0e0e0'): string {
  const out = join(work, name);
  const py = `
import io, json, gzip, sys, tarfile
b = io.BytesIO()
with tarfile.open(fileobj=b, mode="w", format=tarfile.${format}, encoding="utf-8", errors="surrogateescape") as t:
    for n, d in [("data/caf\\udce9.txt", b"FIRST e-acute\\n"), ("data/caf\\udce8.txt", b"SECOND e-grave\\n"), ("data/" + "L" * 300 + ".txt", b"long\\n")]:
        i = tarfile.TarInfo(n); i.size = len(d); i.mtime = 1700000000; t.addfile(i, io.BytesIO(d))
${wrapped(slug, 'names')}`;
  execFileSync('python3', ['-c', py, out]);
  return out;
}

describe('backup member names that are not UTF-8', () => {
  for (const format of ['GNU_FORMAT', 'PAX_FORMAT'] as const) {
    it(`${format}: two names differing in a Latin-1 byte stay two files, said as written with \\xNN; cat finds each`, () => {
      const backup = backupWith(`${format}.tar`, format);
      const out = join(work, `out-${format}`);
      const r = cli(['backup', 'extract', backup, '--decrypt', '--out', out]);
      const data = join(out, 'homeassistant', 'data');
      expect(readFileSync(join(data, 'caf\\xe9.txt'), 'utf8')).toBe('FIRST e-acute\n');
      expect(readFileSync(join(data, 'caf\\xe8.txt'), 'utf8')).toBe('SECOND e-grave\n');
      expect(readdirSync(data).filter((n) => n.startsWith('caf'))).toHaveLength(2);
      expect(r.text).toMatch(/renamed homeassistant\/data\/caf\\xe9\.txt -> .*: its stored name is not UTF-8/);
      // The name too long for this disk: refused, with the way to it (it was "would have been written outside").
      expect(r.code).toBe(65);
      expect(r.text).toMatch(/not written: homeassistant\/data\/L+\.txt: could not be written here \(ENAMETOOLONG\)/);
      expect(r.stderr).toMatch(/hint: a member this computer's disk cannot hold .*backup cat/);
      expect(r.stderr).not.toMatch(/outside the folder/);
      const cat = cli(['backup', 'cat', backup, 'homeassistant/data/caf\\xe8.txt']);
      expect(cat.code, cat.stderr).toBe(0);
      expect(cat.text).toBe('SECOND e-grave\n');
    });
  }
});

// Backup files on the card: a name with the byte FF showed as "a\\xff.tar", the same text as a file named
// with those four characters; `backup list` showed the second twice, `backup extract` copied it twice and the
// first never, and its slug was "not found".
describe('two backup files on the card whose names read the same', () => {
  it('are two backups, each listed, found by its slug and copied with its own bytes', () => {
    const stage = join(work, 'stage');
    const folder = join(stage, 'supervisor', 'backup');
    mkdirSync(join(stage, 'supervisor', 'homeassistant'), { recursive: true });
    mkdirSync(folder, { recursive: true });
    const byte = backupWith('byte.tar', 'PAX_FORMAT', 'b1b1b1b1');
    const text = backupWith('text.tar', 'PAX_FORMAT', 't2t2t2t2');
    copyFileSync(byte, Buffer.concat([Buffer.from(`${folder}/a`), Buffer.from([0xff]), Buffer.from('.tar')]));
    copyFileSync(text, join(folder, 'a\\xff.tar'));
    const card = join(work, 'two-names.img');
    mkfs(card, stage, { sizeMiB: 16 });
    const list = JSON.parse(cli(['backup', 'list', card, '--json']).text) as Array<{ slug: string; path: string }>;
    expect(list.map((b) => [b.slug, b.path]).sort()).toEqual([['b1b1b1b1', '/supervisor/backup/a\\xff.tar'], ['t2t2t2t2', '/supervisor/backup/a\\x5cxff.tar']]);
    for (const [slug, original] of [['b1b1b1b1', byte], ['t2t2t2t2', text]] as const) {
      const out = join(work, `by-slug-${slug}`);
      const r = cli(['backup', 'extract', card, '--slug', slug, '--out', out]);
      expect(r.code, r.stderr).toBe(0);
      const [copied] = readdirSync(out);
      expect(readFileSync(join(out, copied!)).equals(readFileSync(original)), slug).toBe(true);
    }
    const all = join(work, 'all-two');
    expect(cli(['backup', 'extract', card, '--out', all]).code).toBe(0);
    const copies = readdirSync(all).map((n) => readFileSync(join(all, n)));
    expect(copies.filter((c) => c.equals(readFileSync(byte)))).toHaveLength(1);
    expect(copies.filter((c) => c.equals(readFileSync(text)))).toHaveLength(1);
  });
});

// Two members naming one archive (homeassistant.tar.gz and ./homeassistant.tar.gz): unpacked into one folder,
// the second's files over the first's, without a word.
describe('two archives of one backup with the same name', () => {
  it('are unpacked into two folders, the earlier renamed and said', () => {
    const out = join(work, 'dup.tar');
    const py = `
import io, json, gzip, sys, tarfile
def inner(text):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w") as t:
        i = tarfile.TarInfo("data/same.txt"); i.size = len(text); t.addfile(i, io.BytesIO(text))
    return gzip.compress(b.getvalue())
meta = {"slug": "d0d0d0d0", "version": 2, "name": "dup", "date": "2025-06-01T12:00:00+00:00", "type": "partial", "supervisor_version": "2026.03.1", "extra": {},
        "homeassistant": {"version": "2025.5.3", "exclude_database": False, "size": 0.0}, "compressed": True, "protected": False, "folders": [], "addons": [], "repositories": []}
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    for n, d in [("homeassistant.tar.gz", inner(b"FIRST\\n")), ("./homeassistant.tar.gz", inner(b"SECOND\\n")), ("./backup.json", json.dumps(meta).encode())]:
        i = tarfile.TarInfo(n); i.size = len(d); t.addfile(i, io.BytesIO(d))
`;
    execFileSync('python3', ['-c', py, out]);
    const dir = join(work, 'dup-out');
    const r = cli(['backup', 'extract', out, '--decrypt', '--out', dir]);
    expect(r.code, r.stderr).toBe(0);
    // The later is the one a restore takes (and `backup ls`/`cat` read): it has the plain name (it was ~2).
    expect(readFileSync(join(dir, 'homeassistant', 'data', 'same.txt'), 'utf8')).toBe('SECOND\n');
    expect(readFileSync(join(dir, 'homeassistant~2', 'data', 'same.txt'), 'utf8')).toBe('FIRST\n');
    expect(r.text).toMatch(/^renamed homeassistant\.tar\.gz -> homeassistant~2: the backup file holds this archive again further on, which a restore takes: that one is unpacked as homeassistant$/m);
    expect(cli(['backup', 'cat', out, 'homeassistant/data/same.txt']).text).toBe('SECOND\n');
  });
});

// A hard link to a member written under another name (a newline in its name, written as "_"): refused as "not a
// file written from this archive", where GNU tar makes the link.
describe('a hard link to a member whose name had to change', () => {
  it('is made to the file as written', () => {
    const out = join(work, 'link.tar');
    const py = `
import io, json, gzip, sys, tarfile
b = io.BytesIO()
with tarfile.open(fileobj=b, mode="w", format=tarfile.PAX_FORMAT) as t:
    i = tarfile.TarInfo("data/nl\\nname.txt"); i.size = 5; t.addfile(i, io.BytesIO(b"body\\n"))
    l = tarfile.TarInfo("data/linked.txt"); l.type = tarfile.LNKTYPE; l.linkname = "data/nl\\nname.txt"; t.addfile(l)
meta = {"slug": "l1l1l1l1", "version": 2, "name": "link", "date": "2025-06-01T12:00:00+00:00", "type": "partial", "supervisor_version": "2026.03.1", "extra": {},
        "homeassistant": {"version": "2025.5.3", "exclude_database": False, "size": 0.0}, "compressed": True, "protected": False, "folders": [], "addons": [], "repositories": []}
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    for n, d in [("homeassistant.tar.gz", gzip.compress(b.getvalue())), ("./backup.json", json.dumps(meta).encode())]:
        i = tarfile.TarInfo(n); i.size = len(d); t.addfile(i, io.BytesIO(d))
`;
    execFileSync('python3', ['-c', py, out]);
    const dir = join(work, 'link-out');
    const r = cli(['backup', 'extract', out, '--decrypt', '--out', dir]);
    expect(r.code, r.stderr + r.text).toBe(0);
    const data = join(dir, 'homeassistant', 'data');
    expect(readFileSync(join(data, 'linked.txt'), 'utf8')).toBe('body\n');
    expect(statSync(join(data, 'linked.txt')).ino).toBe(statSync(join(data, 'nl_name.txt')).ino);
  });
});

// A folder tree 1,500 deep (each folder a member, as tar writes one): every member walked its whole path again,
// folder by folder (2,000 deep took over a minute); now a member whose folder the one before made goes straight
// to its own name. Speed is not timed here; the tree must come out whole, and a link on the way still refused.
describe('a folder tree 1,500 deep', () => {
  it('is unpacked whole, the file at its bottom written; a symbolic link on the way is still refused', () => {
    const out = join(work, 'deep.tar');
    const py = `
import io, json, gzip, sys, tarfile
b = io.BytesIO()
with tarfile.open(fileobj=b, mode="w", format=tarfile.PAX_FORMAT) as t:
    for i in range(1, 1501):
        d = tarfile.TarInfo("data/" + "/".join(["d"] * i)); d.type = tarfile.DIRTYPE; d.mode = 0o755; t.addfile(d)
    f = tarfile.TarInfo("data/" + "/".join(["d"] * 1500) + "/bottom.txt"); f.size = 7; t.addfile(f, io.BytesIO(b"bottom\\n"))
    s = tarfile.TarInfo("data/d/d/link"); s.type = tarfile.SYMTYPE; s.linkname = "d"; t.addfile(s)
    f = tarfile.TarInfo("data/d/d/link/through.txt"); f.size = 2; t.addfile(f, io.BytesIO(b"x\\n"))
${wrapped('dee9dee9', 'deep')}`;
    execFileSync('python3', ['-c', py, out]);
    const dir = join(work, 'deep-out');
    const r = cli(['backup', 'extract', out, '--decrypt', '--out', dir]);
    expect(r.code, r.stderr).toBe(65);
    expect(r.text).toMatch(/homeassistant {2}1 files, 1500 folders, 1 links, 7 bytes/);
    const bottom = join(dir, 'homeassistant', 'data', ...Array<string>(1500).fill('d'), 'bottom.txt');
    expect(readFileSync(bottom, 'utf8')).toBe('bottom\n');
    expect(statSync(join(dir, 'homeassistant', 'data', 'd', 'd', 'd')).isDirectory()).toBe(true);
    expect(r.text).toMatch(/not written: homeassistant\/data\/d\/d\/link\/through\.txt: "link" on its path is a symbolic link, not a folder/);
  });
});

// Member names of a backup that are not UTF-8 (a Latin-1 computer's files; GNU tar and PAX hdrcharset=BINARY
// keep the bytes): each such byte stands as \xNN, in `backup ls`, `backup cat` and the names `backup extract`
// writes. They became U+FFFD, so café and cafè in Latin-1 were one file, the second over the first, without a
// word. The archives are made by Python's tarfile (the Supervisor's own tar writer) with surrogateescape.

import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('backup-names-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A plain Supervisor backup whose homeassistant archive (tar `format`) holds `files`: name → content. */
function backupWith(name: string, format: 'GNU_FORMAT' | 'PAX_FORMAT'): string {
  const out = join(work, name);
  const py = `
import io, json, gzip, sys, tarfile
b = io.BytesIO()
with tarfile.open(fileobj=b, mode="w", format=tarfile.${format}, encoding="utf-8", errors="surrogateescape") as t:
    for n, d in [("data/caf\\udce9.txt", b"FIRST e-acute\\n"), ("data/caf\\udce8.txt", b"SECOND e-grave\\n"), ("data/" + "L" * 300 + ".txt", b"long\\n")]:
        i = tarfile.TarInfo(n); i.size = len(d); i.mtime = 1700000000; t.addfile(i, io.BytesIO(d))
v = gzip.compress(b.getvalue())
meta = {"slug": "e0e0e0e0", "version": 2, "name": "names", "date": "2025-06-01T12:00:00+00:00", "type": "partial", "supervisor_version": "2026.03.1", "extra": {},
        "homeassistant": {"version": "2025.5.3", "exclude_database": False, "size": 0.0}, "compressed": True, "protected": False, "folders": [], "addons": [], "repositories": []}
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    for n, d in [("homeassistant.tar.gz", v), ("./backup.json", json.dumps(meta).encode())]:
        i = tarfile.TarInfo(n); i.size = len(d); t.addfile(i, io.BytesIO(d))
`;
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

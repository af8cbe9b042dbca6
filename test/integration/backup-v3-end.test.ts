// A SecureTar v3 archive whose last message lacks its FINAL tag (upstream's backup_no_final_tag fixture):
// every message authenticates and the tar inside ends whole, so every file is given back, byte for byte as
// the fixture's tar_data, and the damage is said as after the last file. The last 8 bytes (gzip's trailer)
// were held back when the stream failed: the last file lost its tail (kept as .damaged) and script.sh was
// not written at all, with "the bytes before the damage were recovered".

import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { HA_CORPUS } from '../helpers/corpus.js';
import { tempDir } from '../helpers/images.js';

const ST = join(HA_CORPUS, 'securetar_fixtures');
const backup = join(ST, 'backup_no_final_tag.tar');
const work = tempDir('backup-v3-end-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('a SecureTar v3 archive without its final tag', () => {
  it('backup extract --decrypt writes every file whole, says the damage is after the last file (exit 65)', () => {
    const out = join(work, 'out');
    const r = cli(['backup', 'extract', backup, '--decrypt', '--password', 'hunter2', '--out', out]);
    expect(r.code, r.stderr).toBe(65);
    const base = join(out, 'core_no_final_tag');
    for (const f of ['README.md', 'large_file', 'test1/script.sh']) expect(readFileSync(join(base, f)).equals(readFileSync(join(ST, 'tar_data', f))), f).toBe(true);
    expect(readdirSync(base).filter((n) => n.endsWith('.damaged'))).toEqual([]);
    expect(r.text).not.toMatch(/incomplete|kept/);
    expect(r.text).toMatch(/damaged: core_no_final_tag: .*missing final tag.*after the archive's last file/);
  });

  it('backup cat gives the whole file and says it was authenticated', () => {
    const r = cli(['backup', 'cat', backup, 'core_no_final_tag/large_file', '--password', 'hunter2']);
    expect(r.code).toBe(65);
    expect(r.stdout.equals(readFileSync(join(ST, 'tar_data', 'large_file')))).toBe(true);
    expect(r.stderr).toMatch(/written whole and authenticated, but the archive is damaged after its last file/);
    expect(r.stderr).toMatch(/hint: the file is good/);
  });
});

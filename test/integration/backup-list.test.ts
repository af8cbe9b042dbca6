// backup list through the CLI: the sample's backups with their metadata, and damaged files listed with a
// reason instead of failing the list.

import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BACKUPS, readSampleImage } from '../../fixtures/index.js';
import { cli, cliJson } from '../helpers/cli.js';
import { HA_CORPUS } from '../helpers/corpus.js';
import { mkfs, tempDir } from '../helpers/images.js';

const work = tempDir('backup-list-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('backup list', () => {
  it('lists the sample\'s backups from their backup.json', () => {
    const img = join(work, 'sample.img');
    writeFileSync(img, readSampleImage());
    const list = cliJson<Array<{ file: string; slug: string; name: string; protected: boolean; type: string; path: string }>>(['backup', 'list', img]);
    expect(list.map((b) => ({ file: b.file, slug: b.slug, name: b.name, protected: b.protected, type: b.type }))).toEqual(
      BACKUPS.map((b) => ({ file: b.file, slug: b.slug, name: b.name, protected: b.protected, type: b.type })),
    );
    expect(list[0]!.path).toBe('/supervisor/backup/backup_example.tar');
    expect(cli(['backup', 'list', img]).text).toMatch(/7fed74c8/);
  });

  it('a truncated tar, a tar without backup.json and a wrong name are listed with their reason', () => {
    const stage = join(work, 'stage');
    const dir = join(stage, 'supervisor/backup');
    mkdirSync(dir, { recursive: true });
    mkdirSync(join(stage, 'supervisor/homeassistant'), { recursive: true });
    const good = join(HA_CORPUS, 'supervisor_fixtures/backup_example.tar');
    copyFileSync(good, join(dir, 'good.tar'));
    writeFileSync(join(dir, 'cut.tar'), readFileSync(good).subarray(0, 1500));
    copyFileSync(join(HA_CORPUS, 'librun_ha-backup-tool_test_data/test_unprotected_without_json.tar'), join(dir, 'nojson.tar'));
    copyFileSync(good, join(dir, 'renamed.tar.bak'));
    // backup.json stored without './' (a third-party tool's backup): read here, not by the Supervisor. The
    // list showed it as any other backup; the warning was in --json alone.
    copyFileSync(join(HA_CORPUS, 'librun_ha-backup-tool_test_data/test_unprotected.tar'), join(dir, 'bare-json.tar'));
    const img = join(work, 'damaged.img');
    mkfs(img, stage, { sizeMiB: 16 });
    const r = cli(['backup', 'list', img, '--json']);
    expect(r.code).toBe(0);
    const byFile = new Map((JSON.parse(r.text) as Array<{ file: string; slug?: string; error?: string }>).map((b) => [b.file, b]));
    expect(byFile.get('good.tar')).toMatchObject({ slug: '7fed74c8' });
    expect(byFile.get('good.tar')!.error).toBeUndefined();
    expect(byFile.get('cut.tar')!.error).toBeTruthy();
    expect(byFile.get('nojson.tar')!.error).toMatch(/backup\.json/);
    expect(byFile.get('renamed.tar.bak')!.error).toMatch(/\.tar/);
    expect(cli(['backup', 'list', img]).text).toMatch(/Files that are not usable backups:\n(.*\n){3}/);
    expect(cli(['backup', 'list', img]).text).toMatch(/^Read here, but Home Assistant will not take them as they are:\n {2}\/supervisor\/backup\/bare-json\.tar \([^)]+\): backup\.json is stored as 'backup\.json' without '\.\/': the Supervisor would not accept this backup$/m);
  });

  it('names from the card stay on their line and in their column: a newline in a file name, a 5,000-character name, 12 slugs in a hint', () => {
    const stage = join(work, 'stage-names');
    const dir = join(stage, 'supervisor/backup');
    mkdirSync(dir, { recursive: true });
    mkdirSync(join(stage, 'supervisor/homeassistant'), { recursive: true });
    const good = join(HA_CORPUS, 'supervisor_fixtures/backup_example.tar');
    // The example backup with another slug and name in its backup.json (Python's tarfile rewrites it).
    const py = [
      'import io,json,sys,tarfile',
      'src,dst,slug,name=sys.argv[1:5]',
      'with tarfile.open(src) as a, tarfile.open(dst,"w",format=tarfile.PAX_FORMAT) as b:',
      ' for m in a.getmembers():',
      '  data=a.extractfile(m).read() if m.isfile() else None',
      '  if m.name.lstrip("./")=="backup.json":',
      '   j=json.loads(data); j["slug"]=slug; j["name"]=name; data=json.dumps(j).encode(); m.size=len(data)',
      '  b.addfile(m, io.BytesIO(data) if data is not None else None)',
    ].join('\n');
    for (let i = 0; i < 12; i++) {
      const name = i === 0 ? `long ${'x'.repeat(5000)}` : i === 1 ? 'two\nlines' : `backup ${i}`;
      execFileSync('python3', ['-c', py, good, join(dir, `b${i}.tar`), `slug${String(i).padStart(4, '0')}`, name]);
    }
    writeFileSync(join(dir, 'cut\nshort.tar'), readFileSync(good).subarray(0, 1500));
    const img = join(work, 'names.img');
    mkfs(img, stage, { sizeMiB: 32 });
    const list = cli(['backup', 'list', img]);
    expect(list.code).toBe(0);
    const lines = list.text.split('\n');
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThan(200);
    expect(list.text).toMatch(/two\\nlines/);
    expect(list.text).toMatch(/long x+… +slug0000/);
    expect(list.text).toMatch(/cut\\nshort\.tar \(/);
    // The full name stays in the JSON.
    expect(cliJson<Array<{ name?: string }>>(['backup', 'list', img]).some((b) => b.name?.length === 5005)).toBe(true);
    const missing = cli(['backup', 'extract', img, '--slug', 'nosuch', '--out', join(work, 'out-names')]);
    expect(missing.code).toBe(66);
    // The cut backup's slug could not be read: it may be the one meant, named by file.
    expect(missing.stderr).toMatch(/hint: slugs on the card: (slug\d{4}, ){7}slug\d{4} and 4 more; the slug of one backup file could not be read \(cut\\nshort\.tar\): name it by its file name \(haos-rescue backup list /);
    // An error quoting a name with a newline stays one line.
    const cut = cli(['backup', 'ls', img, 'cut\nshort.tar']);
    expect(cut.code).not.toBe(0);
    expect(cut.stderr).toMatch(/^error: .*cut\\nshort\.tar/m);
    expect(cut.stderr.split('\n').filter((l) => l !== '').every((l) => /^(error|hint|warning): /.test(l))).toBe(true);
  });
});

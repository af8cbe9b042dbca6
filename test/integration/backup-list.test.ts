// backup list through the CLI: the sample's backups with their metadata, and damaged files listed with a
// reason instead of failing the list.

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
  });
});

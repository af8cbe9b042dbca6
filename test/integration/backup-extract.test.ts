// backup extract through the CLI: bytes equal debugfs dump, no overwrite without --force, a damaged backup
// reported while the others are copied (exit 65).

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BACKUPS, SAMPLE, readSampleImage } from '../../fixtures/index.js';
import { cli, cliJson } from '../helpers/cli.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('backup-extract-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const data = join(work, 'data.img');
writeFileSync(data, readSampleImage().subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes));
const dump = (img: string, path: string): Buffer => execFileSync('debugfs', ['-R', `cat ${path}`, img], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 28 });

describe('backup extract', () => {
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

// A backup file copied off and cut short where its own check cannot say so: right after its last archive
// (before backup.json, which the Supervisor writes last), inside backup.json, or inside its first header.
// Each was "no backup.json: not a Supervisor backup" with exit 0, or disk advice ("add --offset"); each is now
// said as a cut file with exit 65 (66: no tar at all), and what is whole is still listed and unpacked.
// The backup is made from the sample card by `backup create` (unencrypted); its layout read by Python's tarfile.

import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE, readSampleImage } from '../../fixtures/index.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('backup-cut-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const whole = join(work, 'whole.tar');
let meta = { header: 0, offset: 0, size: 0 };

beforeAll(() => {
  const data = join(work, 'data.img');
  writeFileSync(data, readSampleImage().subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes));
  expect(cli(['backup', 'create', data, '--out', whole, '--no-encrypt']).code).toBe(0);
  const py = 'import json,sys,tarfile\nm=[x for x in tarfile.open(sys.argv[1]).getmembers() if x.name.endswith("backup.json")][0]\nprint(json.dumps({"header":m.offset,"offset":m.offset_data,"size":m.size}))';
  meta = JSON.parse(execFileSync('python3', ['-c', py, whole]).toString()) as typeof meta;
}, 60_000);

function cut(name: string, bytes: number): string {
  const path = join(work, name);
  writeFileSync(path, readFileSync(whole).subarray(0, bytes));
  return path;
}

describe('a backup file cut short', () => {
  it('right before backup.json, or inside it: backup ls and extract --decrypt say the cut (exit 65) and still give the archives', () => {
    const cases = [
      [cut('before-json.tar', meta.header), /ends right after \S+, without backup\.json or the end of the tar: it is cut short/],
      [cut('in-json.tar', meta.offset + Math.floor(meta.size / 2)), new RegExp(`cut short inside \\./backup\\.json: ${Math.floor(meta.size / 2)} of its ${meta.size} bytes are there`)],
    ] as const;
    for (const [file, said] of cases) {
      const ls = cli(['backup', 'ls', file]);
      expect(ls.code, ls.stderr).toBe(65);
      expect(ls.text).toMatch(said);
      expect(ls.text).toMatch(/^homeassistant /m);
      const out = join(work, `out-${file.length}`);
      const x = cli(['backup', 'extract', file, '--decrypt', '--out', out]);
      expect(x.code, x.stderr).toBe(65);
      expect(x.text).toMatch(said);
      expect(x.text).not.toMatch(/0 bytes kept/);
      expect(readFileSync(join(out, 'homeassistant', 'data', 'configuration.yaml')).length).toBeGreaterThan(0);
    }
    // The same file whole: exit 0 (a tar ending after its last member is not taken for cut when backup.json is there).
    expect(cli(['backup', 'ls', whole]).code).toBe(0);
  });

  it('inside its first header, or a file named .tar holding no tar: said so, not searched as a disk', () => {
    for (const [file, said] of [
      [cut('tiny.tar', 100), /a file of 100 bytes named \.tar: too short for a tar archive/],
      [join(work, 'junk.tar'), /a file named \.tar that holds no tar archive/],
    ] as const) {
      if (file.endsWith('junk.tar')) writeFileSync(file, Buffer.alloc(8192, 0x41));
      const r = cli(['backup', 'ls', file]);
      expect(r.code).toBe(66);
      expect(r.stderr).toMatch(said);
      expect(r.stderr).toMatch(/hint: a backup Home Assistant made starts with a tar header: this one is cut short or damaged/);
      expect(r.stderr).not.toMatch(/--offset|partition table/);
    }
  });
});

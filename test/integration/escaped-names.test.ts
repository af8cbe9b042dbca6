// Names that are not UTF-8 (written by a computer set to Latin-1), typed as `ls` shows them (`caf\xe9`):
// `rm`, `mv` and `put` act on that file, as `cat` reads it. Before, rm and mv said "is not there" and put
// made a second file named with a backslash, saying "Replaced". Oracles: debugfs and e2fsck -fn.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { mkfs, tempDir } from '../helpers/images.js';

const work = tempDir('escaped-names-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const HA = '/supervisor/homeassistant';

/** A data filesystem whose config folder holds `bad-<FF>-name` and `caf<E9>` (raw bytes). */
function card(name: string): string {
  const stage = join(work, `${name}-stage`);
  const config = join(stage, 'supervisor', 'homeassistant');
  mkdirSync(config, { recursive: true });
  writeFileSync(join(config, 'configuration.yaml'), 'default_config:\n');
  writeFileSync(Buffer.concat([Buffer.from(`${config}/bad-`), Buffer.from([0xff]), Buffer.from('-name')]), 'x\n');
  writeFileSync(Buffer.concat([Buffer.from(`${config}/caf`), Buffer.from([0xe9])]), 'y\n');
  const img = join(work, `${name}.img`);
  mkfs(img, stage, { sizeMiB: 16 });
  return img;
}

/** The names in the config folder as debugfs shows them (it writes bytes above 0x7f as M-x). */
const names = (img: string): string[] =>
  execFileSync('debugfs', ['-R', `ls -p ${HA}`, img], { encoding: 'latin1', stdio: ['ignore', 'pipe', 'ignore'] })
    .split('\n').filter((l) => l.startsWith('/')).map((l) => l.split('/')[5]!).filter((n) => n !== '.' && n !== '..').sort();
const clean = (img: string): void => expect(spawnSync('e2fsck', ['-fn', img]).status).toBe(0);

describe('names that are not UTF-8, typed as ls shows them', () => {
  it('rm removes the file (it was "not there")', () => {
    const img = card('rm');
    const r = cli(['rm', img, `${HA}/bad-\\xff-name`, '--yes', '--no-originals']);
    expect(r.code, r.stderr).toBe(0);
    expect(names(img)).toEqual(['caf\u00e9', 'configuration.yaml']);
    clean(img);
  });

  it('put replaces that file, and makes no second one named with a backslash', () => {
    const img = card('put');
    const local = join(work, 'new.txt');
    writeFileSync(local, 'new\n');
    const r = cli(['put', img, local, `${HA}/caf\\xe9`, '--yes', '--no-originals']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.text).toMatch(/Replaced/);
    expect(names(img)).toEqual(['bad-\u00ff-name', 'caf\u00e9', 'configuration.yaml']);
    expect(cli(['cat', img, `${HA}/caf\\xe9`]).text).toBe('new\n');
    clean(img);
  });

  it('mv renames it (it was "not there")', () => {
    const img = card('mv');
    const r = cli(['mv', img, `${HA}/caf\\xe9`, `${HA}/cafe`, '--yes', '--no-originals']);
    expect(r.code, r.stderr).toBe(0);
    expect(names(img)).toEqual(['bad-\u00ff-name', 'cafe', 'configuration.yaml']);
    expect(cli(['cat', img, `${HA}/cafe`]).text).toBe('y\n');
    clean(img);
  });
});

// Names on the card are the card's, not ours: a file whose name holds terminal control sequences (ESC ] to
// retitle the terminal, ESC [ to recolour or move the cursor, BEL) is listed with them shown as \xNN, never
// sent to the terminal as they are; --json keeps the name exact (JSON escapes it). The image is made by
// mkfs.ext4 -d from a folder holding such a name.

import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { visible } from '../../src/cli/visible.js';
import { cli } from '../helpers/cli.js';
import { HA_CORPUS } from '../helpers/corpus.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('terminal-safety-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const EVIL = 'evil\u001b]0;pwned\u0007\u001b[31mred\u009b2J.yaml';

describe('control characters from the card', () => {
  it('visible(): C0, DEL and C1 shown as escapes; newline, tab and other text kept', () => {
    expect(visible('a\u001b[31mb\u0007c\u007fd\u009be\n\tf ü')).toBe('a\\x1b[31mb\\x07c\\x7fd\\u009be\n\tf ü');
  });

  it('visible(): the marks that turn the text direction (U+202E and its kin) shown as escapes', () => {
    expect(visible('backup \u202eraT.exe \u2066x\u2069 \u200f')).toBe('backup \\u202eraT.exe \\u2066x\\u2069 \\u200f');
  });

  // A backup file named with a newline and a direction mark: `backup extract` wrote the newline as it is (its
  // line split in two) and the mark raw (the rest of the line shown backwards).
  it('backup extract keeps each name from the card on its line, its marks shown as escapes', () => {
    const stage = join(work, 'stage-backup');
    mkdirSync(join(stage, 'supervisor', 'backup'), { recursive: true });
    const name = 'new\nline \u202eraT.tar';
    writeFileSync(join(stage, 'supervisor', 'backup', name), readFileSync(join(HA_CORPUS, 'supervisor_fixtures', 'backup_example.tar')));
    const image = join(work, 'odd-backup.img');
    const made = spawnSync('mkfs.ext4', ['-q', '-F', '-L', 'hassos-data', '-d', stage, image, '8M'], { encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    const r = cli(['backup', 'extract', image, '--out', join(work, 'odd-out')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.text).not.toMatch(/\u202e/);
    expect(r.text).toMatch(/new\\nline \\u202eraT\.tar +\d/);
  });

  it('ls of a file named with escape sequences prints them as text; --json keeps the exact name', () => {
    const stage = join(work, 'stage');
    mkdirSync(join(stage, 'supervisor', 'homeassistant'), { recursive: true });
    writeFileSync(join(stage, 'supervisor', 'homeassistant', EVIL), 'x: 1\n');
    const image = join(work, 'evil.img');
    const made = spawnSync('mkfs.ext4', ['-q', '-F', '-L', 'hassos-data', '-d', stage, image, '8M'], { encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
    const r = cli(['ls', image, '/supervisor/homeassistant']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.text).not.toMatch(/[\u001b\u0007\u009b]/);
    expect(r.text).toContain('evil\\x1b]0;pwned\\x07\\x1b[31mred\\u009b2J.yaml');
    const json = cli(['ls', image, '/supervisor/homeassistant', '--json']);
    expect(JSON.parse(json.text)).toEqual(expect.arrayContaining([expect.objectContaining({ name: EVIL })]));
  });
});

// A newline or tab in a file name was printed as it is by ls (one file listed as two lines: a crafted name
// can fake entries), and in the ls -l, auth list and export tables (the row broken in two).
describe('a newline or tab in a name from the card', () => {
  it('ls, ls -l and the export report keep each name on its line, written as \\n and \\t', () => {
    const stage = join(work, 'stage-lines');
    const config = join(stage, 'supervisor', 'homeassistant');
    mkdirSync(config, { recursive: true });
    writeFileSync(join(config, 'fake\nsecrets.yaml'), 'a\n');
    writeFileSync(join(config, 'tab\there.yaml'), 'b\n');
    const image = join(work, 'lines.img');
    expect(spawnSync('mkfs.ext4', ['-q', '-F', '-L', 'hassos-data', '-d', stage, image, '8M']).status).toBe(0);
    const ls = cli(['ls', image, '/supervisor/homeassistant']);
    expect(ls.text.split('\n').filter(Boolean).sort()).toEqual(['fake\\nsecrets.yaml', 'tab\\there.yaml']);
    const long = cli(['ls', '-l', image, '/supervisor/homeassistant']).text.split('\n').filter(Boolean);
    expect(long).toHaveLength(2);
    expect(long.join('\n')).toMatch(/ fake\\nsecrets\.yaml$/m);
    const ex = cli(['export', image, '--out', join(work, 'lines-out')]);
    expect(ex.text).toMatch(/^ {2}\/supervisor\/homeassistant\/fake\\nsecrets\.yaml -> fake_secrets\.yaml \(/m);
  });
});

// The guided flow puts back a configuration file from one of the card's own backups (a configuration.yaml
// broken by an edit keeps Home Assistant from starting). Two backups made from the sample card by
// `backup create`, put on it: one with the card's backup key, one with a password of its own; then a broken
// configuration.yaml put over the card's. In a real terminal (tmux): the password is asked when the key does
// not open the backup (a wrong one asked again), the file put back is the backup's byte for byte, the
// broken one saved to this computer, e2fsck -fn clean; the other backup then has nothing that differs.
// Needs tmux (skipped with the reason otherwise; .ci/run installs it).

import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSampleImage } from '../../fixtures/index.js';
import { assertCardClean } from '../helpers/card.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/images.js';
import { Terminal, hasTmux } from '../helpers/terminal.js';

const work = tempDir('wizard-restore-');
const term = new Terminal();
afterAll(() => {
  term.close();
  rmSync(work, { recursive: true, force: true });
});

const CONFIG = '/supervisor/homeassistant/configuration.yaml';
const BROKEN = 'homeassistant:\n  name: [an edit that broke it\n';
/** The menu entry's place: after safe mode, the last job (Quit follows it). */
const DOWNS = 10;

function run(args: string[]): void {
  const r = cli(args);
  expect(r.code, r.stderr).toBe(0);
}

describe.skipIf(!hasTmux)(`putting back a file from a backup in the guided flow${hasTmux ? '' : ' (skipped: tmux is not installed)'}`, () => {
  it('asks for the password the card key does not open, puts the backup\'s file back whole, keeps the broken one; the other backup has nothing different', async () => {
    const image = join(work, 'card.img');
    writeFileSync(image, readSampleImage());
    const original = cli(['cat', image, CONFIG]).stdout;
    run(['backup', 'create', image, '--out', join(work, 'keyed.tar'), '--name', 'With the card key', '--exclude-db']);
    run(['put', image, join(work, 'keyed.tar'), '/supervisor/backup/keyed.tar', '--yes', '--no-originals']);
    // Made a minute later (the list is newest first): with a password of its own.
    run(['backup', 'create', image, '--out', join(work, 'own.tar'), '--name', 'Own password', '--password', 'own backup pw', '--exclude-db']);
    run(['put', image, join(work, 'own.tar'), '/supervisor/backup/own.tar', '--yes', '--no-originals']);
    writeFileSync(join(work, 'broken.yaml'), BROKEN);
    run(['put', image, join(work, 'broken.yaml'), CONFIG, '--yes', '--no-originals']);
    const home = join(work, 'home');
    term.start('restore', work, home);
    await term.openPath('restore', image);
    await term.waitFor('restore', /What do you want to do\?/);
    for (let i = 0; i < DOWNS; i++) term.keys('restore', 'Down');
    await term.waitFor('restore', /❯ Put back a configuration file from a backup/);
    term.keys('restore', 'Enter');
    const list = await term.waitFor('restore', /From which backup\?/);
    // Only the backups with Home Assistant in them (the sample's three hold folders only).
    expect(list).not.toMatch(/Example|Encrypt test/);
    await term.waitFor('restore', /❯ .* (Own password|With the card key) \([\d.]+ KiB, encrypted\)/);
    const first = /❯ .* (Own password|With the card key) /.exec(term.screen('restore'))![1];
    if (first !== 'Own password') term.keys('restore', 'Down');
    await term.waitFor('restore', /❯ .* Own password /);
    term.keys('restore', 'Enter');
    await term.waitFor('restore', /The backup key stored on the card does not open this backup: it was made with a password of its own\. That password: \(Enter alone to go back\)/, 60_000);
    term.type('restore', 'not it');
    await term.waitFor('restore', /That password does not open this backup\. Try again: \(Enter alone to go back\)/, 60_000);
    term.type('restore', 'own backup pw');
    const files = await term.waitFor('restore', /Which file should be put back\?/, 60_000);
    expect(files).toMatch(/❯ configuration\.yaml \([\d.]+ (bytes|KiB); on the card: [\d.]+ bytes, different\)/);
    expect(files).toMatch(/file\(s\) of this backup are the same as on the card and are not listed/);
    term.keys('restore', 'Enter');
    const plan = await term.waitFor('restore', /Put configuration\.yaml back from the backup onto the image file \S+ \(not a card\)\? \(y\/N\)/);
    expect(plan).toMatch(/From the backup "Own password" of \d{4}-\d\d-\d\d \d\d:\d\d: configuration\.yaml, [\d.]+ KiB\.\s*\n\s*It replaces the one on the image file \S+ \(not a card\), \d+ bytes, which is saved to this computer first\./);
    term.type('restore', 'y');
    await term.waitFor('restore', /Done: \/supervisor\/homeassistant\/configuration\.yaml is the backup's again \(read back from the image file .* and verified\)/, 60_000);
    await term.waitFor('restore', /The file it replaced is saved in /);
    expect(cli(['cat', image, CONFIG]).stdout.equals(original)).toBe(true);
    const saved = readdirSync(home).find((n) => n.startsWith('haos-rescue-originals-'));
    expect(saved).toBeDefined();
    expect(readFileSync(join(home, saved!, 'supervisor__homeassistant__configuration.yaml'), 'utf8')).toBe(BROKEN);
    assertCardClean(image);

    // The backup made with the card's key opens with it (no question), and has nothing different now.
    await term.waitFor('restore', /What do you want to do\?\s*\n.*❯ Reset/);
    for (let i = 0; i < DOWNS; i++) term.keys('restore', 'Down');
    await term.waitFor('restore', /❯ Put back a configuration file from a backup/);
    term.keys('restore', 'Enter');
    await term.waitFor('restore', /From which backup\?[\s\S]*❯ .* Own password/);
    term.keys('restore', 'Down');
    await term.waitFor('restore', /❯ .* With the card key /);
    term.keys('restore', 'Enter');
    await term.waitFor('restore', /Every configuration file in this backup \(\d+\) is the same as on the card: nothing to put back\.\s*\n\? What do you want to do\?/, 60_000);
    term.keys('restore', 'Up'); // wraps to Quit (keys typed before the menu is drawn are dropped)
    term.keys('restore', 'Enter');
    await term.waitFor('restore', /EXIT=0/);
  }, 180_000);
});

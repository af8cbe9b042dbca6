// The guided flow's "where does the copy go" questions: a place refused (a file on the way, a name taken) is
// said and the question comes again; it went back to the menu, and the step's questions were asked anew.
// A backup named without .tar is written as NAME.tar (it was refused after every question). Needs tmux.

import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSampleImage } from '../../fixtures/index.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/images.js';
import { Terminal, hasTmux } from '../helpers/terminal.js';

const work = tempDir('wizard-where-');
const term = new Terminal();
afterAll(() => {
  term.close();
  rmSync(work, { recursive: true, force: true });
});

/** Clears the suggested place and types `path` at the question. */
function answer(path: string): void {
  term.keys('w', 'C-u');
  term.type('w', path);
}

describe.skipIf(!hasTmux)(`the wizard's output questions${hasTmux ? '' : ' (skipped: tmux is not installed)'}`, () => {
  it('asks again where a place is refused (export, backups), and adds .tar to a backup name without it', async () => {
    const image = join(work, 'card.img');
    writeFileSync(image, readSampleImage());
    const home = join(work, 'home');
    const inTheWay = join(work, 'a-file');
    writeFileSync(inTheWay, 'not a folder\n');
    term.start('w', work, home);
    await term.openPath('w', image);
    const menu = async (downs: number): Promise<void> => {
      await term.waitFor('w', /What do you want to do\?\s*\n.*❯ Reset/);
      for (let i = 0; i < downs; i++) term.keys('w', 'Down');
      term.keys('w', 'Enter');
    };

    await menu(4); // Export the configuration folder
    await term.waitFor('w', /Export the configuration as/);
    term.keys('w', 'Enter'); // a folder
    await term.waitFor('w', /Where\?/);
    answer(join(inTheWay, 'config'));
    const refused = await term.waitFor('w', /cannot be a folder: it, or a folder above it, is a file[\s\S]*\? Where\?/);
    expect(refused).not.toMatch(/Exported/);
    answer(join(work, 'config'));
    await term.waitFor('w', /Exported \d+ files/, 60_000);

    await menu(3); // Copy the backups
    await term.waitFor('w', /Copy them into which folder\?/);
    answer(inTheWay);
    await term.waitFor('w', /a-file cannot be a folder[\s\S]*\? Copy them into which folder\?/);
    answer(join(work, 'backups'));
    await term.waitFor('w', /Restore one in Home Assistant/, 60_000);

    await menu(6); // Make a backup
    await term.waitFor('w', /Include the history database/);
    term.type('w', 'n');
    await term.waitFor('w', /Save the backup as/);
    answer(join(work, 'rescued'));
    await term.waitFor('w', /Writing it as \S+rescued\.tar \(the Supervisor reads only \.tar backups\)/);
    await term.waitFor('w', /Backup \S+ written to \S+rescued\.tar/, 120_000);
    term.keys('w', 'C-c');
    await term.waitFor('w', /EXIT=\d+/);

    expect(readdirSync(join(work, 'config'))).toContain('configuration.yaml');
    expect(readdirSync(join(work, 'backups')).length).toBeGreaterThan(0);
    expect(cli(['backup', 'ls', join(work, 'rescued.tar')]).code).toBe(0);
  }, 240_000);
});

// The guided flow on a card not cleanly unmounted: the question whether to apply its journal first comes
// before the step's own questions. Asked last (after the login, both passwords and "Write it now?"), a No
// threw every answer away. Needs tmux (skipped with the reason otherwise; .ci/run installs it).

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeDirty } from '../../scripts/fixtures/make-dirty.mjs';
import { cardPasswordIs } from '../helpers/card.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/images.js';
import { Terminal, hasTmux } from '../helpers/terminal.js';

const work = tempDir('wizard-journal-');
const term = new Terminal();
afterAll(() => {
  term.close();
  rmSync(work, { recursive: true, force: true });
});

const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

describe.skipIf(!hasTmux)(`the wizard on a card with a journal to apply${hasTmux ? '' : ' (skipped: tmux is not installed)'}`, () => {
  it('asks about the journal before the login and passwords; No writes nothing and the session goes on, Yes applies it with the change', async () => {
    const dirty = makeDirty(join(work, 'dirty'));
    const img = join(work, 'dirty', 'dirty.img');
    const before = sha(img);
    term.start('j', work, join(work, 'home'));
    await term.openPath('j', img);
    await term.waitFor('j', /What do you want to do\?/);
    term.keys('j', 'Enter'); // Reset a password
    await term.waitFor('j', /its journal holds 4 change\(s\) not yet in place\. Apply them/);
    expect(term.screen('j')).not.toMatch(/Whose password\?/);
    term.type('j', 'n');
    await term.waitFor('j', /Nothing was written: a change to this card needs its journal applied first/);
    await term.waitFor('j', /What do you want to do\?[\s\S]*What do you want to do\?/);
    expect(sha(img)).toBe(before);

    term.keys('j', 'Enter'); // Reset a password, again: asked again, as nothing was agreed
    await term.waitFor('j', /Apply them to the card first[\s\S]*Apply them to the card first/);
    term.type('j', 'y');
    await term.waitFor('j', /Whose password\?/);
    term.keys('j', 'Enter');
    await term.waitFor('j', /New password for vm-user/);
    term.type('j', 'after the journal 6');
    await term.waitFor('j', /Type it again/);
    term.type('j', 'after the journal 6');
    await term.waitFor('j', /Write it now\?/);
    term.type('j', 'y');
    const done = await term.waitFor('j', /Done: new password for/, 60_000);
    expect(done).toMatch(/Applied the card's journal first \(4 change\(s\)\)/);
    // Asked once: after "Write it now?" nothing more about the journal.
    expect(done.split('Apply them to the card first').length - 1).toBe(2);
    term.keys('j', 'C-c');
    await term.waitFor('j', /EXIT=\d+/);
    const fsck = spawnSync('e2fsck', ['-fn', img], { encoding: 'utf8' });
    expect(fsck.status, fsck.stdout).toBe(0);
    expect(cardPasswordIs(img, 'vm-user', 'after the journal 6')).toBe(true);
    expect(cli(['cat', img, dirty.newFilePath]).stdout.length).toBe(dirty.newFileSize);
  }, 180_000);
});

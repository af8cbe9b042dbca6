// `auth reset` without --password on a real terminal (tmux): the new password is asked twice and never
// shown, a mismatch writes nothing (exit 64), and a match resets it (e2fsck -fn clean, bcrypt verifies).

import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { USERS, readSampleImage } from '../../fixtures/index.js';
import { assertCardClean, cardPasswordIs } from '../helpers/card.js';
import { makeDirty } from '../../scripts/fixtures/make-dirty.mjs';
import { tempDir } from '../helpers/images.js';
import { Terminal, hasTmux } from '../helpers/terminal.js';

const work = tempDir('password-prompt-');
const term = new Terminal();
afterAll(() => {
  term.close();
  rmSync(work, { recursive: true, force: true });
});
const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

function image(name: string): string {
  const path = join(work, name);
  writeFileSync(path, readSampleImage());
  return path;
}

describe.skipIf(!hasTmux)(`the hidden password prompt${hasTmux ? '' : ' (skipped: tmux is not installed)'}`, () => {
  it('keys typed before the journal question (while the card was read) are no answer to it: it waits for one', async () => {
    makeDirty(join(work, 'dirty'));
    const img = join(work, 'dirty', 'dirty.img');
    const before = sha(img);
    term.start('ahead', work, join(work, 'home'), ['auth', 'reset', img, '-u', USERS[0].username, '--password', 'pw ahead']);
    term.keysAhead('ahead', 'y', 'Enter');
    await term.waitFor('ahead', /Replay them onto the card first \(what Linux does at mount\)\? \[y\/N\]/);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(term.screen('ahead')).not.toMatch(/EXIT=/);
    expect(sha(img)).toBe(before);
    term.type('ahead', 'n');
    const end = await term.waitFor('ahead', /EXIT=\d+/, 60_000);
    expect(end).not.toMatch(/EXIT=0/);
    expect(sha(img)).toBe(before);
  }, 90_000);

  it('asks twice without echo and resets the password', async () => {
    const img = image('ok.img');
    term.start('ok', work, join(work, 'home'), ['auth', 'reset', img, '-u', USERS[0].username]);
    await term.waitFor('ok', /New password for/);
    term.type('ok', 'typed secret 7');
    await term.waitFor('ok', /Type it again/);
    term.type('ok', 'typed secret 7');
    const end = await term.waitFor('ok', /EXIT=\d+/, 60_000);
    expect(end).toMatch(/EXIT=0/);
    expect(end).not.toContain('typed secret 7');
    assertCardClean(img);
    expect(cardPasswordIs(img, USERS[0].username, 'typed secret 7')).toBe(true);
  }, 90_000);

  it('the arrow keys edit the hidden entry, as in the guided flow (Left was typed into the password as ESC [ D)', async () => {
    const img = image('arrows.img');
    term.start('arrows', work, join(work, 'home'), ['auth', 'reset', img, '-u', USERS[0].username]);
    for (const question of [/New password for/, /Type it again/]) {
      await term.waitFor('arrows', question);
      term.keys('arrows', '-l', 'secrt 7');
      term.keys('arrows', 'Left', 'Left', 'Left');
      term.keys('arrows', '-l', 'e');
      term.keys('arrows', 'End', 'Enter');
    }
    const end = await term.waitFor('arrows', /EXIT=\d+/, 60_000);
    expect(end).toMatch(/EXIT=0/);
    expect(cardPasswordIs(img, USERS[0].username, 'secret 7')).toBe(true);
  }, 90_000);

  it("a backup the card's key does not open asks for its own password instead of failing", async () => {
    const img = image('own-password.img');
    term.start('own', work, join(work, 'home'), ['backup', 'ls', img, 'f92f0339', 'a0d7b954_example']);
    await term.waitFor('own', /does not open this backup: it was made with a password of its own\. That password:/);
    term.type('own', 'supervisor');
    const end = await term.waitFor('own', /EXIT=\d+/, 60_000);
    expect(end).toMatch(/addon\.json/);
    expect(end).toMatch(/EXIT=0/);
  }, 90_000);

  it('two different answers are asked again; three rounds of them write nothing and exit 64', async () => {
    const img = image('mismatch.img');
    const before = sha(img);
    term.start('mismatch', work, join(work, 'home'), ['auth', 'reset', img, '-u', USERS[0].username]);
    for (let round = 1; round <= 3; round++) {
      await term.waitFor('mismatch', new RegExp(`(New password for[^]*){${round}}`));
      term.type('mismatch', `first answer ${round}`);
      await term.waitFor('mismatch', new RegExp(`(Type it again[^]*){${round}}`));
      term.type('mismatch', 'second answer');
      if (round < 3) await term.waitFor('mismatch', new RegExp(`(once more[^]*){${round}}`));
    }
    const end = await term.waitFor('mismatch', /EXIT=\d+/);
    expect(end).toMatch(/the two passwords differ; nothing was written/);
    expect(end).toMatch(/EXIT=64/);
    expect(sha(img)).toBe(before);
  }, 90_000);

  it('Ctrl-C at the question stops with exit 130 (interrupted), nothing written', async () => {
    const img = image('ctrl-c.img');
    const before = sha(img);
    term.start('ctrlc', work, join(work, 'home'), ['auth', 'reset', img, '-u', USERS[0].username]);
    await term.waitFor('ctrlc', /New password for/);
    term.keys('ctrlc', 'C-c');
    const end = await term.waitFor('ctrlc', /EXIT=\d+/);
    expect(end).toMatch(/stopped at the question \(Ctrl-C\): nothing was written/);
    expect(end).toMatch(/EXIT=130/);
    expect(sha(img)).toBe(before);
  }, 90_000);
});

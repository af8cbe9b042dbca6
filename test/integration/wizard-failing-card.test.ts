// The wizard on a card that fails a read: a real failing card (FUSE, bad sectors over the login file) opened in
// the guided flow in a real terminal (tmux). The step that meets the bad sectors offers to copy the card to an
// image file first; accepted, the copy is made (every sector but the bad ones, byte for byte; the map marks
// exactly those bad, as ddrescuelog reads it) and the session goes on with the copy; declined, nothing is
// written. The card is never written.
// Needs tmux and the failing card (FUSE, root): skipped with the reason otherwise.

import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SAMPLE } from '../../fixtures/index.js';
import { failingCardUnavailable, withFailingCard } from '../helpers/failing-card.js';
import { expectCopyOfCard, sampleWithBadLogins } from '../helpers/failing-sample.js';
import { tempDir } from '../helpers/images.js';
import { Terminal, hasTmux } from '../helpers/terminal.js';

const work = tempDir('wizard-failing-');
const term = new Terminal();
afterAll(() => {
  term.close();
  rmSync(work, { recursive: true, force: true });
});

const unavailable = !hasTmux ? 'tmux is not installed' : failingCardUnavailable();
const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');
/** From the start to the menu, on the card given as an image file, then "Reset a password", which reads the logins. */
async function toTheOffer(name: string, card: string): Promise<string> {
  await term.waitFor(name, /Which disk holds your Home Assistant\?/);
  term.keys(name, 'Up');
  term.keys(name, 'Up');
  await term.waitFor(name, /❯ An image file/);
  term.keys(name, 'Enter');
  await term.waitFor(name, /Path of the image file/);
  term.type(name, card);
  await term.waitFor(name, /What do you want to do\?/);
  term.keys(name, 'Enter'); // Reset a password: reads .storage/auth
  return term.waitFor(name, /Copy the card to an image file now\?/);
}

describe.skipIf(unavailable !== null)(`the wizard on a failing card${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  it('offers to copy the card first; the copy holds every readable sector, the map the bad ones; the session goes on with it', async () => {
    const image = join(work, 'failing.img');
    const bad = await sampleWithBadLogins(image);
    const before = sha(image);
    const out = join(work, 'rescued.img');
    await withFailingCard({ image, bad: [bad], failDelayMs: 1 }, async (card) => {
      term.start('copy', work, join(work, 'home-copy'));
      const offer = await toTheOffer('copy', card.path);
      expect(offer).toMatch(/error: read of .* failed/);
      expect(offer).toMatch(/Parts of this card could not be read/);
      term.type('copy', 'y');
      await term.waitFor('copy', /Image file \(on this computer, not on the card\)/);
      term.type('copy', out);
      const after = await term.waitFor('copy', /this session reads the copy[\s\S]*What do you want to do\?/, 60_000);
      expect(after).toMatch(/could not be read/);
      expect(after).toMatch(new RegExp(`Home Assistant ${SAMPLE.haVersion.replace(/\./g, '\\.')} on .*rescued\\.img`));
      term.keys('copy', 'Up'); // wraps to Quit
      term.keys('copy', 'Enter');
      await term.waitFor('copy', /EXIT=0/);
    });
    expect(sha(image)).toBe(before);
    expectCopyOfCard(image, out, bad);
  }, 180_000);

  it('declined, nothing is written and the menu comes back', async () => {
    const image = join(work, 'declined.img');
    const bad = await sampleWithBadLogins(image);
    const before = sha(image);
    const home = join(work, 'home-declined');
    await withFailingCard({ image, bad: [bad], failDelayMs: 1 }, async (card) => {
      term.start('declined', work, home);
      await toTheOffer('declined', card.path);
      term.type('declined', 'n');
      await term.waitFor('declined', /Copy the card to an image file now\? No[\s\S]*What do you want to do\?/);
      term.keys('declined', 'Up');
      term.keys('declined', 'Enter');
      await term.waitFor('declined', /EXIT=0/);
    });
    expect(sha(image)).toBe(before);
    expect(readdirSync(home)).toEqual([]);
  }, 180_000);
});

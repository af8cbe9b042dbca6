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
import { expectCopyOfCard, sampleWithBadSectors } from '../helpers/failing-sample.js';
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
const AUTH = '/supervisor/homeassistant/.storage/auth';
const BACKUP_SETTINGS = '/supervisor/homeassistant/.storage/backup';

/** From the start to opening the card given as an image file. */
const openCard = (name: string, card: string): Promise<void> => term.openPath(name, card);

const OFFER = /Copy the card to an image file now\?/;

describe.skipIf(unavailable !== null)(`the wizard on a failing card${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  it('a card that fails a read at opening: the copy is offered before any step, holds every readable sector, the map the bad ones; the session goes on with it', async () => {
    const image = join(work, 'failing.img');
    const bad = await sampleWithBadSectors(image, AUTH);
    const before = sha(image);
    const out = join(work, 'rescued.img');
    await withFailingCard({ image, bad: [bad], failDelayMs: 1 }, async (card) => {
      term.start('copy', work, join(work, 'home-copy'));
      await openCard('copy', card.path);
      const offer = await term.waitFor('copy', OFFER);
      expect(offer).toMatch(/warning: \/supervisor\/homeassistant\/\.storage\/auth cannot be read: read of .* failed/);
      expect(offer).toMatch(/Parts of this card could not be read/);
      expect(offer).not.toMatch(/What do you want to do/);
      term.type('copy', 'y');
      await term.waitFor('copy', /Image file \(on this computer, not on the card\)/);
      term.type('copy', out);
      // The unreadable parts can be tried again at once (it was only "copy it again to the same file").
      const RETRY = /Try the [\d.]+ \w+ that could not be read once more now\? \(y\/N\)/;
      await term.waitFor('copy', RETRY, 60_000);
      const tried = (await card.stats()).badSectorReads;
      expect(Object.keys(tried).length).toBeGreaterThan(0);
      term.type('copy', 'y');
      await term.waitFor('copy', /Try the [\d.]+ \w+ that could not be read once more now\? Yes[\s\S]*Try the [\d.]+ \w+ that could not be read once more now\? \(y\/N\)/, 60_000);
      // Each bad sector was asked once more, no more.
      const again = (await card.stats()).badSectorReads;
      for (const [sector, n] of Object.entries(tried)) expect(again[sector], `sector ${sector}`).toBe(n + 1);
      term.type('copy', 'n');
      const after = await term.waitFor('copy', /this session reads the copy[\s\S]*What do you want to do\?/, 60_000);
      expect(after).toMatch(/could not be read/);
      expect(after).toMatch(new RegExp(`Home Assistant ${SAMPLE.haVersion.replace(/\./g, '\\.')} on .*rescued\\.img`));
      // What the copy lost of what a rescue is for is said at once (the logins here).
      expect(after.replace(/\n/g, '')).toMatch(/Not whole in the copy: .*\/\.storage\/auth[,.]/);
      // The card is kept for another try: "You can take the card out" was said with the logins lost.
      expect(after.replace(/\n/g, '')).toMatch(/Keep the card: copying it again to the same file tries the missing parts once more\./);
      expect(after).not.toMatch(/take the card out/);
      term.keys('copy', 'Up'); // wraps to Quit
      term.keys('copy', 'Enter');
      await term.waitFor('copy', /EXIT=0/);
    });
    expect(sha(image)).toBe(before);
    expectCopyOfCard(image, out, bad);
  }, 180_000);

  // It said "run the same command again to continue": the owner had run no command.
  it('Ctrl-C during the copy: the map is saved, and it says how to continue in the guided flow', async () => {
    const image = join(work, 'stopped.img');
    const bad = await sampleWithBadSectors(image, AUTH);
    const out = join(work, 'stopped-copy.img');
    await withFailingCard({ image, bad: [bad], failDelayMs: 1, latencyMs: 30 }, async (card) => {
      term.start('stop', work, join(work, 'home-stop'));
      await openCard('stop', card.path);
      await term.waitFor('stop', OFFER);
      term.type('stop', 'y');
      await term.waitFor('stop', /Image file \(on this computer, not on the card\)/);
      term.type('stop', out);
      for (let i = 0; i < 200 && !readdirSync(work).includes('stopped-copy.img.map'); i++) await new Promise((r) => setTimeout(r, 50));
      term.keys('stop', 'C-c');
      const end = (await term.waitFor('stop', /EXIT=\d+/, 60_000)).replace(/\n/g, '');
      expect(end).toMatch(/Stopped: the map is saved \(.* rescued so far\): start haos-rescue again, choose the card and give the same image file to continue\./);
      expect(end).not.toMatch(/run the same command/);
      expect(end).toMatch(/EXIT=130/);
    });
  }, 120_000);

  it('a step that meets a bad sector offers the copy; declined, nothing is written and the menu comes back', async () => {
    const image = join(work, 'declined.img');
    // Only the backup settings: opening reads the users and logins, not them; "Show the backup key" does.
    const bad = await sampleWithBadSectors(image, BACKUP_SETTINGS);
    const before = sha(image);
    const home = join(work, 'home-declined');
    await withFailingCard({ image, bad: [bad], failDelayMs: 1 }, async (card) => {
      term.start('declined', work, home);
      await openCard('declined', card.path);
      await term.waitFor('declined', /What do you want to do\?/);
      expect(term.screen('declined')).not.toMatch(OFFER);
      for (let i = 0; i < 5; i++) term.keys('declined', 'Down');
      term.keys('declined', 'Enter'); // Show the backup encryption key
      const offer = await term.waitFor('declined', OFFER);
      expect(offer).toMatch(/error: \/\S+ cannot be read: read of .* failed/);
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

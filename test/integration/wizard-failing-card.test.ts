// The wizard on a card that fails a read: a real failing card (FUSE, bad sectors over the login file) opened in
// the guided flow in a real terminal (tmux). The step that meets the bad sectors offers to copy the card to an
// image file first; accepted, the copy is made (every sector but the bad ones, byte for byte; the map marks
// exactly those bad, as ddrescuelog reads it) and the session goes on with the copy; declined, nothing is
// written. The card is never written.
// Needs tmux and the failing card (FUSE, root): skipped with the reason otherwise.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { SAMPLE, readSampleImage } from '../../fixtures/index.js';
import { openSource } from '../../src/actions/source.js';
import { SECTOR, failingCardUnavailable, withFailingCard } from '../helpers/failing-card.js';
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
const hasDdrescuelog = spawnSync('ddrescuelog', ['--version']).status === 0;

/** The sample image, and the card sectors of the first block of its login file (.storage/auth). */
async function cardWithBadLogins(name: string): Promise<{ image: string; bad: [number, number] }> {
  const image = join(work, name);
  writeFileSync(image, readSampleImage());
  const src = await openSource(image);
  try {
    const layout = await src.volume.layout(await src.volume.lookup('/supervisor/homeassistant/.storage/auth'));
    const block = layout.runs![0]!.physical;
    return { image, bad: [(SAMPLE.dataOffsetBytes + block * layout.blockSize) / SECTOR, layout.blockSize / SECTOR] };
  } finally {
    await src.device.close();
  }
}

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
    const { image, bad } = await cardWithBadLogins('failing.img');
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
    // Every sector but the bad ones is the card's; the bad ones were never invented.
    const card = readFileSync(image);
    const copy = readFileSync(out);
    expect(copy.length).toBe(card.length);
    const [first, count] = bad;
    expect(copy.subarray(0, first * SECTOR).equals(card.subarray(0, first * SECTOR))).toBe(true);
    expect(copy.subarray((first + count) * SECTOR).equals(card.subarray((first + count) * SECTOR))).toBe(true);
    expect(existsSync(`${out}.map`)).toBe(true);
    if (hasDdrescuelog) {
      const listed = spawnSync('ddrescuelog', ['-b', String(SECTOR), '-l-', `${out}.map`], { encoding: 'utf8' });
      expect(listed.status).toBe(0);
      expect(listed.stdout.trim().split('\n').map(Number)).toEqual(Array.from({ length: count }, (_, k) => first + k));
    }
  }, 180_000);

  it('declined, nothing is written and the menu comes back', async () => {
    const { image, bad } = await cardWithBadLogins('declined.img');
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

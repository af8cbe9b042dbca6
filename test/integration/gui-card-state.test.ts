// The browser window's change screens say the card as it is, in a real Chromium on the sample card:
// - Safe mode reads whether it is set: before, "Take safe mode back" on a card without it opened "Safe mode is
//   set for the next start. Take it back?"; now the screen says "not set" and offers only to set it (and the
//   server refuses to plan taking back what is not there).
// - Free space, backups older than 0 days: before, every backup (the newest too) was listed without a word
//   about it; now the confirmation says first that every backup goes, how many and their size, and to copy
//   them off first.
// - A damaged card marked for the box's repair: before, the card screen offered "Have the box repair it at its
//   next start" again (pressing it said "Nothing to mark"); now it says the card is marked and what to do.

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { SAMPLE, readSampleImage } from '../../fixtures/index.js';
import { browserPath } from '../helpers/browser.js';
import { cli } from '../helpers/cli.js';
import { type Api, type Heading, onCard as onCardOf, windowSuite } from '../helpers/gui-page.js';

const suite = windowSuite('gui-card-state-');
const { work } = suite;
const SAFE_MODE = '/supervisor/homeassistant/safe-mode';

/** The window on `card` in a new page, at its card screen; the server always stopped after `fn`. */
const onCard = (card: string, fn: (page: Page, heading: Heading, api: Api) => Promise<void>): Promise<void> => onCardOf(suite, card, fn);

function sampleCard(name: string): string {
  const img = join(work, `${name}.img`);
  writeFileSync(img, readSampleImage());
  return img;
}

const dialogOf = (page: Page) => page.getByRole('dialog', { name: 'Check before writing' });

async function writeAndBack(page: Page, heading: Heading): Promise<void> {
  await dialogOf(page).getByRole('button', { name: 'Write it now' }).click();
  await heading('Done').waitFor({ timeout: 30_000 });
  await page.getByRole('button', { name: 'Back' }).click();
  await heading(/^Home Assistant /).waitFor();
}

describe.skipIf(!browserPath)(`the change screens say the card as it is${browserPath ? '' : ' (skipped: no Chromium or Chrome installed)'}`, () => {
  it('Safe mode shows whether it is set and offers only what makes sense', async () => {
    const img = sampleCard('safe');
    expect(cli(['ls', img, SAFE_MODE]).code).toBe(66);
    await onCard(img, async (page, heading, api) => {
      await page.getByRole('button', { name: 'Safe mode' }).click();
      await page.getByText(/^Safe mode is not set: Home Assistant starts normally/).waitFor({ timeout: 30_000 });
      expect(await page.getByRole('button', { name: 'Take safe mode back' }).count()).toBe(0);
      const taken = JSON.parse((await api('/api/plan', { action: { kind: 'safe-mode', on: false } })).body);
      expect(taken.error.code).toBe('SAFE_MODE_NOT_SET');
      expect(taken.error.message).toMatch(/^safe mode is not set: there is no .*safe-mode$/);

      await page.getByRole('button', { name: 'Set safe mode' }).click();
      await dialogOf(page).getByText(/^Set safe mode on the image file \S+ \(not a card\)\?$/).waitFor();
      await writeAndBack(page, heading);
      expect(cli(['ls', img, SAFE_MODE]).code).toBe(0);

      await page.getByRole('button', { name: 'Safe mode' }).click();
      await page.getByText(/^Safe mode is set: at its next start Home Assistant skips every custom integration/).waitFor({ timeout: 30_000 });
      expect(await page.getByRole('button', { name: 'Set safe mode' }).count()).toBe(0);
      await page.getByRole('button', { name: 'Take safe mode back' }).click();
      await dialogOf(page).getByText('Safe mode is set for the next start.').waitFor();
      await writeAndBack(page, heading);
      expect(cli(['ls', img, SAFE_MODE]).code).toBe(66);
    });
  });

  it('deleting the backups older than 0 days says first that every backup goes, how many, their size, and to copy them off', async () => {
    const img = sampleCard('backups');
    await onCard(img, async (page) => {
      await page.getByRole('button', { name: 'Free space' }).click();
      await page.getByLabel('Days').fill('0');
      await page.getByRole('button', { name: 'Delete older backups' }).click();
      const dialog = dialogOf(page);
      await dialog.waitFor({ timeout: 30_000 });
      const lines = await dialog.getByRole('listitem').allInnerTexts();
      expect(lines[0]).toMatch(/^This deletes every backup on the card: all 3 backups, \d+(\.\d+)? KiB in all\. No backup will be left on the card\.$/);
      expect(lines[1]).toMatch(/^Copy them to this computer first: choose Cancel, then "Copy the backups"/);
      await dialog.getByText(/^Delete all 3 backups \(\d+(\.\d+)? KiB\) from the card\?$/).waitFor();
      await dialog.getByRole('button', { name: 'Cancel' }).click();
      await page.getByText('Nothing was written.').waitFor();
    });
    expect(cli(['ls', img, '/supervisor/backup']).text.trim().split('\n')).toHaveLength(3);
  });

  it('a damaged card marked for the box\'s repair says so instead of offering the mark again', async () => {
    const img = join(work, 'overlap.img');
    writeFileSync(img, readSampleImage().subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes));
    // The inode bitmap of group 0 put on its block bitmap (debugfs keeps the checksums right): damage the
    // card summary names, with the box's check at its next start as the way on.
    for (const r of ['set_bg 0 inode_bitmap 4', 'set_bg 0 checksum calc']) execFileSync('debugfs', ['-n', '-w', '-R', r, img], { stdio: 'ignore' });
    await onCard(img, async (page, heading) => {
      const mark = page.getByRole('button', { name: 'Have the box repair it at its next start' });
      await mark.click();
      await dialogOf(page).getByText('Mark the card for a full check?').waitFor();
      await writeAndBack(page, heading);
      // overlap.img is a copy of the data partition alone: what starts the box from it is said, not "Put the card back".
      await page.getByText(/^The card is marked for repair already: the box checks and repairs it in full at its next start\. Copy the image file back onto the data partition of the card it came from .*, put that card into the box and start it once, and let that longer start finish\.$/).waitFor();
      expect(await mark.count()).toBe(0);
      await page.getByRole('button', { name: 'Reset a password' }).click();
      await page.getByRole('alert').getByText(/^The card is marked for repair already/).waitFor();
      expect(await mark.count()).toBe(0);
    });
    expect(/^Filesystem state:\s+(.*)$/m.exec(execFileSync('dumpe2fs', ['-h', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))![1]).toBe('clean with errors');
  });
});

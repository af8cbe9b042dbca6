// Deleting the history database in the browser window when this computer has no room for its copy: the
// window said "ENOSPC … make room there" and had no other way (the command line has --no-originals for
// exactly this). Now the error offers "Delete without keeping copies", which asks again, saying that what is
// deleted is then gone for good, and deletes it: the card e2fsck-clean, nothing left in Downloads.
// Needs root to mount a small tmpfs as Downloads, and Chromium (skipped with the reason otherwise).

import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSampleImage } from '../../fixtures/index.js';
import { browserPath } from '../helpers/browser.js';
import { assertCardClean } from '../helpers/card.js';
import { cli } from '../helpers/cli.js';
import { onCard, windowSuite } from '../helpers/gui-page.js';

const DB = '/supervisor/homeassistant/home-assistant_v2.db';
const suite = windowSuite('gui-no-room-');
const downloads = join(suite.work, 'home', 'Downloads');
let mounted = false;
afterAll(() => {
  if (mounted) spawnSync('umount', [downloads]);
});

function mountSmall(): boolean {
  mkdirSync(downloads, { recursive: true });
  mounted = process.getuid?.() === 0 && spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', downloads]).status === 0;
  return mounted;
}

describe.skipIf(!browserPath)(`no room on this computer for a deletion's copies${browserPath ? '' : ' (skipped: no Chromium or Chrome installed)'}`, () => {
  it('the error offers to delete without copies; asked again, it deletes, and the card stays clean', async (ctx) => {
    if (!mountSmall()) return ctx.skip();
    const card = join(suite.work, 'card.img');
    writeFileSync(card, readSampleImage());
    await onCard(suite, card, async (page, heading) => {
      const dialog = page.getByRole('dialog', { name: 'Check before writing' });
      await page.getByRole('button', { name: 'Free space' }).click();
      await page.getByRole('button', { name: 'Delete the history database' }).click();
      await dialog.getByRole('button', { name: 'Write it now' }).click();
      const alert = page.getByRole('alert').filter({ hasText: /cannot save the original files/ });
      await alert.waitFor({ timeout: 30_000 });
      await expect(alert.textContent()).resolves.toMatch(/or delete without keeping copies \(what is deleted is then gone for good\); nothing was written to the card/);
      expect(cli(['ls', card, DB]).code, 'nothing was written').toBe(0);
      await page.getByRole('button', { name: 'Delete without keeping copies' }).click();
      // Said by the plan itself: it said "gone for good" above "A copy is saved on this computer first".
      await dialog.getByText('No copy is kept: once deleted, the database is gone for good.').waitFor();
      await expect(dialog.innerText()).resolves.not.toMatch(/A copy is saved/);
      await dialog.getByText(/Delete \S+home-assistant_v2\.db.* for good, without a copy\?/).waitFor();
      await dialog.getByRole('button', { name: 'Write it now' }).click();
      await heading('Done').waitFor({ timeout: 30_000 });
      await page.getByText('No copies of the deleted files were kept.').waitFor();
    });
    expect(cli(['ls', card, DB]).code).toBe(66);
    expect(readdirSync(downloads)).toEqual([]);
    assertCardClean(card);
  });

  // A password reset offered "Delete without keeping copies" too; its dialog then said "gone for good" and the
  // write was refused ("only a deletion is written without copies").
  it('a password reset without room for its copy says to make room, and offers no deletion without copies', async (ctx) => {
    if (!mounted && !mountSmall()) return ctx.skip();
    const card = join(suite.work, 'card-reset.img');
    writeFileSync(card, readSampleImage());
    // The login file's copy is small: the disk is filled first.
    const filler = join(downloads, 'filler');
    try {
      writeFileSync(filler, Buffer.alloc(256 * 1024));
    } catch {
      // full now
    }
    await onCard(suite, card, async (page) => {
      const dialog = page.getByRole('dialog', { name: 'Check before writing' });
      await page.getByRole('button', { name: 'Reset a password' }).click();
      await page.getByLabel('User').selectOption('vm-user');
      await page.getByLabel('New password').fill('no room 1');
      await page.getByLabel('Type it again').fill('no room 1');
      await page.getByRole('button', { name: 'Continue' }).click();
      await dialog.getByRole('button', { name: 'Write it now' }).click();
      const alert = page.getByRole('alert').filter({ hasText: /cannot save the original files/ });
      await alert.waitFor({ timeout: 30_000 });
      await expect(alert.textContent()).resolves.toMatch(/make room there .*then try again; nothing was written to the card/);
      await expect(alert.textContent()).resolves.not.toMatch(/without keeping copies/);
      expect(await page.getByRole('button', { name: 'Delete without keeping copies' }).count()).toBe(0);
    });
    rmSync(filler);
    expect(readdirSync(downloads)).toEqual([]);
  });
});

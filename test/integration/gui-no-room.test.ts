// Deleting the history database in the browser window when this computer has no room for its copy: the
// window said "ENOSPC … make room there" and had no other way (the command line has --no-originals for
// exactly this). Now the error offers "Delete without keeping copies", which asks again, saying that what is
// deleted is then gone for good, and deletes it: the card e2fsck-clean, nothing left in Downloads.
// Needs root to mount a small tmpfs as Downloads, and Chromium (skipped with the reason otherwise).

import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
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
      await dialog.getByText('No copies are kept on this computer: what is deleted is gone for good.').waitFor();
      await dialog.getByRole('button', { name: 'Write it now' }).click();
      await heading('Done').waitFor({ timeout: 30_000 });
      await page.getByText('No copies of the deleted files were kept.').waitFor();
    });
    expect(cli(['ls', card, DB]).code).toBe(66);
    expect(readdirSync(downloads)).toEqual([]);
    assertCardClean(card);
  });
});

// A second copy on the same day, in a real Chromium on the sample card: before, copying the backups, exporting
// or making a backup twice failed, as the default names are dated by day, with a hint to "replace the file" or
// "write into this one anyway" (the command line's --force) that the window has no control for. Now the form
// proposes a free name ("-2") by itself, nothing is ever replaced, and a name typed that is taken says what to
// do in the window's own terms.

import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { BACKUP_FILES, readSampleImage } from '../../fixtures/index.js';
import { browserPath } from '../helpers/browser.js';
import { type Heading, onCard, windowSuite } from '../helpers/gui-page.js';

const suite = windowSuite('gui-free-names-');
const { work } = suite;
const downloads = join(work, 'home', 'Downloads');

/** Opens the job, checks the name it proposes, runs it to Done and goes back. */
async function runJob(page: Page, heading: Heading, job: string, field: string, submit: string, name: RegExp): Promise<string> {
  await page.getByRole('button', { name: job }).click();
  const input = page.getByRole('textbox', { name: field });
  await expect.poll(() => input.inputValue(), { timeout: 10_000 }).toMatch(name);
  const value = await input.inputValue();
  await page.getByRole('button', { name: submit, exact: true }).click();
  await heading('Done').waitFor({ timeout: 30_000 });
  await page.getByRole('button', { name: 'Back', exact: true }).click();
  await heading(/^Home Assistant /).waitFor();
  return value;
}

describe.skipIf(!browserPath)(`a second copy on the same day${browserPath ? '' : ' (skipped: no Chromium or Chrome installed)'}`, () => {
  it('copy the backups, export and make a backup twice: the second one gets a free name by itself, nothing is replaced', async () => {
    const img = join(work, 'card.img');
    writeFileSync(img, readSampleImage());
    await onCard(suite, img, async (page, heading) => {
      const first = await runJob(page, heading, 'Copy the backups', 'Folder', 'Copy', /haos-rescue-backups$/);
      const second = await runJob(page, heading, 'Copy the backups', 'Folder', 'Copy', /haos-rescue-backups-2$/);
      expect(readdirSync(first).sort()).toEqual([...BACKUP_FILES].sort());
      expect(readdirSync(second).sort()).toEqual([...BACKUP_FILES].sort());

      const day = /home-assistant-config-\d{4}-\d\d-\d\d/.source;
      const config = await runJob(page, heading, 'Export the configuration', 'Save to', 'Export', new RegExp(`${day}$`));
      const config2 = await runJob(page, heading, 'Export the configuration', 'Save to', 'Export', new RegExp(`${day}-2$`));
      expect(readdirSync(config2)).toContain('configuration.yaml');
      expect(readdirSync(config)).toContain('configuration.yaml');

      const backup = await runJob(page, heading, 'Make a backup from this card', 'Save the backup as', 'Make the backup', /home-assistant-rescued-\d{4}-\d\d-\d\d\.tar$/);
      const mtime = statSync(backup).mtimeMs;
      const backup2 = await runJob(page, heading, 'Make a backup from this card', 'Save the backup as', 'Make the backup', /home-assistant-rescued-\d{4}-\d\d-\d\d-2\.tar$/);
      expect(statSync(backup2).size).toBeGreaterThan(0);
      expect(statSync(backup).mtimeMs, 'the first backup is left as it was').toBe(mtime);
    });
  });

  it('a folder chosen with Browse… that holds a copy of that name gets a free name there too (the taken name was kept)', async () => {
    const img = join(work, 'card3.img');
    writeFileSync(img, readSampleImage());
    const elsewhere = join(downloads, 'elsewhere');
    const day = new Date().toLocaleDateString('sv-SE'); // YYYY-MM-DD, local, as the page dates names
    mkdirSync(join(elsewhere, `home-assistant-config-${day}`), { recursive: true });
    writeFileSync(join(elsewhere, `home-assistant-config-${day}`, 'configuration.yaml'), 'mine'); // an empty one would be used
    writeFileSync(join(elsewhere, `home-assistant-rescued-${day}.tar`), 'mine');
    await onCard(suite, img, async (page, heading) => {
      const browseTo = async (job: string, field: string): Promise<string> => {
        await page.getByRole('button', { name: job }).click();
        const input = page.getByRole('textbox', { name: field });
        await expect.poll(() => input.inputValue(), { timeout: 10_000 }).toContain(downloads);
        await page.getByRole('button', { name: 'Browse…' }).click();
        await page.getByRole('button', { name: 'elsewhere', exact: true }).click();
        await page.getByText(elsewhere, { exact: true }).waitFor();
        await page.getByRole('button', { name: 'Use this folder' }).click();
        await expect.poll(() => input.inputValue(), { timeout: 10_000 }).toMatch(/-2(\.tar)?$/);
        const value = await input.inputValue();
        await page.getByRole('button', { name: 'Back', exact: true }).click();
        await heading(/^Home Assistant /).waitFor();
        return value;
      };
      expect(await browseTo('Make a backup from this card', 'Save the backup as')).toBe(join(elsewhere, `home-assistant-rescued-${day}-2.tar`));
      expect(await browseTo('Export the configuration', 'Save to')).toBe(join(elsewhere, `home-assistant-config-${day}-2`));
    });
  });

  it('a name typed that is taken is refused in the window\'s terms: another name or folder, never "replace" or "anyway"', async () => {
    const img = join(work, 'card2.img');
    writeFileSync(img, readSampleImage());
    const taken = join(downloads, 'taken.tar');
    writeFileSync(taken, 'mine');
    const full = join(downloads, 'full-folder');
    mkdirSync(full, { recursive: true });
    writeFileSync(join(full, 'note.txt'), 'mine');
    await onCard(suite, img, async (page) => {
      const alert = page.getByRole('alert');
      await page.getByRole('button', { name: 'Make a backup from this card' }).click();
      await page.getByRole('textbox', { name: 'Save the backup as' }).fill(taken);
      await page.getByRole('button', { name: 'Make the backup' }).click();
      await alert.getByText(/taken\.tar already exists/).waitFor({ timeout: 30_000 });
      const said = await alert.innerText();
      expect(said).toMatch(/change the name in the box .* or choose another folder with Browse…, then try again; haos-rescue never replaces a file/);
      expect(said).not.toMatch(/replace this one|anyway/);
      await page.getByRole('button', { name: 'Back', exact: true }).click();

      await page.getByRole('button', { name: 'Export the configuration' }).click();
      await page.getByRole('textbox', { name: 'Save to' }).fill(full);
      await page.getByRole('button', { name: 'Export', exact: true }).click();
      await alert.getByText(/full-folder is not empty/).waitFor({ timeout: 30_000 });
      expect(await alert.innerText()).toMatch(/choose a new or empty folder: change the name in the box/);
      expect(await alert.innerText()).not.toMatch(/anyway/);
    });
    expect(readdirSync(full)).toEqual(['note.txt']);
  });
});

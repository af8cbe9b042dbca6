// A plain ext4 filesystem without Home Assistant data (mkfs.ext4, labelled hassos-data), in a real Chromium:
// before, it opened as "Home Assistant version unknown" with all ten jobs, and Safe mode offered "Write it now"
// while `info` says "no configuration found". Now the card screen says no configuration was found and what
// that means, offers only what needs none (the log, the space), and the server refuses the changes and the
// copy of backups that are not there (never "Done" for nothing copied).

import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSampleImage } from '../../fixtures/index.js';
import { browserPath } from '../helpers/browser.js';
import { cli } from '../helpers/cli.js';
import { onCard, windowSuite } from '../helpers/gui-page.js';
import { mkfs, mkfsConfigNoBackups } from '../helpers/images.js';

const suite = windowSuite('gui-no-config-');
const { work } = suite;


describe.skipIf(!browserPath)(`a filesystem without Home Assistant data${browserPath ? '' : ' (skipped: no Chromium or Chrome installed)'}`, () => {
  it('says no configuration was found, what it means, and offers no job that needs it', async () => {
    const img = join(work, 'plain.img');
    mkfs(img, null);
    expect(cli(['info', img]).text).toMatch(/Home Assistant:\s+no configuration found on this filesystem/);
    await onCard({ ...suite, cardHeading: /^No Home Assistant configuration found$/ }, img, async (page, _heading, api) => {
      const box = page.locator('.warning-box.no-config');
      expect(await box.innerText()).toMatch(/^No Home Assistant configuration was found on this disk\.\s+It has no Home Assistant version, no users and no backups\. It may be another disk, or another partition of it, or a Home Assistant data partition that was wiped/);
      expect(await box.innerText()).toMatch(/What to do: choose another disk\./);
      const jobs = await page.locator('.jobs button').allInnerTexts();
      expect(jobs).toEqual(['Show the log', 'Free space']);
      expect(await page.getByRole('button', { name: 'Choose another disk' }).count()).toBe(1);

      for (const action of [{ kind: 'safe-mode', on: true }, { kind: 'add', username: 'rescue' }, { kind: 'reset', username: 'x', disableMfa: false }, { kind: 'restore-file', slug: '7fed74c8', name: 'configuration.yaml' }]) {
        const plan = await api('/api/plan', { action });
        expect(plan.status, plan.body).toBe(404);
        expect(JSON.parse(plan.body).error.code).toBe('NO_CONFIG');
      }
      const copy = await api('/api/extract', { folder: join(work, 'copied') });
      expect(copy.status, copy.body).toBe(404);
      expect(JSON.parse(copy.body).error.code).toBe('NO_BACKUPS');
      // Said before a folder is made (it left an empty one), with the right disk as the question.
      expect(JSON.parse(copy.body).error.hint).toMatch(/^it holds no Home Assistant configuration either: is it the right disk or partition\?/);
      expect(existsSync(join(work, 'copied'))).toBe(false);
    });
    expect(cli(['ls', img, '/']).text).not.toMatch(/supervisor/);
  });

  it('the sample card keeps every job (its configuration is there)', async () => {
    const img = join(work, 'sample.img');
    writeFileSync(img, readSampleImage());
    await onCard(suite, img, async (page) => {
      expect(await page.locator('.jobs button').count()).toBe(11);
      expect(await page.locator('.warning-box.no-config').count()).toBe(0);
    });
  });

  it('a card with a configuration and no backups: copying the backups says there are none and offers to make one, no folder made', async () => {
    const img = join(work, 'no-backups.img');
    mkfsConfigNoBackups(img, join(work, 'no-backups'));
    await onCard(suite, img, async (_page, _heading, api) => {
      const copy = await api('/api/extract', { folder: join(work, 'copied-none') });
      expect(copy.status, copy.body).toBe(404);
      const { error } = JSON.parse(copy.body);
      expect(error.code).toBe('NO_BACKUPS');
      expect(error.hint).toBe('"Make a backup from this card" makes one from what is on it');
      expect(existsSync(join(work, 'copied-none'))).toBe(false);
    });
  });
});

// The card file removed (or the disk pulled out) while the window is open, in a real Chromium: before, reads
// went on from the file still open, a write was refused with "does not exist… named like /dev/sdb", every read
// after it answered HTTP 500 "image … was used after it was closed", and "Copy the backups" then said "Done"
// with "0 backup(s) copied". Now every request says the card is gone (CARD_GONE, 410, never 500), the screen
// offers the disk list, and that list says it again; a copy that copied nothing is never "Done".

import { rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSampleImage } from '../../fixtures/index.js';
import { browserPath } from '../helpers/browser.js';
import { onCard, windowSuite } from '../helpers/gui-page.js';

const suite = windowSuite('gui-card-gone-');
const { work } = suite;


const errorOf = (body: string): { code: string; message: string; hint: string } => JSON.parse(body).error;

describe.skipIf(!browserPath)(`the card gone while the window is open${browserPath ? '' : ' (skipped: no Chromium or Chrome installed)'}`, () => {
  it('a write, the reads after it and a copy all say the card is gone (410), never 500 nor Done', async () => {
    const img = join(work, 'api.img');
    writeFileSync(img, readSampleImage());
    await onCard(suite, img, async (_page, _heading, api) => {
      rmSync(img);
      const write = await api('/api/write', { action: { kind: 'safe-mode', on: true }, confirmed: true, applyJournal: true });
      expect(write.status, write.body).toBe(410);
      expect(errorOf(write.body).code).toBe('CARD_GONE');
      expect(errorOf(write.body).message).toBe(`${img} is not there any more: the card was taken out, or the image file was moved or deleted`);
      expect(errorOf(write.body).hint).toMatch(/choose it again in the list of disks; an image file: put it back where it was and open it by its path \(image files are not in the list\); or open another$/);
      for (const path of ['/api/users', '/api/backups', '/api/key', '/api/space']) {
        const r = await api(path);
        expect(r.status, `${path} ${r.body}`).toBe(410);
        expect(errorOf(r.body).code).toBe('CARD_GONE');
      }
      const copy = await api('/api/extract', { folder: join(work, 'copied') });
      expect(copy.status, copy.body).toBe(410);
      // A page loaded now starts at the disk list, which says why.
      const state = JSON.parse((await api('/api/state')).body);
      expect(state.card).toBeNull();
      expect(state.gone.message).toMatch(/is not there any more/);
      // Another card opened: the window goes on with it.
      const other = join(work, 'other.img');
      writeFileSync(other, readSampleImage());
      expect((await api('/api/open', { path: other })).status).toBe(200);
      expect((await api('/api/users')).status).toBe(200);
      expect(JSON.parse((await api('/api/state')).body).gone).toBeNull();
    });
  });

  it('replaced by another file of the same name: gone as well (the file read is not the one chosen)', async () => {
    const img = join(work, 'replaced.img');
    writeFileSync(img, readSampleImage());
    await onCard(suite, img, async (_page, _heading, api) => {
      rmSync(img);
      writeFileSync(img, readSampleImage());
      const r = await api('/api/users');
      expect(r.status, r.body).toBe(410);
    });
  });

  // Cut short by another program while open: it was said as "Parts of this card could not be read" and the
  // window offered to copy the card to an image file, which cannot bring the cut part back.
  it('an image file cut short while open: said as that, no copy of the card offered', async () => {
    const img = join(work, 'shrunk.img');
    writeFileSync(img, readSampleImage());
    await onCard(suite, img, async (page, _heading, api) => {
      truncateSync(img, 12 * 1024 * 1024);
      const users = errorOf((await api('/api/users')).body) as ReturnType<typeof errorOf> & { cardFailing: boolean };
      expect(users.code).toBe('SOURCE_SHRANK');
      expect(users.cardFailing).toBe(false);
      expect(users.message).toMatch(/shrunk\.img is shorter now \(12582912 bytes\) than when it was opened/);
      await page.getByRole('button', { name: 'Show the users' }).click();
      const alert = page.getByRole('alert');
      await alert.getByText(/is shorter now .* than when it was opened/).waitFor({ timeout: 30_000 });
      expect(await alert.getByText(/let that program finish, then open the file again/).count()).toBe(1);
      expect(await page.getByRole('button', { name: /Copy the card/ }).count()).toBe(0);
    });
  });

  it('the screen says the card is gone and offers the disk list, which says it again', async () => {
    const img = join(work, 'page.img');
    writeFileSync(img, readSampleImage());
    await onCard(suite, img, async (page, heading) => {
      rmSync(img);
      await page.getByRole('button', { name: 'Copy the backups' }).click();
      const alert = page.getByRole('alert');
      await alert.getByText(/^The card is gone: .*page\.img is not there any more/).waitFor({ timeout: 30_000 });
      expect(await page.getByRole('heading', { level: 2, name: 'Done' }).count()).toBe(0);
      await alert.getByRole('button', { name: 'Choose the disk again' }).click();
      await heading('Choose the disk').waitFor();
      await page.locator('.warning-box.gone').getByText(/^The card is gone: .*page\.img is not there any more/).waitFor();
      // Reloaded: the same, with its path filled in; put back, it opens with one click (it said to choose it
      // in the list of disks, where image files never are, and the field was empty).
      await page.reload();
      await heading('Choose the disk').waitFor({ timeout: 30_000 });
      await page.locator('.warning-box.gone').getByText(/is not there any more/).waitFor();
      await expect(page.getByLabel('Image file or disk path').inputValue()).resolves.toBe(img);
      writeFileSync(img, readSampleImage());
      await page.getByRole('button', { name: 'Open', exact: true }).click();
      await heading(/^Home Assistant /).waitFor({ timeout: 30_000 });
    });
  });
});

// Words and small things of the browser window, in a real Chromium on the sample card:
// - backup dates: before "2024-11-21T17:58:38.135597+00:00"; now "2024-11-21 18:58" in this computer's time, as
//   `backup list` shows them, and each backup says whether it is encrypted (the command line's "protected");
// - the key screen: before "found in .storage/backup; backups on hassio.local are not encrypted (protected:
//   false)"; now what the key is for, as `backup key` says it;
// - at 390px a long path in an error box made the page scroll sideways; now it wraps;
// - the Done screen after a password reset says the next step (the card back into the box, log in);
// - expected card errors came back as HTTP 500; now 500 is for bugs (exit 70) alone.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BACKUPS, OWNER, readSampleImage } from '../../fixtures/index.js';
import { CorruptError, InternalError, IoError, NotFoundError } from '../../src/errors.js';
import { httpStatus } from '../../src/actions/gui/context.js';
import { browserPath } from '../helpers/browser.js';
import { cardPasswordIs } from '../helpers/card.js';
import { cliJson } from '../helpers/cli.js';
import { onCard, windowSuite } from '../helpers/gui-page.js';

const suite = windowSuite('gui-words-');
const { work } = suite;
const TZ = 'Europe/Berlin';


function sampleCard(name: string): string {
  const img = join(work, `${name}.img`);
  writeFileSync(img, readSampleImage());
  return img;
}

/** "2024-11-21 18:58" in Berlin time, as the command line shows a date there. */
function berlin(iso: string): string {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-GB', { timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(new Date(iso)).map((p) => [p.type, p.value]));
  return `${parts['year']}-${parts['month']}-${parts['day']} ${parts['hour']}:${parts['minute']}`;
}

describe('HTTP status of errors', () => {
  it('500 is for bugs alone; a refused read, damage and a missing file answer 4xx', () => {
    expect(httpStatus(new IoError('READ_FAILED', 'the card refused a read'))).toBe(409);
    expect(httpStatus(new IoError('NOT_RESCUED', 'not rescued', undefined, 65))).toBe(422);
    expect(httpStatus(new CorruptError('BAD', 'bad'))).toBe(422);
    expect(httpStatus(new NotFoundError('PATH_NOT_FOUND', 'gone'))).toBe(404);
    expect(httpStatus(new InternalError('INTERNAL', 'a bug'))).toBe(500);
  });
});

describe.skipIf(!browserPath)(`words of the window${browserPath ? '' : ' (skipped: no Chromium or Chrome installed)'}`, () => {
  it('backups: local dates as the command line shows them, and which are encrypted; the key: what it is for', async () => {
    const img = sampleCard('backups');
    const listed = cliJson<Array<{ date: string; name: string; protected: boolean }>>(['backup', 'list', img]);
    await onCard({ ...suite, timezoneId: TZ }, img, async (page, heading) => {
      await page.getByRole('button', { name: 'Copy the backups' }).click();
      const items = page.getByRole('list', { name: 'Backups on this card' }).getByRole('listitem');
      await items.first().waitFor({ timeout: 30_000 });
      expect(await items.count()).toBe(BACKUPS.length);
      for (const item of await items.all()) {
        const name = await item.locator('.backup-name').innerText();
        const b = BACKUPS.find((x) => x.name === name)!;
        const date = listed.find((l) => l.name === b.name)!.date;
        expect(await item.locator('.backup-date').innerText()).toBe(berlin(date));
        expect(await item.locator('.backup-lock').innerText()).toBe(b.protected ? 'encrypted: needs its key' : 'not encrypted');
      }
      await page.getByRole('button', { name: 'Back', exact: true }).click();
      await heading(/^Home Assistant /).waitFor();

      await page.getByRole('button', { name: 'Show the backup key' }).click();
      await page.locator('#backup-key').waitFor({ timeout: 30_000 });
      const text = await page.locator('section.screen').innerText();
      expect(text).toMatch(/This is the key Home Assistant asks for when you restore one of its encrypted backups\./);
      // Said as the setting it is: the list beside it can show older backups on the box that are encrypted.
      expect(text).toMatch(/New backups kept on the Home Assistant box itself are made without encryption \(a setting of Home Assistant\): those need no key\. Backups made before that setting, or with a password of their own, may still be encrypted\./);
      expect(text).not.toMatch(/protected: false|\.storage\/backup|hassio\.local/);
    });
  });

  it('at 390px a long path in an error box wraps: the page never scrolls sideways', async () => {
    const img = sampleCard('narrow');
    await onCard({ ...suite, viewport: { width: 390, height: 844 } }, img, async (page) => {
      await page.getByRole('button', { name: 'Export the configuration' }).click();
      await page.getByLabel('Save to').fill(`relative/${'averylongfoldernamewithoutspaces'.repeat(4)}/config`);
      await page.getByRole('button', { name: 'Export', exact: true }).click();
      await page.getByRole('alert').getByText(/is not a full path/).waitFor({ timeout: 30_000 });
      const widths = (await page.evaluate('[document.documentElement.scrollWidth, document.documentElement.clientWidth]')) as number[];
      expect(widths[0]).toBeLessThanOrEqual(widths[1]!);
    });
  });

  it('the Done screen after a password reset says the next step: the card back into the box, start it, log in', async () => {
    const img = sampleCard('reset');
    await onCard(suite, img, async (page, heading) => {
      await page.getByRole('button', { name: 'Reset a password' }).click();
      await page.getByLabel('New password').fill('Rescued-Pass-2026!');
      await page.getByLabel('Type it again').fill('Rescued-Pass-2026!');
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.getByRole('dialog', { name: 'Check before writing' }).getByRole('button', { name: 'Write it now' }).click();
      await heading('Done').waitFor({ timeout: 30_000 });
      const lines = await page.locator('.result li').allInnerTexts();
      // An image file: the box starts from a card it is written to, not from the card it came from.
      expect(lines.at(-1)).toBe(`Next: shut this window (Quit), then write the image file to a card (Raspberry Pi Imager: "Use custom", or balenaEtcher), put that card into the box and start it. When Home Assistant has started, log in as ${OWNER.username} with the new password.`);
    });
    expect(cardPasswordIs(img, OWNER.username, 'Rescued-Pass-2026!')).toBe(true);
  });
});

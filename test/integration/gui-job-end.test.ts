// How the browser window's long jobs end, in a real Chromium:
// - A job that fails: before, the status bar at the bottom kept "Exporting the configuration…", and at
//   390×844 it lay over the Back button and took its click. Now the status is cleared when the job fails, and
//   the bar never takes a click, nor covers the last buttons once the page is scrolled to its end.
// - A copy that left files out (the sample card cut to half its length): before, Export and Make a backup
//   ended on a plain "Done" while the command line says "error: the export is partial" (exit 65). Now the end
//   screen says it is partial in its heading and first, lists what was not copied and says what to do.

import { execFileSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { SAMPLE, readSampleImage } from '../../fixtures/index.js';
import { browserPath } from '../helpers/browser.js';
import { cli } from '../helpers/cli.js';
import { type Heading, onCard as onCardOf, windowSuite } from '../helpers/gui-page.js';

const suite = windowSuite('gui-job-end-');
const { work } = suite;
const PHONE = { width: 390, height: 844 };

/** The window on `card` in a new page of `viewport`, at its card screen; the server always stopped after `fn`. */
const onCard = (card: string, viewport: { width: number; height: number }, fn: (page: Page, heading: Heading) => Promise<void>): Promise<void> =>
  onCardOf({ ...suite, viewport }, card, (page, heading) => fn(page, heading));

const box = async (l: Locator) => (await l.boundingBox())!;

describe.skipIf(!browserPath)(`the end of a long job${browserPath ? '' : ' (skipped: no Chromium or Chrome installed)'}`, () => {
  it('a failed export clears the status bar; at 390×844 the bar never takes the click meant for Back', async () => {
    const img = join(work, 'card.img');
    writeFileSync(img, readSampleImage());
    await onCard(img, PHONE, async (page, heading) => {
      await page.getByRole('button', { name: 'Export the configuration' }).click();
      await page.getByLabel('Save to').fill('not/a/full/path');
      await page.getByRole('button', { name: 'Export', exact: true }).click();
      await page.getByRole('alert').getByText(/is not a full path/).waitFor({ timeout: 30_000 });
      expect(await page.locator('#status').innerText()).toBe('');
      // A note in the bar (as after Cancel), the page at its end: the last buttons lie above the bar...
      // (Strings run in the page: the tests compile without the DOM's types.)
      await page.evaluate(`document.getElementById('status').textContent = 'A long note in the status bar, as long as a progress line of a copy can be, over two or three lines';
        window.scrollTo(0, document.body.scrollHeight)`);
      const bar = await box(page.locator('#status'));
      const back = page.getByRole('button', { name: 'Back' });
      const b = await box(back);
      expect(b.y + b.height, 'the Back button ends above the status bar').toBeLessThanOrEqual(bar.y);
      // ...and scrolled so that Back lies under the bar, a click there still reaches Back.
      await page.evaluate(`window.scrollBy(0, ${b.y + b.height / 2 - (bar.y + bar.height / 2)})`);
      const under = await box(back);
      const bar2 = await box(page.locator('#status'));
      expect(under.y + under.height / 2).toBeGreaterThan(bar2.y);
      expect(under.y + under.height / 2).toBeLessThan(bar2.y + bar2.height);
      await page.mouse.click(under.x + under.width / 2, under.y + under.height / 2);
      await heading(/^Home Assistant /).waitFor({ timeout: 5_000 });
    });
  });

  it('on a card cut to half its length, Export and Make a backup say first that they are partial, what was not copied, and what to do', async () => {
    const full = readSampleImage();
    const img = join(work, 'half.img');
    writeFileSync(img, full.subarray(0, full.length / 2));
    const cliExport = cli(['export', img, '--out', join(work, 'cli-config')]);
    expect(cliExport.code).toBe(65);
    expect(cliExport.stderr).toMatch(/error: the export is partial: 4 path\(s\)/);
    await onCard(img, { width: 1000, height: 760 }, async (page, heading) => {
      await page.getByRole('button', { name: 'Export the configuration' }).click();
      await page.getByLabel('Save to').fill(join(work, 'config'));
      await page.getByRole('button', { name: 'Export', exact: true }).click();
      await heading('Partly done: not everything was copied').waitFor({ timeout: 30_000 });
      expect(await page.getByRole('heading', { level: 2, name: 'Done', exact: true }).count()).toBe(0);
      const partial = page.locator('.result .partial');
      const text = await partial.innerText();
      expect(text).toMatch(/^The export is partial: 4 files or folders could not be read from the card and were not copied\. Everything else was copied\. The card may be failing, or this image file is not complete\./);
      expect(text).toMatch(/\/supervisor\/homeassistant\/secrets\.yaml: read of \d+ bytes .* beyond the end of image/);
      expect(text).toMatch(/What to do: Keep the card as it is and copy it once to an image file on this computer .*, then export again from that copy\./);
      // Said first, and once: the box comes before what was copied, which does not list the files again.
      const result = await page.locator('.result').innerText();
      expect(result.indexOf('The export is partial')).toBe(0);
      expect(result.split('secrets.yaml')).toHaveLength(2);
      expect(readdirSync(join(work, 'config'))).toContain('configuration.yaml');
      await page.getByRole('button', { name: 'Back' }).click();

      await page.getByRole('button', { name: 'Make a backup from this card' }).click();
      await page.getByLabel('Save the backup as').fill(join(work, 'rescued.tar'));
      await page.getByRole('button', { name: 'Make the backup' }).click();
      await heading('Partly done: not everything was copied').waitFor({ timeout: 30_000 });
      expect(await partial.innerText()).toMatch(/^The backup is partial: 6 files or folders could not be read from the card and are not in it\. Everything else was copied\.[^\n]*\s+Not copied:/);
      expect(await partial.innerText()).toMatch(/What to do: .*, then make the backup again from that copy\./);
      // Not offered for restoring as if whole: what it lacks would be gone after the restore.
      expect(await page.locator('main').innerText()).not.toMatch(/Restore it in Home Assistant/);
    });
  });

  // A folder that fails its checksum was said as unreadable: "the card may be failing", with the copy of the
  // card offered; from the copy, the same, now with "copy the card again to the same file" (no way out).
  it('a folder damaged on the card (a checksum that fails) is said as damaged, and no copy of the card is offered', async () => {
    const img = join(work, 'damaged.img');
    const bytes = Buffer.from(readSampleImage());
    const block = Number(/^(\d+)/.exec(execFileSync('debugfs', ['-R', 'blocks /supervisor/homeassistant/.storage', dataOf(bytes)], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim())![1]);
    const at = SAMPLE.dataOffsetBytes + block * 4096 + 40;
    bytes[at] = bytes[at]! ^ 0xff;
    writeFileSync(img, bytes);
    await onCard(img, { width: 1000, height: 760 }, async (page, heading) => {
      await page.getByRole('button', { name: 'Export the configuration' }).click();
      await page.getByLabel('Save to').fill(join(work, 'config-damaged'));
      await page.getByRole('button', { name: 'Export', exact: true }).click();
      await heading('Partly done: not everything was copied').waitFor({ timeout: 30_000 });
      const text = await page.locator('.result .partial').innerText();
      expect(text).toMatch(/^The export is partial: 1 file or folder is damaged on the card and was not copied\. Everything else was copied\./);
      expect(text).toMatch(/\.storage: .*fails its checksum/);
      expect(text).toMatch(/a copy of the card would hold the same damage/);
      expect(text).not.toMatch(/may be failing/);
      expect(await page.getByRole('button', { name: 'Copy the card to an image file first' }).count()).toBe(0);
    });
  });
});

/** The data filesystem of a sample card image, as a file of its own (for debugfs). */
function dataOf(card: Buffer): string {
  const path = join(work, 'data-only.img');
  writeFileSync(path, card.subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes));
  return path;
}

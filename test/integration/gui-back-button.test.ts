// The browser's Back button in the window. The window is one page, and Back left it: after the grace time
// haos-rescue stopped ("the page was closed"), the typed passwords were lost, and Forward found nothing.
// Back now goes to the card screen from a job's screen, and stays on the card screen (saying how to end).

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSampleImage } from '../../fixtures/index.js';
import { browserPath } from '../helpers/browser.js';
import { onCard, windowSuite } from '../helpers/gui-page.js';

const suite = windowSuite('gui-back-');

describe.skipIf(!browserPath)(`the browser's Back button${browserPath ? '' : ' (skipped: no Chromium or Chrome installed)'}`, () => {
  it('goes back to the card screen, never off the page; haos-rescue keeps running', async () => {
    const card = join(suite.work, 'card.img');
    writeFileSync(card, readSampleImage());
    await onCard({ ...suite, browser: suite.browser }, card, async (page, heading, api) => {
      const url = page.url();
      await page.getByRole('button', { name: 'Reset a password' }).click();
      await page.getByLabel('New password').fill('typed before Back');
      await page.goBack();
      await heading(/^Home Assistant /).waitFor({ timeout: 10_000 });
      expect(page.url()).toBe(url);
      // On the card screen: Back stays, and says how to end.
      await page.goBack();
      await page.locator('#status').getByText(/To end haos-rescue, close this tab/).waitFor({ timeout: 10_000 });
      await heading(/^Home Assistant /).waitFor();
      // Past the window's grace time for a closed page (1 s here): still running.
      await new Promise((r) => setTimeout(r, 2500));
      expect((await api('/api/state')).status).toBe(200);
      await page.getByRole('button', { name: 'Show the users' }).click();
      await page.getByRole('cell', { name: 'vm-user', exact: true }).first().waitFor({ timeout: 10_000 });
    });
  });
});

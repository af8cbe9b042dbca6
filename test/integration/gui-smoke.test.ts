// The browser window's smoke test for every system (CI runs it on Windows and macOS too: it needs only
// Node, a Chrome or Chromium, and the committed sample card): the page opens the sample image by its path,
// shows the card, resets a password that then verifies with bcrypt, lists the users, and closing the page
// stops the server. The Linux-only oracles (e2fsck) are in gui-browser.test.ts.

import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { readSampleImage } from '../../fixtures/index.js';
import { browserPath, launchBrowser } from '../helpers/browser.js';
import { cardPasswordIs } from '../helpers/card.js';
import { startGui } from '../helpers/gui.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('gui-smoke-');
let browser: Browser | undefined;
afterAll(async () => {
  await browser?.close().catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
});

describe.skipIf(!browserPath)(`the browser window, smoke test${browserPath ? '' : ' (skipped: no Chromium or Chrome installed)'}`, () => {
  it('opens the sample, resets a password, lists the users; closing the page stops the server', async () => {
    const image = join(work, 'card.img');
    writeFileSync(image, readSampleImage());
    const gui = await startGui([], { HAOS_RESCUE_GUI_GRACE_MS: '500' });
    try {
      browser = await launchBrowser();
      const page = await browser.newPage();
      await page.goto(gui.url);
      await page.getByLabel('Image file or disk path').fill(image);
      await page.getByRole('button', { name: 'Open', exact: true }).click();
      await page.getByRole('heading', { level: 2, name: 'Home Assistant 2025.5.3' }).waitFor({ timeout: 30_000 });

      await page.getByRole('button', { name: 'Reset a password' }).click();
      await page.getByLabel('User').selectOption('mqtt-user');
      await page.getByLabel('New password').fill('smoke test pw 3');
      await page.getByLabel('Type it again').fill('smoke test pw 3');
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.getByRole('dialog', { name: 'Check before writing' }).getByRole('button', { name: 'Write it now' }).click();
      await page.getByRole('heading', { level: 2, name: 'Done' }).waitFor({ timeout: 60_000 });
      expect(cardPasswordIs(image, 'mqtt-user', 'smoke test pw 3')).toBe(true);

      await page.getByRole('button', { name: 'Back' }).click();
      await page.getByRole('button', { name: 'Show the users' }).click();
      await page.getByRole('row', { name: /^mqtt-user mqtt-user user/ }).waitFor();

      await browser.close();
      const end = await gui.exited;
      expect(end.code).toBe(0);
      expect(end.stdout).toMatch(/Stopped: the page was closed\./);
    } finally {
      gui.child.kill();
    }
  });
});

// The browser window's "Show the log" on a card whose /logs holds real journal files (systemd-journal-remote):
// the API gives the last lines as journalctl reads them; in Chromium the screen shows them, the newest at the
// bottom, points at safe mode when a custom integration failed, and offers older lines. The picture of the
// screen goes to docs/screenshots/14-log.png.

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SHOT_VIEWPORT, browserPath, launchBrowser, screenshot } from '../helpers/browser.js';
import { rawRequest, startGui } from '../helpers/gui.js';
import { tempDir } from '../helpers/images.js';
import { type ExportEntry, cardWithLogs, journalToolsMissing, journalctl, writeJournal } from '../helpers/journal.js';

const work = tempDir('gui-logs-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A start of Home Assistant that fails on a custom integration, after 290 ordinary lines. */
function startLines(): ExportEntry[] {
  const lines = Array.from({ length: 290 }, (_, i) => `2025-12-04 07:${String(Math.floor(i / 60)).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}.000 INFO (MainThread) [homeassistant.bootstrap] step ${i}`);
  lines.push(
    "2025-12-04 07:05:01.120 WARNING (SyncWorker_0) [homeassistant.loader] We found a custom integration solar_fancy which has not been tested by Home Assistant. This component might cause stability problems, be sure to disable it if you experience issues with Home Assistant",
    '2025-12-04 07:05:03.511 ERROR (MainThread) [homeassistant.setup] Error during setup of component solar_fancy',
    'Traceback (most recent call last):',
    '  File "/config/custom_components/solar_fancy/__init__.py", line 42, in async_setup',
    "    client = SolarClient(conf['host'])",
    "KeyError: 'host'",
    '2025-12-04 07:05:09.004 WARNING (MainThread) [homeassistant.bootstrap] Waiting on integrations to complete setup: solar_fancy',
  );
  return lines.map((message, i) => ({
    __REALTIME_TIMESTAMP: String(1_764_831_600_000_000 + i * 1_000_000),
    __MONOTONIC_TIMESTAMP: String(2_000_000 + i),
    _BOOT_ID: '5d41402abc4b2a76b9719d911017c592',
    MESSAGE: message,
    SYSLOG_IDENTIFIER: 'homeassistant',
    CONTAINER_NAME: 'homeassistant',
    PRIORITY: message.includes('ERROR') ? '3' : '6',
  }));
}

describe.skipIf(journalToolsMissing !== null || !browserPath)(
  `the browser window's log screen${journalToolsMissing ? ` (skipped: ${journalToolsMissing})` : !browserPath ? ' (skipped: no Chromium)' : ''}`,
  () => {
    it('shows the last lines, points at safe mode, offers older lines; the API answers what journalctl reads', async () => {
      const journal = join(work, 'system.journal');
      writeJournal(journal, startLines());
      const card = cardWithLogs(work, 'card.img', [[journal, 'system.journal']]);
      const oracle = journalctl([journal], 'homeassistant');
      const gui = await startGui([card]);
      const browser = await launchBrowser();
      try {
        const headers = { 'X-Rescue-Token': gui.token, Origin: gui.base };
        const api = async (q: string) => JSON.parse((await rawRequest(gui.port, 'GET', `/api/logs${q}`, headers)).body);
        const five = await api('?lines=5');
        expect(five.lines.map((l: { message: string }) => l.message)).toEqual(oracle.slice(-5).map((e) => e.message));
        expect(five).toMatchObject({ customIntegration: true, more: true, problems: [] });
        expect(five.summary).toBe('The last 5 line(s) Home Assistant wrote, from 1 log file(s) on the card.');
        expect((await api('?lines=junk')).lines.length).toBe(200);

        const page = await browser.newPage({ viewport: SHOT_VIEWPORT });
        await page.goto(gui.url);
        await page.getByRole('button', { name: 'Show the log' }).click();
        const log = page.getByLabel('Log lines');
        await log.waitFor({ timeout: 30_000 });
        const text = await log.textContent();
        expect(text!.trimEnd().split('\n').length).toBe(201); // a date row, then the lines
        expect(text).toContain("KeyError: 'host'");
        expect(text!.trimEnd().endsWith('Waiting on integrations to complete setup: solar_fancy')).toBe(true);
        // The newest lines are in view: the box is scrolled to its end.
        await expect.poll(() => log.evaluate((n) => n.scrollTop + n.clientHeight >= n.scrollHeight - 2)).toBe(true);
        await page.getByText('A custom integration is named in these lines.', { exact: false }).waitFor();
        await page.getByRole('button', { name: 'Show more lines' }).waitFor();
        await screenshot(page, '14-log');
        await page.getByRole('button', { name: 'Show more lines' }).click();
        await expect.poll(async () => (await page.getByLabel('Log lines').textContent())!.trimEnd().split('\n').length).toBe(298);
        await page.getByRole('button', { name: 'Safe mode', exact: true }).click();
        await page.getByRole('button', { name: 'Set safe mode' }).waitFor();
      } finally {
        await browser.close().catch(() => undefined);
        gui.child.kill('SIGTERM');
        await gui.exited;
      }
    }, 120_000);
  },
);

// Stop in the page, in a real Chromium, on a slow card (a FUSE file that answers every read late): before, Stop
// only greyed itself out while the card took its time (13 s on a failing card) and the progress line went on.
// Now the status bar says "Stopping… (waiting for the card to answer)" the moment Stop is pressed, nothing
// overwrites it until the job has stopped, and the focus goes back to the job's own button ("Copy the card":
// copying again continues). A second tab meets the job with a Stop for it; a page reloaded during it shows it
// under way and then its end. Needs root, /dev/fuse, python3-fusepy and Chromium (skipped otherwise).

import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { readSampleImage } from '../../fixtures/index.js';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { browserPath, launchBrowser } from '../helpers/browser.js';
import { failingCardUnavailable, withFailingCard } from '../helpers/failing-card.js';
import { sampleWithBadSectors } from '../helpers/failing-sample.js';
import { rawRequest, startGui } from '../helpers/gui.js';
import { tempDir } from '../helpers/images.js';

const reason = failingCardUnavailable() ?? (browserPath ? null : 'no Chromium or Chrome installed');
const work = tempDir('gui-stop-page-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Run in the page: every text the status bar shows from now on, with when (performance.now()). */
const RECORD = `(() => {
  const seen = [];
  window.__statusSeen = seen;
  const status = document.getElementById('status');
  new MutationObserver(() => seen.push([performance.now(), status.textContent])).observe(status, { childList: true, characterData: true, subtree: true });
})()`;

type Browser = Awaited<ReturnType<typeof launchBrowser>>;

/**
 * The window on a slow card (the sample with bad sectors over its login file, every read `latencyMs` late):
 * `fn` gets a browser and the window's address; both are stopped after it.
 */
async function onSlowCard(name: string, latencyMs: number, fn: (browser: Browser, url: string) => Promise<void>): Promise<void> {
  const image = join(work, `${name}.img`);
  const bad = await sampleWithBadSectors(image);
  const home = join(work, `home-${name}`);
  mkdirSync(join(home, 'Downloads'), { recursive: true });
  await withFailingCard({ image, bad: [bad], failDelayMs: 1, latencyMs }, async (card) => {
    const gui = await startGui([card.path], { HOME: home, HAOS_RESCUE_GUI_GRACE_MS: '5000' });
    const browser = await launchBrowser();
    try {
      await fn(browser, gui.url);
    } finally {
      await browser.close().catch(() => undefined);
      gui.child.kill('SIGTERM');
      await gui.exited;
    }
  });
}

/** Starts copying the card to `out` in `page` (on the card screen), and waits for its first progress line. */
async function startCopy(page: Awaited<ReturnType<Browser['newPage']>>, out: string): Promise<void> {
  await page.getByRole('button', { name: 'Copy the card to an image file first' }).click({ timeout: 60_000 });
  await page.getByLabel('Save the copy as').fill(out);
  await page.getByRole('button', { name: 'Copy the card', exact: true }).click();
  await page.locator('#status').filter({ hasText: 'rescued' }).waitFor({ timeout: 30_000 });
}

describe.skipIf(reason !== null)(`Stop in the page${reason ? ` (skipped: ${reason})` : ''}`, () => {
  it('says at once that it is stopping, keeps saying it until stopped, then gives the focus back to the job\'s button', async () => {
    await onSlowCard('card', 30, async (browser, url) => {
      const page = await browser.newPage({ viewport: { width: 1000, height: 760 } });
      await page.goto(url);
      // Under way: a progress line has been shown.
      await startCopy(page, join(work, 'copy.img'));
      const stop = page.getByRole('button', { name: 'Stop' });
      await page.evaluate(RECORD);
      const pressed = (await page.evaluate('performance.now()')) as number;
      await stop.click();
      await page.getByRole('alert').getByText(/stopped; the .* copied so far are kept in/).waitFor({ timeout: 60_000 });
      const seen = (await page.evaluate('window.__statusSeen')) as Array<[number, string]>;
      const texts = seen.map(([, t]) => t).filter((t) => t !== '');
      expect(texts[0]).toBe('Stopping… (waiting for the card to answer)');
      expect(seen.find(([, t]) => t !== '')![0] - pressed).toBeLessThan(1000);
      // Nothing else was said while it stopped, and the bar is empty once it has.
      expect(texts.slice(1).filter((t) => t !== 'Stopping… (waiting for the card to answer)')).toEqual([]);
      expect(await page.locator('#status').innerText()).toBe('');
      expect(await page.evaluate('document.activeElement && document.activeElement.textContent')).toBe('Copy the card');
    });
  }, 120_000);

  // A second tab, open before the job began, went on unseen: "wait until it ends, or stop it", and no Stop.
  it('a second page that meets the job under way is refused with a Stop for it, which stops it', async () => {
    await onSlowCard('card2', 30, async (browser, url) => {
      const first = await browser.newPage({ viewport: { width: 1000, height: 760 } });
      await first.goto(url);
      const second = await browser.newPage({ viewport: { width: 1000, height: 760 } });
      await second.goto(url);
      await second.getByRole('button', { name: 'Copy the card to an image file first' }).waitFor({ timeout: 60_000 });
      await startCopy(first, join(work, 'copy2.img'));
      await second.getByRole('button', { name: 'Copy the card to an image file first' }).click();
      await second.getByLabel('Save the copy as').fill(join(work, 'copy3.img'));
      await second.getByRole('button', { name: 'Copy the card', exact: true }).click();
      const refused = second.getByRole('alert').filter({ hasText: 'is still under way' });
      await refused.waitFor({ timeout: 30_000 });
      await refused.getByRole('button', { name: 'Stop it' }).click();
      await second.getByRole('alert').getByText('It was stopped.').waitFor({ timeout: 60_000 });
      await first.getByRole('alert').getByText(/stopped; the .* copied so far are kept in/).waitFor({ timeout: 60_000 });
    });
  }, 120_000);

  // Reloaded during a copy, the page said only "haos-rescue is busy" on the card screen, and the copy's end (its
  // Done screen, or its error) was never shown: it went to the request of the page that was gone.
  it('a page reloaded during a copy shows it under way, with Stop, and then its end', async () => {
    await onSlowCard('card4', 20, async (browser, url) => {
      const page = await browser.newPage({ viewport: { width: 1000, height: 760 } });
      await page.goto(url);
      await startCopy(page, join(work, 'copy4.img'));
      await page.reload();
      await page.getByRole('heading', { name: 'Copy the card to an image file: under way' }).waitFor({ timeout: 30_000 });
      expect(await page.getByRole('button', { name: 'Stop' }).count()).toBe(1);
      // Its end, as the page that started it would have shown it (the copy left the bad sectors out).
      await page.getByRole('heading', { name: 'Done', exact: true }).waitFor({ timeout: 90_000 });
      const said = await page.locator('.result').innerText();
      expect(said).toContain(`to ${join(work, 'copy4.img')} (map: `);
      expect(said).toContain('4 KiB could not be read');
    });
  }, 150_000);

  it('a page loaded during a write shows it under way without Stop (a write is never stopped halfway: Stop said "Stopping…", then "Done")', async () => {
    const image = join(work, 'write.img');
    writeFileSync(image, readSampleImage());
    const home = join(work, 'home-write');
    mkdirSync(join(home, 'Downloads'), { recursive: true });
    await withFailingCard({ image, bad: [], latencyMs: 80, writable: true }, async (card) => {
      const gui = await startGui([card.path], { HOME: home, HAOS_RESCUE_GUI_GRACE_MS: '5000' });
      const browser = await launchBrowser();
      try {
        const headers = { 'X-Rescue-Token': gui.token, Origin: gui.base, 'Content-Type': 'application/json' };
        const action = { kind: 'safe-mode', on: true };
        const plan = JSON.parse((await rawRequest(gui.port, 'POST', '/api/plan', headers, JSON.stringify({ action }))).body);
        const written = rawRequest(gui.port, 'POST', '/api/write', headers, JSON.stringify({ action, confirmed: true, applyJournal: false, cardVersion: plan.cardVersion }));
        const page = await browser.newPage({ viewport: { width: 1000, height: 760 } });
        await page.goto(gui.url);
        await page.getByRole('heading', { name: 'Writing a change to the card: under way' }).waitFor({ timeout: 30_000 });
        expect(await page.getByRole('button', { name: 'Stop' }).count()).toBe(0);
        await page.getByText(/A change being written is never stopped halfway: it ends in a few seconds\./).waitFor();
        expect((await written).status).toBe(200);
        await page.getByRole('heading', { name: 'Done', exact: true }).waitFor({ timeout: 60_000 });
      } finally {
        await browser.close().catch(() => undefined);
        gui.child.kill('SIGTERM');
        await gui.exited;
      }
    });
  }, 150_000);
});

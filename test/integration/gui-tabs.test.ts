// Two tabs of the browser window on one card, in a real Chromium: a change planned in one tab is written
// only onto the card it was planned on. Before: both tabs reset the password of vm-user, each with its own
// password; the second write went through on a card the first had changed since its plan was shown, and both
// tabs said "Read back from the card and verified" while only the second password was on the card. Now the
// second is refused (nothing written) and shown again as it is now, and the first tab's Done screen says that
// the card was changed again since.

import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSampleImage } from '../../fixtures/index.js';
import { browserPath, launchBrowser } from '../helpers/browser.js';
import { assertCardClean, cardPasswordIs } from '../helpers/card.js';
import { type GuiProcess, startGui } from '../helpers/gui.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('gui-tabs-');
const image = join(work, 'card.img');
let gui: GuiProcess;
let browser: Browser;
let one: Page;
let two: Page;

const heading = (page: Page, name: string | RegExp) => page.getByRole('heading', { level: 2, name });
const dialog = (page: Page) => page.getByRole('dialog', { name: 'Check before writing' });

/** On the card screen: Reset a password for vm-user with `pw`, up to the open confirmation. */
async function planReset(page: Page, pw: string): Promise<void> {
  await page.getByRole('button', { name: 'Reset a password' }).click();
  await page.getByLabel('User').selectOption('vm-user');
  await page.getByLabel('New password').fill(pw);
  await page.getByLabel('Type it again').fill(pw);
  await page.getByRole('button', { name: 'Continue' }).click();
  await dialog(page).waitFor();
}

/** On the card screen: adds the administrator `login` with `pw`, written, up to the Done screen. */
async function addAdmin(page: Page, login: string, pw: string): Promise<void> {
  await page.getByRole('button', { name: 'Add an administrator' }).click();
  await page.getByLabel('Login name').fill(login);
  await page.getByLabel('New password').fill(pw);
  await page.getByLabel('Type it again').fill(pw);
  await page.getByRole('button', { name: 'Continue' }).click();
  await dialog(page).getByRole('button', { name: 'Write it now' }).click();
  await heading(page, 'Done').waitFor({ timeout: 30_000 });
}

/** Both tabs loaded again, on the card screen (whatever the test before left them on). */
async function bothOnCard(): Promise<void> {
  for (const page of [one, two]) {
    await page.reload();
    await heading(page, /^Home Assistant /).waitFor({ timeout: 30_000 });
  }
}

async function backToCard(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Back' }).click();
  await heading(page, /^Home Assistant /).waitFor();
}

beforeAll(async () => {
  if (!browserPath) return;
  mkdirSync(join(work, 'home', 'Downloads'), { recursive: true });
  writeFileSync(image, readSampleImage());
  gui = await startGui([image], { HOME: join(work, 'home'), HAOS_RESCUE_GUI_GRACE_MS: '1000' });
  browser = await launchBrowser();
  const context = await browser.newContext({ viewport: { width: 1000, height: 760 } });
  one = await context.newPage();
  two = await context.newPage();
  for (const page of [one, two]) {
    await page.goto(gui.url);
    await heading(page, /^Home Assistant /).waitFor({ timeout: 30_000 });
  }
}, 60_000);

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  gui?.child.kill('SIGTERM');
  await gui?.exited;
  rmSync(work, { recursive: true, force: true });
});

describe.skipIf(!browserPath)(`two tabs on one card${browserPath ? '' : ' (skipped: no Chromium or Chrome installed)'}`, () => {
  it('a write planned before the other tab changed the card is refused and shown again; the Done screen of the first says so', async () => {
    await planReset(one, 'tab one password 1');
    await planReset(two, 'tab two password 2');
    await dialog(one).getByRole('button', { name: 'Write it now' }).click();
    await heading(one, 'Done').waitFor({ timeout: 30_000 });
    expect(cardPasswordIs(image, 'vm-user', 'tab one password 1')).toBe(true);

    // The second tab's plan was made before that write: nothing is written, the change is shown again.
    await dialog(two).getByRole('button', { name: 'Write it now' }).click();
    await dialog(two).getByText(/^Nothing was written: the card was changed in another tab or window since this was shown \(a new password for vm-user\)\./).waitFor({ timeout: 30_000 });
    expect(await heading(two, 'Done').count()).toBe(0);
    await expect(two.locator('#status').innerText()).resolves.toBe('The card was changed in another tab: check the change again.');
    expect(cardPasswordIs(image, 'vm-user', 'tab one password 1')).toBe(true);

    // Confirmed again, in turn: it is written, and the first tab's Done screen no longer stands alone.
    await dialog(two).getByRole('button', { name: 'Write it now' }).click();
    await heading(two, 'Done').waitFor({ timeout: 30_000 });
    await expect(two.getByText(/Done: new password for vm-user\. Read back from the image file \S+ \(not a card\) and verified\./).isVisible()).resolves.toBe(true);
    await one.getByText(/^Since then the card was changed again, from another tab or window: a new password for vm-user\./).waitFor({ timeout: 10_000 });
    expect(cardPasswordIs(image, 'vm-user', 'tab two password 2')).toBe(true);
    expect(cardPasswordIs(image, 'vm-user', 'tab one password 1')).toBe(false);
    assertCardClean(image);
    await backToCard(one);
    await backToCard(two);
  });

  // The count of changes went back to 0 with each disk opened: a plan shown for one card, confirmed after the
  // other tab opened another, was written onto that other card ("Done: new password", on the wrong one).
  it('a write planned before the other tab opened another disk is refused, and shown again for that disk', async () => {
    const other = join(work, 'other.img');
    writeFileSync(other, readSampleImage());
    await planReset(one, 'for the first card 5');
    await two.getByRole('button', { name: 'Choose another disk' }).click();
    await two.getByLabel('Image file or disk path').fill(other);
    await two.getByRole('button', { name: 'Open', exact: true }).click();
    await heading(two, /^Home Assistant /).waitFor({ timeout: 30_000 });
    await dialog(one).getByRole('button', { name: 'Write it now' }).click();
    await dialog(one).getByText(/^Nothing was written: another disk was opened in another tab or window since this was shown \(\S*other\.img was opened\): this change was for the one before/).waitFor({ timeout: 30_000 });
    await expect(dialog(one).innerText()).resolves.toMatch(/other\.img/);
    expect(await heading(one, 'Done').count()).toBe(0);
    expect(cardPasswordIs(image, 'vm-user', 'for the first card 5')).toBe(false);
    expect(cardPasswordIs(other, 'vm-user', 'for the first card 5')).toBe(false);
    await dialog(one).getByRole('button', { name: 'Cancel' }).click();
    await backToCard(one);
    await two.getByRole('button', { name: 'Choose another disk' }).click();
    await two.getByLabel('Image file or disk path').fill(image);
    await two.getByRole('button', { name: 'Open', exact: true }).click();
    await heading(two, /^Home Assistant /).waitFor({ timeout: 30_000 });
  });

  // The other tab's card screen kept "Users 2" after a login was added (and a page reloaded during the write too).
  it('the card screen of the other tab is drawn again after a change, and says what changed', async () => {
    const users = (page: Page) => page.locator('dt', { hasText: /^Users$/ }).locator('xpath=following-sibling::dd[1]');
    const before = await users(two).innerText();
    await addAdmin(one, 'from-tab-one', 'tab one admin 6');
    await two.locator('#status').getByText('The card was changed: a new login from-tab-one.').waitFor({ timeout: 10_000 });
    expect(Number(await users(two).innerText())).toBe(Number(before) + 1);
    await backToCard(one);
  });

  it('"Write it now" in both tabs at once: one is written and says Done, the other is not written', async () => {
    await planReset(one, 'at once one 3');
    await planReset(two, 'at once two 4');
    await Promise.all([one, two].map((page) => dialog(page).getByRole('button', { name: 'Write it now' }).click()));
    const settled = async (page: Page): Promise<'done' | 'not written'> => {
      const done = heading(page, 'Done');
      const refused = page.getByText(/card was changed in another tab|a change to the card is being written/).first();
      await done.or(refused).waitFor({ timeout: 30_000 });
      return (await done.count()) > 0 ? 'done' : 'not written';
    };
    const outcomes = [await settled(one), await settled(two)];
    expect(outcomes.filter((o) => o === 'done')).toHaveLength(1);
    const winner = outcomes[0] === 'done' ? 'at once one 3' : 'at once two 4';
    const loser = outcomes[0] === 'done' ? 'at once two 4' : 'at once one 3';
    expect(cardPasswordIs(image, 'vm-user', winner)).toBe(true);
    expect(cardPasswordIs(image, 'vm-user', loser)).toBe(false);
    assertCardClean(image);
  });

  it('a step\'s screen drawn before another tab changed the card says so ("Show the users" kept the old list, unsaid)', async () => {
    await bothOnCard();
    await two.getByRole('button', { name: 'Show the users' }).click();
    await heading(two, 'Show the users').waitFor({ timeout: 30_000 });
    await addAdmin(one, 'stale-check', 'stale check admin 7');
    await two.locator('.warning-box.stale').getByText('The card was changed in another tab or window since this was shown: a new login stale-check. Go Back and open this step again to see it as it is now.').waitFor({ timeout: 10_000 });
  });

  it('"Choose another disk" in one tab takes the other to the list of disks too (it stayed on the card, every step saying no disk is open)', async () => {
    await bothOnCard();
    await one.getByRole('button', { name: 'Choose another disk' }).click();
    await heading(one, 'Choose the disk').waitFor({ timeout: 30_000 });
    await heading(two, 'Choose the disk').waitFor({ timeout: 10_000 });
    await two.locator('.warning-box.changed').getByText(`${image} was closed in another tab or window: choose the disk to go on with.`).waitFor({ timeout: 10_000 });
    // Opened again in the first: the other follows (one disk is open at a time), told so; the first is not.
    await one.getByLabel('Image file or disk path').fill(image);
    await one.getByRole('button', { name: 'Open', exact: true }).click();
    await heading(one, /^Home Assistant /).waitFor({ timeout: 30_000 });
    await heading(two, /^Home Assistant /).waitFor({ timeout: 10_000 });
    await two.locator('#status').getByText(`${image} was opened in another tab or window.`).waitFor({ timeout: 10_000 });
    expect(await one.locator('#status').innerText()).not.toMatch(/in another tab/);
  });
});

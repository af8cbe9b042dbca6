// The browser window end to end, in a real Chromium: choose a card image, reset a password (e2fsck -fn
// clean, bcrypt verifies), add an administrator named like an HTML tag (shown as text, never run), copy
// the backups (byte-identical), export, the backup key, a new backup, free space, safe mode; a tab of
// another origin can neither read nor write; closing the page stops the server. Each screen is saved
// as a picture in docs/screenshots/ (the README shows them).

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSampleImage } from '../../fixtures/index.js';
import { makeDirty } from '../../scripts/fixtures/make-dirty.mjs';
import { SHOT_VIEWPORT, browserPath, launchBrowser, screenshot } from '../helpers/browser.js';
import { assertCardClean, cardPasswordIs } from '../helpers/card.js';
import { cli } from '../helpers/cli.js';
import { type GuiProcess, startGui } from '../helpers/gui.js';

const HOSTILE = '<img src=x onerror=alert(1)>';
// A fixed folder, so that the paths shown in the screenshots are the same on every run.
const work = join(tmpdir(), 'haos-rescue-gui-test');
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const image = join(work, 'card.img');
const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');
let gui: GuiProcess;
let browser: Browser;
let page: Page;
let foreign: Server;
/** A read-only loop device on a copy of the card, so the disk list shows a real disk (root on Linux only). */
let loop: string | null = null;

function attachLoop(): string | null {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return null;
  writeFileSync(join(work, 'loop-card.img'), readSampleImage());
  const r = spawnSync('losetup', ['--find', '--show', '--read-only', join(work, 'loop-card.img')], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}
const alerts: string[] = [];

/** Saves the screen as a picture for the README (and checks its labels). */
const shot = (name: string): Promise<void> => screenshot(page, name);
const heading = (name: string | RegExp) => page.getByRole('heading', { level: 2, name });

async function done(): Promise<void> {
  await heading('Done').waitFor({ timeout: 60_000 });
}

async function back(): Promise<void> {
  await page.getByRole('button', { name: 'Back' }).click();
  await heading(/^Home Assistant /).waitFor();
}

async function confirmWrite(screenshot?: string): Promise<void> {
  const dialog = page.getByRole('dialog', { name: 'Check before writing' });
  await dialog.waitFor();
  if (screenshot) await shot(screenshot);
  await dialog.getByRole('button', { name: 'Write it now' }).click();
  await done();
}

async function passwords(pw: string): Promise<void> {
  await page.getByLabel('New password').fill(pw);
  await page.getByLabel('Type it again').fill(pw);
  await page.getByRole('button', { name: 'Continue' }).click();
}

beforeAll(async () => {
  if (!browserPath) return;
  mkdirSync(join(work, 'home', 'Downloads'), { recursive: true });
  writeFileSync(image, readSampleImage());
  loop = attachLoop();
  gui = await startGui([], { HOME: join(work, 'home'), HAOS_RESCUE_GUI_GRACE_MS: '1000' });
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: SHOT_VIEWPORT });
  page.on('dialog', (d) => {
    alerts.push(d.message());
    void d.dismiss();
  });
}, 60_000);

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  gui?.child.kill('SIGTERM');
  foreign?.close();
  if (loop) spawnSync('losetup', ['-d', loop]);
  rmSync(work, { recursive: true, force: true });
});

describe.skipIf(!browserPath)(`the browser window in Chromium${browserPath ? '' : ' (skipped: no Chromium or Chrome installed)'}`, () => {
  it('starts at the disk list and opens an image file by its path', async () => {
    await page.goto(gui.url);
    await heading('Choose the disk').waitFor({ timeout: 30_000 });
    await page.getByRole('button', { name: 'Look again' }).waitFor({ timeout: 60_000 });
    await shot('01-choose-disk');
    if (loop) {
      // The card on a disk: its button shows the card picture and opens it.
      const disk = page.getByRole('button', { name: new RegExp(`^${loop}`) });
      await expect(disk.textContent()).resolves.toMatch(/2025\.5\.3/);
      await disk.click();
      await heading('Home Assistant 2025.5.3').waitFor({ timeout: 30_000 });
      await page.getByRole('button', { name: 'Choose another disk' }).click();
      await heading('Choose the disk').waitFor();
    }
    await page.getByLabel('Image file or disk path').fill(image);
    await page.getByRole('button', { name: 'Open', exact: true }).click();
    await heading('Home Assistant 2025.5.3').waitFor({ timeout: 30_000 });
    await expect(page.getByText(image).first().isVisible()).resolves.toBe(true);
    await shot('02-card');
    await page.emulateMedia({ colorScheme: 'dark' });
    await shot('02-card-dark');
    await page.emulateMedia({ colorScheme: 'light' });
  });

  it('a tab of another origin can neither read nor write, even knowing the token', async () => {
    const before = sha(image);
    const write = JSON.stringify({ action: { kind: 'reset', username: 'vm-user', disableMfa: false }, password: 'owned', confirmed: true, applyJournal: true });
    foreign = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('<!doctype html><title>other site</title>');
    });
    await new Promise<void>((r) => foreign.listen(0, '127.0.0.1', () => r()));
    const other = await browser.newPage();
    await other.goto(`http://localhost:${(foreign.address() as AddressInfo).port}/`);
    const results = await other.evaluate(async ({ base, token, body }) => {
      const tries: string[] = [];
      const attempt = async (what: string, fn: () => Promise<Response>): Promise<void> => {
        try {
          const r = await fn();
          tries.push(`${what}: ${r.type} ${r.status}`);
        } catch (e) {
          tries.push(`${what}: ${(e as Error).name}`);
        }
      };
      await attempt('read', () => fetch(`${base}/api/users?token=${token}`));
      await attempt('read with header', () => fetch(`${base}/api/users`, { headers: { 'X-Rescue-Token': token } }));
      await attempt('json write', () => fetch(`${base}/api/write`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Rescue-Token': token }, body }));
      await attempt('simple write', () => fetch(`${base}/api/write?token=${token}`, { method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'text/plain' }, body }));
      return tries;
    }, { base: gui.base, token: gui.token, body: write });
    await other.close();
    // No answer is readable by the other page: a network error (CORS, or the browser's own local-network
    // rule), or at most an opaque answer to a no-cors POST (which the server refused: the card is unchanged).
    expect(results).toHaveLength(4);
    for (const r of results) expect(r).toMatch(/: (TypeError|opaque 0)$/);
    expect(sha(image)).toBe(before);
  });

  it('resets a password: shown first, written on yes; e2fsck -fn clean and bcrypt verifies', async () => {
    await page.getByRole('button', { name: 'Reset a password' }).click();
    await heading('Reset a password').waitFor();
    await page.getByLabel('User').selectOption('vm-user');
    await page.getByLabel('New password').fill('short');
    await expect(page.getByText(/weak/).first().isVisible()).resolves.toBe(true);
    await page.getByLabel('Type it again').fill('different');
    await page.getByRole('button', { name: 'Continue' }).click();
    await expect(page.getByRole('dialog').isVisible()).resolves.toBe(false);
    await shot('03-reset-password');
    await passwords('a new long password 7');
    await confirmWrite('04-check-before-writing');
    await shot('05-done');
    await back();
    assertCardClean(image);
    expect(cardPasswordIs(image, 'vm-user', 'a new long password 7')).toBe(true);
  });

  it('adds an administrator whose name is HTML: it is shown as text and never runs', async () => {
    await page.getByRole('button', { name: 'Add an administrator' }).click();
    // A name in use is refused before the confirmation.
    await page.getByLabel('Login name').fill('VM-User');
    await passwords('rescue pw 1');
    await page.getByRole('alert').filter({ hasText: /exists already/ }).first().waitFor();
    await expect(page.getByRole('dialog').isVisible()).resolves.toBe(false);
    // A name Home Assistant would keep otherwise: refused before the confirmation too (it was after "Write it now").
    await page.getByLabel('Login name').fill('Rescue Admin');
    await passwords('rescue pw 1');
    await page.getByRole('alert').filter({ hasText: /keeps login names in small letters: "Rescue Admin" would be "rescue admin"/ }).first().waitFor();
    await expect(page.getByRole('dialog').isVisible()).resolves.toBe(false);
    await page.getByLabel('Login name').fill(HOSTILE);
    await passwords('rescue pw 1');
    await confirmWrite();
    await back();
    await page.getByRole('button', { name: 'Show the users' }).click();
    await page.getByRole('cell', { name: HOSTILE, exact: true }).waitFor();
    await shot('06-users');
    expect(await page.locator('main img').count()).toBe(0);
    expect(alerts).toEqual([]);
    expect(cardPasswordIs(image, HOSTILE, 'rescue pw 1')).toBe(true);
    await back();
  });

  it('copies the backups byte-identical into the folder typed', async () => {
    const out = join(work, 'backups');
    await page.getByRole('button', { name: 'Copy the backups' }).click();
    // The folder picker: it starts in Downloads, goes into a subfolder, and fills the field.
    mkdirSync(join(work, 'home', 'Downloads', 'picked'), { recursive: true });
    await page.getByRole('button', { name: 'Browse…' }).click();
    const picker = page.getByRole('group', { name: 'Folder browser' });
    await picker.getByRole('button', { name: 'picked' }).click();
    await picker.getByRole('button', { name: 'Use this folder' }).click();
    await expect(page.getByLabel('Folder', { exact: true }).inputValue()).resolves.toBe(join(work, 'home', 'Downloads', 'picked'));
    await page.getByLabel('Folder', { exact: true }).fill(out);
    await shot('07-copy-backups');
    await page.getByRole('button', { name: 'Copy', exact: true }).click();
    await done();
    const names = readdirSync(out).sort();
    expect(names.length).toBe(3);
    for (const name of names) expect(sha(join(out, name))).toBe(createHash('sha256').update(cli(['cat', image, `/supervisor/backup/${name}`]).stdout).digest('hex'));
    await back();
  });

  it('exports the configuration, shows the backup key, and makes a backup from the card', async () => {
    await page.getByRole('button', { name: 'Export the configuration' }).click();
    await page.getByLabel('Save to').fill(join(work, 'config'));
    await page.getByRole('button', { name: 'Export', exact: true }).click();
    await done();
    expect(existsSync(join(work, 'config', 'configuration.yaml'))).toBe(true);
    await back();

    await page.getByRole('button', { name: 'Show the backup key' }).click();
    await heading('Show the backup key').waitFor();
    await page.getByRole('button', { name: 'Back' }).waitFor();
    await shot('08-backup-key');
    await back();

    await page.getByRole('button', { name: 'Make a backup from this card' }).click();
    await page.getByLabel('Save the backup as').fill(join(work, 'rescued.tar'));
    await page.getByRole('button', { name: 'Make the backup' }).click();
    await done();
    // What a restore will ask for is said (it said only "encrypted, SecureTar v2").
    await page.getByText(/^When restoring it, Home Assistant asks for this card's backup key: [A-Z0-9]{4}(-[A-Z0-9]{4}){6}$/).waitFor();
    expect(statSync(join(work, 'rescued.tar')).size).toBeGreaterThan(10_000);
    expect(cli(['backup', 'ls', join(work, 'rescued.tar')]).code).toBe(0);
    await back();
  });

  it('frees space (deletes the history database) and sets safe mode; the card stays e2fsck-clean', async () => {
    await page.getByRole('button', { name: 'Free space' }).click();
    await page.getByRole('button', { name: 'Delete the history database' }).waitFor({ timeout: 30_000 });
    await shot('09-free-space');
    await page.getByRole('button', { name: 'Delete the history database' }).click();
    await confirmWrite();
    await back();
    expect(cli(['ls', image, '/supervisor/homeassistant/home-assistant_v2.db']).code).toBe(66);

    await page.getByRole('button', { name: 'Safe mode' }).click();
    await page.getByRole('button', { name: 'Set safe mode' }).click();
    await confirmWrite();
    await back();
    expect(cli(['ls', image, '/supervisor/homeassistant/safe-mode']).code).toBe(0);
    assertCardClean(image);
  });

  // It was a box ticked by default, which, unticked, only ever led to a refusal ("tick it and write again").
  it('a card not cleanly unmounted: the plan says its journal is applied first; written, it is', async () => {
    const dirty = makeDirty(join(work, 'dirty'));
    const img = join(work, 'dirty', 'dirty.img');
    const before = sha(img);
    await page.getByRole('button', { name: 'Choose another disk' }).click();
    await page.getByLabel('Image file or disk path').fill(img);
    await page.getByRole('button', { name: 'Open', exact: true }).click();
    await page.getByText(/not cleanly unmounted: 4 journal change\(s\) shown as applied/).first().waitFor({ timeout: 30_000 });
    await page.getByRole('button', { name: 'Reset a password' }).click();
    await page.getByLabel('User').selectOption('vm-user');
    await passwords('after the journal 5');
    const dialog = page.getByRole('dialog', { name: 'Check before writing' });
    await dialog.getByText(/its journal holds 4 change\(s\) not yet in place\. They are applied to the card first, as Linux does when it mounts it \(to leave the card as it is, choose Cancel\)\./).waitFor();
    expect(await dialog.getByRole('checkbox').count()).toBe(0);
    await shot('10-unclean-card');
    expect(sha(img)).toBe(before);
    await dialog.getByRole('button', { name: 'Write it now' }).click();
    await done();
    await expect(page.getByText(/Applied the card's journal first \(4 change/).first().isVisible()).resolves.toBe(true);
    await back();
    const fsck = spawnSync('e2fsck', ['-fn', img], { encoding: 'utf8' });
    expect(fsck.status, fsck.stdout).toBe(0);
    expect(cardPasswordIs(img, 'vm-user', 'after the journal 5')).toBe(true);
    expect(cli(['cat', img, dirty.newFilePath]).stdout.length).toBe(dirty.newFileSize);
  });

  it('closing the page stops the server', async () => {
    await browser.close();
    const end = await gui.exited;
    expect(end.code).toBe(0);
    expect(end.stdout).toMatch(/Stopped: the page was closed\./);
  });
});

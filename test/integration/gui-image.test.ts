// The browser window on a card that fails a read: a real failing card (FUSE, bad sectors over one file). With
// the login file unreadable, the card screen says so at once and offers to copy the card to an image file
// first; with only the password logins unreadable, the step that reads them answers READ_FAILED and the error
// makes the same offer. The copy (POST /api/image, and in Chromium through the page) holds every sector but the
// bad ones, byte for byte, its map marks exactly those (ddrescuelog), Stop keeps it and the same request
// continues it, and the window goes on with the copy: the lost parts read as "not rescued", never as zeros.
// The card is never written.
// Needs root, /dev/fuse and python3-fusepy (skipped with the reason otherwise); the page part needs Chromium.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { BACKUP_FILES, readSampleImage } from '../../fixtures/index.js';
import { SHOT_VIEWPORT, browserPath, launchBrowser, screenshot } from '../helpers/browser.js';
import { cli, cliJson } from '../helpers/cli.js';
import { failingCardUnavailable, withFailingCard } from '../helpers/failing-card.js';
import { expectCopyOfCard, sampleWithBadSectors } from '../helpers/failing-sample.js';
import { rawRequest, startGui } from '../helpers/gui.js';
import { tempDir } from '../helpers/images.js';
import { holdOpen } from '../helpers/holder.js';

const reason = failingCardUnavailable();
const work = tempDir('gui-image-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');
const hasDdrescuelog = spawnSync('ddrescuelog', ['--version']).status === 0;
/** The window on `card` in Chromium, opened at its first screen; always closed after `fn`. */
async function inBrowser(card: string, home: string, fn: (page: Page, heading: (name: string | RegExp) => Locator) => Promise<void>): Promise<void> {
  const gui = await startGui([card], { HOME: home, HAOS_RESCUE_GUI_GRACE_MS: '1000' });
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage({ viewport: SHOT_VIEWPORT });
    const heading = (name: string | RegExp) => page.getByRole('heading', { level: 2, name });
    await page.goto(gui.url);
    await heading(/^Home Assistant /).waitFor({ timeout: 30_000 });
    await fn(page, heading);
  } finally {
    await browser.close().catch(() => undefined);
    gui.child.kill('SIGTERM');
    await gui.exited;
  }
}

describe.skipIf(reason !== null)(`the browser window on a failing card${reason ? ` (skipped: ${reason})` : ''}`, () => {
  it('READ_FAILED on the logins; POST /api/image copies the card and the window goes on with the copy', async () => {
    const image = join(work, 'api.img');
    const bad = await sampleWithBadSectors(image);
    const before = sha(image);
    const out = join(work, 'api-copy.img');
    await withFailingCard({ image, bad: [bad], failDelayMs: 1 }, async (card) => {
      // The command line says the same: info warns and names the command that makes the copy.
      const info = cli(['info', card.path]);
      expect(info.code).toBe(0);
      expect(info.stderr).toMatch(/parts of the card could not be read: it may be failing.*haos-rescue image .*card\.img --out card\.img/);
      expect(cliJson<{ readFailed: boolean }>(['info', card.path, '--json']).readFailed).toBe(true);
      // A map given for the card (all of it finished, as after an earlier copy) is the card's: the copy made
      // in the window is read with its own map, so its lost sector reads as not rescued, not as zeros.
      const cardMap = join(work, 'card-given.map');
      const size = `0x${statSync(image).size.toString(16)}`;
      writeFileSync(cardMap, `# Mapfile. Created by hand\n# current_pos  current_status  current_pass\n0x00000000  +  1\n#  pos  size  status\n0x00000000  ${size}  +\n`);
      const gui = await startGui([card.path, '--map', cardMap]);
      try {
        const headers = { 'X-Rescue-Token': gui.token, Origin: gui.base, 'Content-Type': 'application/json' };
        const state = async () => JSON.parse((await rawRequest(gui.port, 'GET', '/api/state', headers)).body) as { card: { readFailed: boolean } };
        expect((await state()).card.readFailed).toBe(true);
        const users = await rawRequest(gui.port, 'GET', '/api/users', headers);
        expect(JSON.parse(users.body).error).toMatchObject({ code: 'READ_FAILED', cardFailing: true });
        const relative = await rawRequest(gui.port, 'POST', '/api/image', headers, JSON.stringify({ out: 'copy.img' }));
        expect(JSON.parse(relative.body).error.code).toBe('RELATIVE_PATH');
        const answer = await rawRequest(gui.port, 'POST', '/api/image', headers, JSON.stringify({ out }));
        expect(answer.status, answer.body).toBe(200);
        const result = JSON.parse(answer.body) as { lines: string[]; card: { path: string } };
        expect(result.card.path).toBe(out);
        expect(result.lines.join('\n')).toMatch(/4 KiB could not be read/);
        // What was lost is said with the copy, not when a step later fails on it.
        expect(result.lines.join('\n')).toMatch(/^Not whole in the copy \(\d+\): .*\/supervisor\/homeassistant\/\.storage\/auth[,.]/m);
        // The card is still needed: it said "You can take the card out" with the logins lost.
        expect(result.lines.join('\n')).not.toMatch(/take the card out/);
        expect(result.lines.join('\n')).toMatch(/Keep the card: choosing it again in the list of disks and copying it to the same file tries the missing parts once more\./);
        const after = await rawRequest(gui.port, 'GET', '/api/users', headers);
        // Lost in the copy, not refused by a card: nothing more to copy.
        expect(JSON.parse(after.body).error).toMatchObject({ code: 'NOT_RESCUED', cardFailing: false });
        expect((await state()).card.readFailed).toBe(false);
      } finally {
        gui.child.kill('SIGTERM');
        await gui.exited;
      }
    });
    expect(sha(image)).toBe(before);
    expectCopyOfCard(image, out, bad);
  }, 120_000);

  it('Stop keeps what was copied (the map says what); copying again to the same file continues and ends whole', async () => {
    const image = join(work, 'stop.img');
    const bad = await sampleWithBadSectors(image);
    const out = join(work, 'stop-copy.img');
    // 30 ms a request: the copy takes seconds, long enough to be stopped under way.
    await withFailingCard({ image, bad: [bad], failDelayMs: 1, latencyMs: 30 }, async (card) => {
      const gui = await startGui([card.path]);
      try {
        const headers = { 'X-Rescue-Token': gui.token, Origin: gui.base, 'Content-Type': 'application/json' };
        const copy = rawRequest(gui.port, 'POST', '/api/image', headers, JSON.stringify({ out }));
        for (let i = 0; i < 200 && !existsSync(`${out}.map`); i++) await new Promise((r) => setTimeout(r, 50));
        const cancel = await rawRequest(gui.port, 'POST', '/api/cancel', headers, '{}');
        expect(cancel.status).toBe(200);
        const stopped = await copy;
        expect(stopped.status, stopped.body).toBe(409);
        expect(JSON.parse(stopped.body).error).toMatchObject({ code: 'STOPPED', message: expect.stringMatching(/kept in/) });
        expect(existsSync(out)).toBe(true);
        if (hasDdrescuelog) expect(spawnSync('ddrescuelog', ['-t', `${out}.map`]).status).toBe(0);
        const again = await rawRequest(gui.port, 'POST', '/api/image', headers, JSON.stringify({ out }));
        expect(again.status, again.body).toBe(200);
      } finally {
        gui.child.kill('SIGTERM');
        await gui.exited;
      }
    });
    expectCopyOfCard(image, out, bad);
  }, 120_000);

  // The box said to use "Copy the card to an image file first" on the card screen, which had no such button.
  it('a backup the card cannot read: the partial copy offers to copy the card to an image file (its own button)', async () => {
    const image = join(work, 'backup-bad.img');
    const bad = await sampleWithBadSectors(image, `/supervisor/backup/${BACKUP_FILES[0]}`);
    await withFailingCard({ image, bad: [bad], failDelayMs: 1 }, async (card) => {
      const gui = await startGui([card.path]);
      try {
        const headers = { 'X-Rescue-Token': gui.token, Origin: gui.base, 'Content-Type': 'application/json' };
        const answer = await rawRequest(gui.port, 'POST', '/api/extract', headers, JSON.stringify({ folder: join(work, 'backups-of-bad') }));
        expect(answer.status, answer.body).toBe(200);
        const partial = (JSON.parse(answer.body) as { partial: { offerImage?: boolean; hint: string; notCopied: string[] } }).partial;
        expect(partial.notCopied).toEqual([expect.stringMatching(new RegExp(`^/supervisor/backup/${BACKUP_FILES[0]!.replace(/\./g, '\\.')}: `))]);
        expect(partial.offerImage).toBe(true);
        expect(partial.hint).toMatch(/copy it once to an image file on this computer \(the button below\)/);
      } finally {
        gui.child.kill('SIGTERM');
        await gui.exited;
      }
    });
  }, 120_000);

  // It said so, and did not: a continued copy with nothing left untried only read the bad parts' neighbours.
  it('copying again to the same file tries the parts not read once more: a card that reads them now makes the copy whole', async () => {
    const image = join(work, 'retry.img');
    const bad = await sampleWithBadSectors(image);
    const out = join(work, 'retry-copy.img');
    const copyTo = async (card: string): Promise<string> => {
      const gui = await startGui([card]);
      try {
        const headers = { 'X-Rescue-Token': gui.token, Origin: gui.base, 'Content-Type': 'application/json' };
        const answer = await rawRequest(gui.port, 'POST', '/api/image', headers, JSON.stringify({ out }));
        expect(answer.status, answer.body).toBe(200);
        return (JSON.parse(answer.body) as { lines: string[] }).lines.join('\n');
      } finally {
        gui.child.kill('SIGTERM');
        await gui.exited;
      }
    };
    await withFailingCard({ image, bad: [bad], failDelayMs: 1 }, async (card) => {
      expect(await copyTo(card.path)).toMatch(/4 KiB could not be read/);
    });
    expectCopyOfCard(image, out, bad);
    // The same card, reseated in another reader: its bad sector reads now.
    const again = await copyTo(image);
    expect(again).toMatch(/^Copied 32 MiB of 32 MiB to /m);
    expect(again).toMatch(/You can take the card out\./);
    expect(sha(out)).toBe(sha(image));
    if (hasDdrescuelog) expect(spawnSync('ddrescuelog', ['-b', '512', '-l-', `${out}.map`], { encoding: 'utf8' }).stdout.trim()).toBe('');
  }, 120_000);

  it.skipIf(!browserPath)('in Chromium: the card screen offers the copy, the copy is made, the card picture is the copy', async () => {
    // A fixed folder: the pictures of these screens (docs/screenshots) show the same paths on every run.
    const fixed = join(tmpdir(), 'haos-rescue-gui-failing');
    rmSync(fixed, { recursive: true, force: true });
    mkdirSync(fixed);
    const image = join(fixed, 'sample.img');
    const bad = await sampleWithBadSectors(image);
    const before = sha(image);
    const home = join(fixed, 'home');
    mkdirSync(join(home, 'Downloads'), { recursive: true });
    const out = join(home, 'Downloads', 'haos-card.img');
    await withFailingCard({ image, bad: [bad], failDelayMs: 1, folder: join(fixed, 'reader') }, (card) => inBrowser(card.path, home, async (page, heading) => {
      await page.getByText('Parts of this card could not be read').waitFor();
      await screenshot(page, '11-card-failing');
      await page.getByRole('button', { name: 'Copy the card to an image file first' }).click();
      await heading('Copy the card to an image file').waitFor();
      await expect(page.getByLabel('Save the copy as').inputValue()).resolves.toMatch(/Downloads[/\\]haos-card-\d{4}-\d\d-\d\d\.img$/);
      await page.getByLabel('Save the copy as').fill(out);
      await screenshot(page, '12-copy-card');
      await page.getByRole('button', { name: 'Copy the card', exact: true }).click();
      await heading('Done').waitFor({ timeout: 60_000 });
      await page.getByText('From here on this window reads the copy').waitFor();
      await screenshot(page, '13-copy-done');
      await page.getByRole('button', { name: 'Back' }).click();
      await heading(/^Home Assistant /).waitFor();
      await expect(page.getByText(out).first().isVisible()).resolves.toBe(true);
      await expect(page.getByText('Parts of this card could not be read').count()).resolves.toBe(0);
    }));
    expect(sha(image)).toBe(before);
    expectCopyOfCard(image, out, bad);
  }, 120_000);

  it.skipIf(!browserPath)('in Chromium: a step that meets a bad sector shows the error with the same offer', async () => {
    const image = join(work, 'step.img');
    // The backup settings: the card's picture reads the users and logins, not them; "Show the backup key" does.
    const bad = await sampleWithBadSectors(image, '/supervisor/homeassistant/.storage/backup');
    await withFailingCard({ image, bad: [bad], failDelayMs: 1 }, (card) => inBrowser(card.path, join(work, 'home'), async (page, heading) => {
      await expect(page.getByText('Parts of this card could not be read').count()).resolves.toBe(0);
      await page.getByRole('button', { name: 'Show the backup key' }).click();
      await page.getByRole('alert').getByText('The card may be wearing out').waitFor({ timeout: 30_000 });
      await page.getByRole('button', { name: 'Copy the card to an image file first' }).click();
      await heading('Copy the card to an image file').waitFor();
    }));
  }, 120_000);
});

describe.skipIf(process.platform !== 'linux')('the window copying a disk file another program holds open', () => {
  it('says the copy may be torn, as the command does (the window said nothing)', async () => {
    const card = join(work, 'held.img');
    writeFileSync(card, readSampleImage());
    const holder = await holdOpen(card);
    const gui = await startGui([card]);
    try {
      const headers = { 'X-Rescue-Token': gui.token, Origin: gui.base, 'Content-Type': 'application/json' };
      const answer = await rawRequest(gui.port, 'POST', '/api/image', headers, JSON.stringify({ out: join(work, 'held-copy.img') }));
      expect(answer.status, answer.body).toBe(200);
      const lines = (JSON.parse(answer.body) as { lines: string[] }).lines.join('\n');
      expect(lines).toMatch(new RegExp(`^Warning: .*held\\.img is open in sleep \\(pid ${holder.pid}\\): a running virtual machine, or another program: what was copied may be out of date or torn; shut the virtual machine down and copy it again to a new image file\\.$`, 'm'));
    } finally {
      holder.kill();
      gui.child.kill('SIGTERM');
      await gui.exited;
    }
  }, 60_000);
});

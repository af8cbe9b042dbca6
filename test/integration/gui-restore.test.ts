// The browser window puts back a configuration file from one of the card's own backups, in a real Chromium:
// a backup made from the sample card with a password of its own, put on it, then a broken configuration.yaml
// over the card's. The backup is chosen, the card's key does not open it and the password is asked (a wrong
// one asked again), its files that differ are listed, "Put back" goes through "Check before writing", and the
// card's file is the backup's again (e2fsck -fn clean, the broken one saved in Downloads). The server refuses
// to plan a file that is the same as the card's.

import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { readSampleImage } from '../../fixtures/index.js';
import { browserPath } from '../helpers/browser.js';
import { assertCardClean } from '../helpers/card.js';
import { cli } from '../helpers/cli.js';
import { type Api, type Heading, onCard as onCardOf, windowSuite } from '../helpers/gui-page.js';

const suite = windowSuite('gui-restore-');
const { work } = suite;
const CONFIG = '/supervisor/homeassistant/configuration.yaml';
const BROKEN = 'homeassistant:\n  name: [an edit that broke it\n';

const onCard = (card: string, fn: (page: Page, heading: Heading, api: Api) => Promise<void>): Promise<void> => onCardOf(suite, card, fn);

function run(args: string[]): void {
  const r = cli(args);
  expect(r.code, r.stderr).toBe(0);
}

describe.skipIf(!browserPath)(`putting back a file from a backup in the window${browserPath ? '' : ' (skipped: no Chromium or Chrome installed)'}`, () => {
  it('asks for the password, lists what differs, puts configuration.yaml back after "Write it now"', async () => {
    const img = join(work, 'card.img');
    writeFileSync(img, readSampleImage());
    const original = cli(['cat', img, CONFIG]).stdout;
    run(['backup', 'create', img, '--out', join(work, 'own.tar'), '--name', 'Own password', '--password', 'own backup pw', '--exclude-db']);
    run(['put', img, join(work, 'own.tar'), '/supervisor/backup/own.tar', '--yes', '--no-originals']);
    writeFileSync(join(work, 'broken.yaml'), BROKEN);
    run(['put', img, join(work, 'broken.yaml'), CONFIG, '--yes', '--no-originals']);
    await onCard(img, async (page, heading, api) => {
      await page.getByRole('button', { name: 'Put back a file from a backup' }).click();
      await heading('Put back a file from a backup').waitFor();
      // The sample's own three backups hold folders only: not offered.
      expect(await page.getByRole('button', { name: /Example|Encrypt test/ }).count()).toBe(0);
      await page.getByRole('button', { name: /Own password \([\d.]+ KiB, encrypted\)/ }).click();
      const pw = page.getByLabel(/The backup key stored on the card does not open this backup: it was made with a password of its own\. That password:/);
      await pw.waitFor({ timeout: 30_000 });
      // Nothing typed: said (the button did nothing).
      await page.getByRole('button', { name: 'Open the backup' }).click();
      await page.getByRole('alert').getByText('Type the password or backup key first.').waitFor();
      await pw.fill('not it');
      await page.getByRole('button', { name: 'Open the backup' }).click();
      const again = page.getByLabel('That password does not open this backup. Try again:');
      await again.waitFor({ timeout: 30_000 });
      await again.fill('own backup pw');
      await page.getByRole('button', { name: 'Open the backup' }).click();
      await page.getByText(/file\(s\) of this backup are the same as on the card and are not listed\./).waitFor({ timeout: 30_000 });
      // The same file as the card's is not planned (the list does not offer it; asked anyway, refused).
      const same = JSON.parse((await api('/api/plan', { action: { kind: 'restore-file', slug: await slugOf(img), name: 'scripts.yaml' } })).body) as { error: { code: string } };
      expect(same.error.code).toBe('SAME_AS_CARD');
      await page.getByRole('button', { name: 'Put back configuration.yaml' }).click();
      const dialog = page.getByRole('dialog', { name: 'Check before writing' });
      await dialog.getByText(/^From the backup "Own password": configuration\.yaml, [\d.]+ KiB\.$/).waitFor({ timeout: 30_000 });
      await dialog.getByText(/^It replaces the one on the image file \S+ \(not a card\), \d+ bytes, which is saved to this computer first\.$/).waitFor();
      await dialog.getByRole('button', { name: 'Write it now' }).click();
      await heading('Done').waitFor({ timeout: 30_000 });
      await page.getByText(/^Done: \/supervisor\/homeassistant\/configuration\.yaml is the backup's again/).waitFor();
    });
    expect(cli(['cat', img, CONFIG]).stdout.equals(original)).toBe(true);
    assertCardClean(img);
    const saved = readdirSync(join(work, 'home', 'Downloads')).find((n) => n.startsWith('haos-rescue-originals-'));
    expect(saved).toBeDefined();
    expect(readFileSync(join(work, 'home', 'Downloads', saved!, 'supervisor__homeassistant__configuration.yaml'), 'utf8')).toBe(BROKEN);
  }, 120_000);
});

async function slugOf(img: string): Promise<string> {
  const list = JSON.parse(cli(['backup', 'list', img, '--json']).text) as Array<{ slug: string; name: string }>;
  return list.find((b) => b.name === 'Own password')!.slug;
}

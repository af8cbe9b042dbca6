// A real browser for the browser-window tests: Chromium or Chrome as installed on the machine (Debian's
// chromium here, Chrome on the CI runners of macOS and Windows), driven by playwright-core. Nothing is
// downloaded; without a browser the tests skip and say why.

import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { expect } from 'vitest';

const CANDIDATES = [
  process.env['CHROME_PATH'] ?? '',
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
  'C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe',
  'C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe',
];

export const browserPath: string | null = CANDIDATES.find((p) => p !== '' && existsSync(p)) ?? null;

export async function launchBrowser(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  // As root (this machine, containers) Chromium's sandbox cannot start.
  const args = process.getuid?.() === 0 ? ['--no-sandbox'] : [];
  return chromium.launch({ executablePath: browserPath!, args });
}

/** Where the README's pictures of the window are kept. */
const SHOTS = resolve(fileURLToPath(new URL('../../docs/screenshots', import.meta.url)));
/** The size every picture is taken at. */
export const SHOT_VIEWPORT = { width: 1000, height: 760 };

/** Run in the page (a string: the tests compile without the DOM's types): what a screen reader would miss. */
const UNLABELLED = `(() => {
  const bad = [];
  for (const c of document.querySelectorAll('input, select, textarea')) {
    if (c.type === 'hidden' || c.closest('[hidden]')) continue;
    if ((c.labels ? c.labels.length : 0) === 0 && !c.getAttribute('aria-label') && !c.getAttribute('aria-labelledby')) bad.push('field ' + c.outerHTML.slice(0, 80));
  }
  for (const b of document.querySelectorAll('button')) {
    if (!b.closest('[hidden]') && (b.textContent || '').trim() === '' && !b.getAttribute('aria-label')) bad.push('button ' + b.outerHTML.slice(0, 80));
  }
  if (document.querySelectorAll('h1').length !== 1) bad.push('not exactly one h1');
  return bad;
})()`;

/**
 * Saves the screen as docs/screenshots/NAME.png, after checking what a screen reader needs of it: every field
 * has a label, every button a name, one h1. The paths it shows must not change from run to run (fixed folders).
 */
export async function screenshot(page: Page, name: string): Promise<void> {
  const unlabelled = (await page.evaluate(UNLABELLED)) as string[];
  expect(unlabelled, name).toEqual([]);
  mkdirSync(SHOTS, { recursive: true });
  // The pointer off every button: a hover colour left by the last click would differ from run to run.
  await page.mouse.move(0, 0);
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true, animations: 'disabled' });
}

// A real browser for the browser-window tests: Chromium or Chrome as installed on the machine (Debian's
// chromium here, Chrome on the CI runners of macOS and Windows), driven by playwright-core. Nothing is
// downloaded; without a browser the tests skip and say why.

import { existsSync } from 'node:fs';
import type { Browser } from 'playwright-core';

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

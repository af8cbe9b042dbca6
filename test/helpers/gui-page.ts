// The browser window on one card for a test: `haos-rescue gui CARD` started as a user would, a page of the
// given size at its card screen, raw API requests with the session token, and the server always stopped.

import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { browserPath, launchBrowser } from './browser.js';
import { rawRequest, startGui } from './gui.js';
import { tempDir } from './images.js';

export interface WindowSuite {
  /** A folder holding home/Downloads: where the window saves by default. */
  readonly work: string;
  /** The test file's Chromium (launched before its tests when there is one). */
  readonly browser: Browser;
}

/** One test file's window set-up: a work folder and a Chromium, both gone after its tests. */
export function windowSuite(prefix: string): WindowSuite {
  const work = tempDir(prefix);
  let browser: Browser | null = null;
  beforeAll(async () => {
    if (!browserPath) return;
    mkdirSync(join(work, 'home', 'Downloads'), { recursive: true });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  });
  return {
    work,
    get browser(): Browser {
      if (browser === null) throw new Error('no browser was launched for this test file');
      return browser;
    },
  };
}

export type Heading = (name: string | RegExp) => Locator;
export type Api = (path: string, body?: unknown) => Promise<{ status: number; body: string }>;

export interface OnCard {
  browser: Browser;
  /** A folder holding home/Downloads: where the window saves by default. */
  work: string;
  viewport?: { width: number; height: number };
  timezoneId?: string;
  /** The heading the card screen opens with (Home Assistant's version unless told). */
  cardHeading?: RegExp;
}

export async function onCard(o: OnCard, card: string, fn: (page: Page, heading: Heading, api: Api) => Promise<void>): Promise<void> {
  const gui = await startGui([card], { HOME: join(o.work, 'home'), HAOS_RESCUE_GUI_GRACE_MS: '1000' });
  const page = await o.browser.newPage({ viewport: o.viewport ?? { width: 1000, height: 760 }, ...(o.timezoneId ? { timezoneId: o.timezoneId } : {}) });
  const headers = { 'X-Rescue-Token': gui.token, Origin: gui.base, 'Content-Type': 'application/json' };
  const api: Api = (path, body) => rawRequest(gui.port, body === undefined ? 'GET' : 'POST', path, headers, body === undefined ? undefined : JSON.stringify(body));
  try {
    const heading: Heading = (name) => page.getByRole('heading', { level: 2, name });
    await page.goto(gui.url);
    await heading(o.cardHeading ?? /^Home Assistant /).waitFor({ timeout: 30_000 });
    await fn(page, heading, api);
  } finally {
    await page.close().catch(() => undefined);
    gui.child.kill('SIGTERM');
    await gui.exited;
  }
}

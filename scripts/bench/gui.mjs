// The browser-window rows (issue 15): start-up of `haos-rescue gui CARD --no-open` as a user meets it:
// from the spawn to the server listening (the address printed, the card already opened), and to the page
// loaded and showing the card (h2 "Home Assistant ...") in Chromium already running. Median and best of
// `runs` (at least 5) fresh processes; skipped with a note when no Chromium is installed.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { log, median, round } from './util.mjs';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const SAMPLE = fileURLToPath(new URL('../../fixtures/sample/haos-sample.img.gz', import.meta.url));
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p)) ?? null;

function startServer(card) {
  const t0 = performance.now();
  const child = spawn(process.execPath, [CLI, 'gui', '--no-open', card], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, HAOS_RESCUE_GUI_GRACE_MS: '200' } });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const listening = new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /Address: (\S+)/.exec(out);
      if (m) resolve({ url: m[1], ms: performance.now() - t0 });
    });
    void exited.then(() => reject(new Error(`gui exited before listening: ${out}`)));
  });
  return { t0, listening, exited };
}

export async function guiRows({ runs, work }) {
  if (!CHROMIUM) return { skipped: 'no Chromium installed' };
  const card = join(work, 'gui-card.img');
  writeFileSync(card, gunzipSync(readFileSync(SAMPLE)));
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
  const listen = [];
  const loaded = [];
  log('  gui start-up: server listening, page loaded');
  for (let i = 0; i < Math.max(5, runs); i++) {
    const server = startServer(card);
    const { url, ms } = await server.listening;
    const page = await browser.newPage();
    await page.goto(url);
    await page.getByRole('heading', { level: 2, name: /^Home Assistant / }).waitFor();
    loaded.push(performance.now() - server.t0);
    listen.push(ms);
    await page.close();
    await server.exited;
  }
  await browser.close();
  const s = (xs) => ({ medianMs: round(median(xs)), bestMs: round(Math.min(...xs)) });
  return { listen: s(listen), loaded: s(loaded) };
}

export function guiTable(r) {
  if (r.skipped) return `Browser window: skipped (${r.skipped})`;
  const t = (m) => `${(m.medianMs / 1000).toFixed(2)} s [${(m.bestMs / 1000).toFixed(2)}]`;
  return [
    'Browser window start-up (median [best], from the spawn of haos-rescue gui CARD):',
    `  server listening (card opened): ${t(r.listen)}   page loaded, card shown: ${t(r.loaded)}`,
  ].join('\n');
}

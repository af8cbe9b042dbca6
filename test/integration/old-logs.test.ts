// Freeing room by deleting journald's old (archived) log files, offered by "Free space" in the browser window
// and in the guided flow. Home Assistant OS lets journald keep up to 500 MB in /logs; the files it was writing
// to stay, so `logs` still shows the last lines (journalctl's, the oracle). Each deletion is one journaled
// write: e2fsck -fn clean, debugfs lists what is left, and dumpe2fs's free blocks grow by what it says it gave.

import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE } from '../../fixtures/index.js';
import { formatBytes } from '../../src/units.js';
import { assertCardClean } from '../helpers/card.js';
import { cliJson } from '../helpers/cli.js';
import { rawRequest, startGui } from '../helpers/gui.js';
import { tempDir } from '../helpers/images.js';
import { type ExportEntry, MACHINE, cardWithLogs, journalToolsMissing, journalctl, writeJournal } from '../helpers/journal.js';
import { Terminal, hasTmux } from '../helpers/terminal.js';

const work = tempDir('old-logs-');
const term = new Terminal();
afterAll(() => {
  term.close();
  rmSync(work, { recursive: true, force: true });
});

const FILES = { old: join(work, 'old.journal'), user: join(work, 'user.journal'), current: join(work, 'system.journal') };
const ARCHIVED = ['system@00000000000000000000000000000001-0000000000000001-0005f00000000000.journal', 'user-1000@00000000000000000000000000000002-0000000000000001-0005f00000000000.journal'];

function entries(count: number, tag: string, startUs: number): ExportEntry[] {
  return Array.from({ length: count }, (_, i) => ({
    __REALTIME_TIMESTAMP: String(startUs + i * 1_000_000),
    __MONOTONIC_TIMESTAMP: String(1_000 + i),
    _BOOT_ID: '0123456789abcdef0123456789abcdef',
    MESSAGE: `2025-12-04 10:00:00.000 INFO (MainThread) [homeassistant.${tag}] line ${i} ${'x'.repeat(200)}`,
    SYSLOG_IDENTIFIER: 'homeassistant',
    CONTAINER_NAME: 'homeassistant',
  }));
}

const fs = (card: string): string => `${card}?offset=${SAMPLE.dataOffsetBytes}`;
const freeBlocks = (card: string): number => Number(/^Free blocks:\s+(\d+)$/m.exec(execFileSync('dumpe2fs', ['-h', fs(card)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))![1]);
const logFolder = (card: string): string[] =>
  execFileSync('debugfs', ['-R', `ls -l /logs/${MACHINE}`, fs(card)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    .split('\n')
    .map((l) => l.trim().split(/\s+/).pop() ?? '')
    .filter((n) => n.endsWith('.journal'));

function card(name: string): string {
  return cardWithLogs(work, name, [[FILES.old, ARCHIVED[0]!], [FILES.user, ARCHIVED[1]!], [FILES.current, 'system.journal']]);
}

/** After the deletion: only the current file is left, the card is clean, and `logs` gives its last lines. */
function expectOnlyCurrentLeft(image: string, freedBefore: number, givenBack: string): void {
  expect(logFolder(image)).toEqual(['system.journal']);
  assertCardClean(image);
  const lines = cliJson<{ lines: Array<{ message: string }> }>(['logs', image, '-n', '10']).lines.map((l) => l.message);
  expect(lines).toEqual(journalctl([FILES.current], 'homeassistant').slice(-10).map((e) => e.message));
  const freed = (freeBlocks(image) - freedBefore) * 4096;
  expect(freed).toBeGreaterThan(0);
  expect(givenBack).toBe(formatBytes(freed));
}

describe.skipIf(journalToolsMissing !== null)(`deleting old system logs${journalToolsMissing ? ` (skipped: ${journalToolsMissing})` : ''}`, () => {
  beforeAll(() => {
    writeJournal(FILES.old, entries(6000, 'old', 1_764_000_000_000_000));
    writeJournal(FILES.user, entries(2000, 'user', 1_764_100_000_000_000));
    writeJournal(FILES.current, entries(500, 'current', 1_764_900_000_000_000));
  });

  it('in the window: Free space offers them; the plan, the write, and what is left', async () => {
    const image = card('window.img');
    const before = freeBlocks(image);
    const gui = await startGui([image], { HOME: join(work, 'home') });
    try {
      const get = { 'X-Rescue-Token': gui.token };
      const post = { ...get, Origin: gui.base, 'Content-Type': 'application/json' };
      const space = JSON.parse((await rawRequest(gui.port, 'GET', '/api/space', get)).body);
      // The days of the files' first and last lines (2025-11-24 16:00 UTC on, and 2025-11-25 19:46 UTC on).
      expect(space.oldLogsText).toMatch(/^[\d.]+ (KiB|MiB) in 2 file\(s\), lines from 2025-11-24 to 2025-11-25$/);
      const action = { kind: 'delete-old-logs' };
      const plan = JSON.parse((await rawRequest(gui.port, 'POST', '/api/plan', post, JSON.stringify({ action }))).body);
      expect(plan.lines[0]).toMatch(/^2 old log file\(s\) that journald set aside, lines from 2025-11-24 to 2025-11-25: /);
      expect(plan.question).toBe('Delete these 2 old log file(s) from the card?');
      const w = await rawRequest(gui.port, 'POST', '/api/write', post, JSON.stringify({ action, confirmed: true, applyJournal: true }));
      expect(w.status, w.body).toBe(200);
      const done = JSON.parse(w.body).lines as string[];
      const givenBack = /^Done: (.+) given back\. Checked on the image file \S+ \(not a card\)\.$/.exec(done[0]!)![1]!;
      expect(JSON.parse((await rawRequest(gui.port, 'GET', '/api/space', get)).body).oldLogsText).toBeNull();
      gui.child.kill('SIGTERM');
      expectOnlyCurrentLeft(image, before, givenBack);
    } finally {
      gui.child.kill('SIGTERM');
    }
  });

  it.skipIf(!hasTmux)(`in the guided flow: "old system logs" among what to delete${hasTmux ? '' : ' (skipped: tmux is not installed)'}`, async () => {
    const image = card('flow.img');
    const before = freeBlocks(image);
    term.start('flow', work, join(work, 'home-flow'));
    await term.openPath('flow', image);
    await term.waitFor('flow', /What do you want to do\?/);
    for (let i = 0; i < 8; i++) term.keys('flow', 'Down');
    await term.waitFor('flow', /❯ Free space/);
    term.keys('flow', 'Enter');
    await term.waitFor('flow', /What do you want to delete\?[\s\S]*old system logs \([\d.]+ (KiB|MiB) in 2 file\(s\), lines from 2025-11-24 to 2025-11-25; the current ones are kept\)/);
    term.keys('flow', 'Down');
    term.keys('flow', 'Down');
    await term.waitFor('flow', /❯ old system logs/);
    term.keys('flow', 'Enter');
    await term.waitFor('flow', /Delete these 2 old log file\(s\) from the card\?/);
    term.type('flow', 'y');
    const done = await term.waitFor('flow', /Done: .+ given back\. Checked on the image file \S+ \(not a card\)\./, 60_000);
    const givenBack = /Done: (.+) given back\. Checked on the image file \S+ \(not a card\)\./.exec(done)![1]!;
    term.keys('flow', 'Up'); // wraps to Quit
    term.keys('flow', 'Enter');
    await term.waitFor('flow', /EXIT=0/);
    expectOnlyCurrentLeft(image, before, givenBack);
  }, 90_000);
});

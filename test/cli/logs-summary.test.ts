// The line under `logs`: what to ask for next. Asked for every line and stopped by the most that are ever
// kept, it named --lines 0 (what was just asked) as the way to see more.

import { describe, expect, it } from 'vitest';
import { type LogsResult, MAX_LINES } from '../../src/actions/logs/index.js';
import { logsSummary } from '../../src/cli/commands/logs.js';

const result = (lines: number, more: boolean): LogsResult => ({
  folder: '/logs',
  files: [{ path: '/logs/m/system.journal', sizeBytes: 1, state: 'online', entries: lines, problem: null, read: true }],
  lines: Array.from({ length: lines }, () => ({ time: '2026-01-01T00:00:00Z', bootId: 'b', identifier: 'homeassistant', priority: 6, message: 'x' })),
  matched: more ? lines + 1 : lines,
  unreadable: 0,
  skippedOlder: 0,
  more,
  names: [],
});

describe('logs summary', () => {
  it('offers more lines when fewer were asked for than exist', () => {
    expect(logsSummary(result(100, true), 'Home Assistant Core', 100)).toBe('The last 100 line(s) from Home Assistant Core, from 1 log file(s) in /logs; --lines 500 shows more, --lines 0 all.');
  });

  it('says the limit when every line was asked for and older ones were left out', () => {
    const text = logsSummary(result(3, true), 'Home Assistant Core', 0);
    expect(text).toBe(`The last 3 line(s) from Home Assistant Core, from 1 log file(s) in /logs; older lines were left out (${MAX_LINES.toLocaleString('en-US')} at most are shown).`);
    expect(logsSummary(result(3, true), 'Home Assistant Core', MAX_LINES + 5)).not.toMatch(/--lines 0/);
  });

  it('says nothing of more when every line is shown', () => {
    expect(logsSummary(result(3, false), 'Home Assistant Core', 0)).toBe('The last 3 line(s) from Home Assistant Core, from 1 log file(s) in /logs.');
  });

  // A file damaged at its end, none of its entries the program asked for: "No lines ... in 0 log file(s)".
  it('counts a file whose entries before damage at its end were read', () => {
    const damaged: LogsResult = { ...result(0, false), files: [{ path: '/logs/m/system.journal', sizeBytes: 1, state: 'online', entries: 0, problem: 'damaged from byte 3733880 on (a power cut while it was written?): the entries before were read', read: true }] };
    expect(logsSummary(damaged, 'Home Assistant Core', 100)).toMatch(/^No lines from Home Assistant Core in 1 log file\(s\) in \/logs/);
  });
});


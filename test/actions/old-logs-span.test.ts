// The days the old log files cover, as the free-space step names them: from the journal headers' first and
// last entry times; a file with no time recorded (0) or an impossible one adds no day.

import { describe, expect, it } from 'vitest';
import { oldLogsSpan } from '../../src/actions/logs/files.js';

const file = (firstUs: number, lastUs: number) => ({ path: '/logs/m/system@x.journal', allocatedBytes: 4096, firstUs, lastUs });
const us = (iso: string): number => Date.parse(iso) * 1000;

describe('oldLogsSpan', () => {
  it('names the first and the last day over all files, in UTC', () => {
    expect(oldLogsSpan([file(us('2026-11-20T23:59:00Z'), us('2026-11-21T01:00:00Z')), file(us('2026-09-01T00:00:00Z'), us('2026-09-30T12:00:00Z'))])).toBe('from 2026-09-01 to 2026-11-21');
  });

  it('one day: "of"', () => {
    expect(oldLogsSpan([file(us('2026-11-20T08:00:00Z'), us('2026-11-20T09:00:00Z'))])).toBe('of 2026-11-20');
  });

  it('no time recorded, or one past the year 9999: null, or only the times that can be', () => {
    expect(oldLogsSpan([file(0, 0)])).toBeNull();
    expect(oldLogsSpan([])).toBeNull();
    expect(oldLogsSpan([file(2 ** 63, us('2026-11-20T08:00:00Z'))])).toBe('of 2026-11-20');
  });
});

// What `logs` is asked for and the words said about what it read, apart from the reading itself: the
// command line loads this at every start, the journal reader (index.ts) only when logs are read.

import type { LogsResult } from './index.js';

/** Whose lines: a container name or syslog identifier, or every line. */
export type LogSubject = { name: string } | 'all';

/** The names Home Assistant OS gives its containers (Docker's journald driver records them). */
export const LOG_SUBJECTS: Record<string, { name: string; title: string }> = {
  core: { name: 'homeassistant', title: 'Home Assistant Core' },
  supervisor: { name: 'hassio_supervisor', title: 'the Supervisor' },
};

/** Most lines kept, "all" included: a log folder of gigabytes must not exhaust this computer's memory. */
export const MAX_LINES = 1_000_000;

/** How many log files gave lines, or were read without a problem. */
export function filesRead(r: LogsResult): number {
  // A file damaged at its end, its entries before read, counts (it was "in 0 log file(s)").
  return r.files.filter((f) => f.read).length;
}

/** What is said when the log folder holds no journal file. */
export function noLogFiles(folder: string): string {
  return `No log files in ${folder}: the box kept its logs in memory only, or they were deleted.`;
}

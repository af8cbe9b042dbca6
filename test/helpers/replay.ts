// The journal replay a power cut is followed by, with the kernel's condition checked first: the kernel
// replays a log only when the superblock says needs_recovery; with the flag clear it wipes a log that
// still holds a transaction ("JBD2: Clearing recovery information on journal") and mounts the half-written
// state. e2fsck replays such a log anyway (after asking), so it alone would not catch that state.

import { execFileSync, spawnSync } from 'node:child_process';
import { expect } from 'vitest';

/** Expects the kernel to replay what the log of the filesystem image `img` holds, then replays it as e2fsck; its exit status. */
export function replayAfterCut(img: string, what = ''): number {
  const header = execFileSync('dumpe2fs', ['-h', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const start = /^Journal start:\s+(\d+)/m.exec(header);
  const flagged = /^Filesystem features:.*\bneeds_recovery\b/m.test(header);
  if (start !== null && start[1] !== '0') expect(flagged, `${what}: the log holds a transaction (start ${start[1]}) but needs_recovery is clear`).toBe(true);
  return spawnSync('e2fsck', ['-fy', '-E', 'journal_only', img]).status ?? 99;
}

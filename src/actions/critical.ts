// Ctrl-C during a write: the journal makes any stop safe, but finishing the short commit sequence is
// kinder than leaving a card that needs recovery. The CLI's SIGINT handler asks inCriticalSection() and,
// while a write runs, waits for it to end before exiting.

import { unlinkSync } from 'node:fs';

let depth = 0;
const waiters: Array<(ended: SectionEnd) => void> = [];
let written = 0;

/** How a critical section ended: its writes all made, or stopped by an error. */
export type SectionEnd = 'written' | 'failed';

export function inCriticalSection(): boolean {
  return depth > 0;
}

/** Counts a write to a card (a journal applied, a change committed), whether or not what follows goes well. */
export function countWrite(): void {
  written++;
}

/** How many writes to a card this process made (a session says so when it is stopped, not "nothing written"). */
export function writesMade(): number {
  return written;
}

/** Resolves when the critical section under way ends, with how it ended. */
export function deferInterrupt(): Promise<SectionEnd> {
  return new Promise((resolve) => waiters.push(resolve));
}

export async function withCriticalSection<T>(fn: () => Promise<T>): Promise<T> {
  depth++;
  let ended: SectionEnd = 'failed';
  try {
    const result = await fn();
    ended = 'written';
    return result;
  } finally {
    depth--;
    if (depth === 0) for (const w of waiters.splice(0)) w(ended);
  }
}

// Ctrl-C during a long copy (`image`): the copy stops where it is, but what it has done must be saved first
// (its map), which may take a moment while a read of a stalled card is still under way.
/** A cleanup saves what it must and may return a line for the user. */
type Cleanup = () => Promise<string | void>;
const cleanups = new Set<Cleanup>();

// A stop asked for the whole process (Ctrl-C in a command): every copy under way ends at its next progress
// report (progress.ts), through its own error path, which removes its unfinished file.
let stopAsked = false;

export function requestStop(): void {
  stopAsked = true;
}

export function stopRequested(): boolean {
  return stopAsked;
}

/** Whether Ctrl-C has something to save before the process exits. */
export function hasInterruptCleanup(): boolean {
  return cleanups.size > 0;
}

/** Runs the cleanups registered by withInterruptCleanup (the CLI's SIGINT handler awaits them); their lines. */
export async function runInterruptCleanups(): Promise<string[]> {
  const done = await Promise.allSettled([...cleanups].map((c) => c()));
  return done.map((d) => (d.status === 'fulfilled' ? d.value : `could not save: ${String(d.reason)}`)).filter((l): l is string => typeof l === 'string');
}

export async function withInterruptCleanup<T>(cleanup: Cleanup, fn: () => Promise<T>): Promise<T> {
  cleanups.add(cleanup);
  try {
    return await fn();
  } finally {
    cleanups.delete(cleanup);
  }
}

// A second Ctrl-C (or one while a save was under way) ends the process at once, before a copy's own error
// path can remove its unfinished file: the files still unfinished are named here and removed on the way out.
const unfinished = new Set<string>();

/** Names an unfinished output file (FILE.partial-PID); the function returned forgets it (renamed or removed). */
export function unfinishedFile(path: string): () => void {
  unfinished.add(path);
  return () => unfinished.delete(path);
}

/** Removes every unfinished output file now (synchronously: the process is about to exit); how many. */
export function removeUnfinishedFiles(): number {
  let removed = 0;
  for (const path of unfinished) {
    try {
      unlinkSync(path);
      removed++;
    } catch {
      // already gone, or not ours to remove any more
    }
  }
  unfinished.clear();
  return removed;
}

// Ctrl-C during a write: the journal makes any stop safe, but finishing the short commit sequence is
// kinder than leaving a card that needs recovery. The CLI's SIGINT handler asks inCriticalSection() and,
// while a write runs, waits for it to end before exiting.

let depth = 0;
const waiters: Array<() => void> = [];

export function inCriticalSection(): boolean {
  return depth > 0;
}

/** Resolves when the critical section under way ends. */
export function deferInterrupt(): Promise<void> {
  return new Promise((resolve) => waiters.push(resolve));
}

export async function withCriticalSection<T>(fn: () => Promise<T>): Promise<T> {
  depth++;
  try {
    return await fn();
  } finally {
    depth--;
    if (depth === 0) for (const w of waiters.splice(0)) w();
  }
}

// Keys typed before a question is shown (while a step copied or wrote) are dropped: the terminal kept them, and
// the next question took them as its answer (guided flow: an early "y" confirmed "Delete all backups from the
// card?" unseen, an extra Enter chose the first entry of a menu not yet drawn).

/** How long keys already typed are read (and dropped) before a question: they are in the terminal at once. */
const TYPEAHEAD_MS = 30;

/**
 * Drops what the terminal holds of keys typed before the question; a no-op without a terminal. A Ctrl-C among
 * them is not dropped: it ends the session as at a question (ExitPromptError). Pressed while the disks were
 * looked for, it was lost, and the next question waited.
 */
export async function discardTypeahead(): Promise<void> {
  const stdin = process.stdin;
  if (!stdin.isTTY) return;
  const wasRaw = stdin.isRaw;
  let interrupted = false;
  const drop = (chunk: Buffer | string): void => {
    if (String(chunk).includes('\u0003')) interrupted = true;
  };
  stdin.setRawMode(true); // a line not yet ended with Enter is dropped too
  stdin.on('data', drop);
  stdin.resume();
  try {
    await new Promise((resolve) => setTimeout(resolve, TYPEAHEAD_MS));
  } finally {
    stdin.off('data', drop);
    stdin.pause();
    stdin.setRawMode(wasRaw);
  }
  if (interrupted) {
    const stop = new Error('Ctrl-C before the question');
    stop.name = 'ExitPromptError';
    throw stop;
  }
}

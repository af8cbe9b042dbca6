// A disk file's refusals of a write, said the same whether it is opened for writing (the refusal is thrown)
// or only read (the refusal is handed to the opener, so a rehearsal and `info` can tell it in advance
// without opening the file for writing). Each reader runs its checks through `checkForWrites`.

import { AppError } from '../../errors.js';
import type { OpenContext } from './types.js';

/**
 * Runs `check` (which throws the refusal of a write): opened for writing, the refusal is thrown; only
 * read, it goes to `ctx.writeRefused`. A refusal is something the file is, never an error of reading it.
 */
export function checkForWrites(ctx: OpenContext, check: () => void): void {
  if (ctx.writable === true) {
    check();
    return;
  }
  try {
    check();
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    ctx.writeRefused?.(err);
  }
}

/** `checkForWrites` for a check that reads the file (every table entry of a disk file). */
export async function checkForWritesAsync(ctx: OpenContext, check: () => Promise<void>): Promise<void> {
  if (ctx.writable === true) return check();
  try {
    await check();
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    ctx.writeRefused?.(err);
  }
}

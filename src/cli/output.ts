// Writing to stdout and stderr with back-pressure, and JSON output as one document.

import { once } from 'node:events';
import { IoError } from '../errors.js';
import { oneLine, visible } from './visible.js';

/** Writes to stdout: bytes as they are (`cat`), text with control characters made visible (visible.ts). */
export async function writeOut(data: string | Uint8Array): Promise<void> {
  try {
    if (!process.stdout.write(typeof data === 'string' ? visible(data) : data)) await once(process.stdout, 'drain');
  } catch (err) {
    throw stdoutError(err);
  }
}

/**
 * Standard output sent to a file on a full disk (`> out.txt`, /dev/full) failed as an internal error with a
 * stack trace. A reader gone (EPIPE) stays as it is: that ends the command quietly.
 */
function stdoutError(err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (typeof code !== 'string' || code === 'EPIPE') return err;
  const full = code === 'ENOSPC' || code === 'EDQUOT';
  const why = full ? 'no space is left on the disk it goes to' : code === 'EFBIG' ? 'the file it goes to cannot grow that large' : `the system said ${code}`;
  return new IoError('STDOUT_FAILED', `the output could not be written: ${why}`, {
    cause: err,
    hint: `${full ? 'free some space there, or send' : 'send'} the output to a file on another disk (> FILE) or to the screen; the card was not changed`,
  });
}

let printedJson = false;

export async function printJson(value: unknown): Promise<void> {
  printedJson = true;
  await writeOut(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * With --json, a command that fails prints its error as the one JSON document on stdout too ({"error":
 * {code, exitCode, message, hint}}), unless it printed its document already; the lines on stderr stay.
 */
export async function printJsonError(error: { code: string; exitCode: number; message: string; hint: string | null }): Promise<void> {
  if (!printedJson) await printJson({ error });
}

export function warn(message: string): void {
  process.stderr.write(`warning: ${oneLine(message)}\n`);
}

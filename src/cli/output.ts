// Writing to stdout and stderr with back-pressure, and JSON output as one document.

import { once } from 'node:events';
import { oneLine, visible } from './visible.js';

/** Writes to stdout: bytes as they are (`cat`), text with control characters made visible (visible.ts). */
export async function writeOut(data: string | Uint8Array): Promise<void> {
  if (!process.stdout.write(typeof data === 'string' ? visible(data) : data)) await once(process.stdout, 'drain');
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

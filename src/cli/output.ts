// Writing to stdout and stderr with back-pressure, and JSON output as one document.

import { once } from 'node:events';
import { visible } from './visible.js';

/** Writes to stdout: bytes as they are (`cat`), text with control characters made visible (visible.ts). */
export async function writeOut(data: string | Uint8Array): Promise<void> {
  if (!process.stdout.write(typeof data === 'string' ? visible(data) : data)) await once(process.stdout, 'drain');
}

export async function printJson(value: unknown): Promise<void> {
  await writeOut(`${JSON.stringify(value, null, 2)}\n`);
}

export function warn(message: string): void {
  process.stderr.write(`warning: ${visible(message)}\n`);
}

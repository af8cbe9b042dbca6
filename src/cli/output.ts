// Writing to stdout and stderr with back-pressure, and JSON output as one document.

import { once } from 'node:events';

export async function writeOut(data: string | Uint8Array): Promise<void> {
  if (!process.stdout.write(data)) await once(process.stdout, 'drain');
}

export async function printJson(value: unknown): Promise<void> {
  await writeOut(`${JSON.stringify(value, null, 2)}\n`);
}

export function warn(message: string): void {
  process.stderr.write(`warning: ${message}\n`);
}

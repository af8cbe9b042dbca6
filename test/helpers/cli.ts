// Runs the built CLI (dist/cli.js) as a user would, capturing stdout, stderr and the exit code.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';

export const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../../dist/cli.js');

/** The CLI runs in a scratch folder, so whatever it saves by default (originals) stays out of the repo. */
const CWD = mkdtempSync(`${tmpdir()}/haos-rescue-cwd-`);
// Removed after the test file (a worker the pool ends never sees its 'exit' event: 300 such folders were left).
afterAll(() => rmSync(CWD, { recursive: true, force: true }));
process.on('exit', () => rmSync(CWD, { recursive: true, force: true }));

export interface CliResult {
  code: number;
  stdout: Buffer;
  stderr: string;
  text: string;
}

export function cli(args: string[], input?: string): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { input, cwd: CWD, maxBuffer: 1 << 30 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString(), text: r.stdout.toString() };
}

export function cliJson<T = any>(args: string[]): T {
  const r = cli([...args, '--json']);
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.text) as T;
}

// The real Home Assistant `.storage` files of the smarter-project demo config (shared corpus, read-only):
// each test gets its own in-memory copy.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HA_CORPUS } from '../helpers/corpus.js';

export const DEMO_STORAGE = join(HA_CORPUS, 'config_dirs/smarter-project_home-assistant-demo/config/.storage');
export const hasDemo = existsSync(join(DEMO_STORAGE, 'auth'));

/** A fresh copy of one demo `.storage` file. */
export function demoFile(name: string): Buffer {
  return Buffer.from(readFileSync(join(DEMO_STORAGE, name)));
}

export function demoFileNames(): string[] {
  return hasDemo ? readdirSync(DEMO_STORAGE).sort() : [];
}

/** A store file as Home Assistant writes it. */
export function storeBytes(key: string, data: unknown, version = 1, minorVersion = 1): Buffer {
  return Buffer.from(JSON.stringify({ version, minor_version: minorVersion, key, data }, null, 2), 'utf8');
}

/** Runs fn and returns the AppError code it throws (fails the test when it does not throw). */
export function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code ?? `not an AppError: ${String(err)}`;
  }
  throw new Error('expected an error');
}

// Shared by the disk-listing tests: recorded OS outputs from fixtures/disks, a scripted RunCommand, and a
// check that damaged input only ever fails with the parser's own error code.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { AppError } from '../../src/errors.js';
import type { RunCommand } from '../../src/disks/types.js';

export const DISK_FIXTURES = fileURLToPath(new URL('../../fixtures/disks/', import.meta.url));

export function fixture(name: string): string {
  return readFileSync(`${DISK_FIXTURES}${name}`, 'utf8');
}

export interface Call {
  cmd: string;
  args: string[];
}

/** A RunCommand that answers from `answer` and records every call. */
export function scriptedRun(answer: (call: Call) => string | Error): { run: RunCommand; calls: Call[] } {
  const calls: Call[] = [];
  const run: RunCommand = async (cmd, args) => {
    calls.push({ cmd, args });
    const out = answer({ cmd, args });
    if (out instanceof Error) throw out;
    return out;
  };
  return { run, calls };
}

/** An error shaped like execFile's: `code` is the exit status or an errno name. */
export function failure(code: string | number, stderr = '', killed = false): Error {
  return Object.assign(new Error(`Command failed: ${stderr}`), { code, stderr, killed });
}

/** Runs `fn` and returns the AppError it throws (fails the test if it throws anything else or nothing). */
export function appErrorOf(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  throw new Error('expected an AppError, but nothing was thrown');
}

export async function appErrorOfAsync(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  throw new Error('expected an AppError, but the promise resolved');
}

/** Deterministic byte damage: every result must parse or fail with `code`, never crash. */
export function expectDamageHandled(text: string, parse: (s: string) => unknown, code: string, rounds = 300): void {
  let seed = 0x2545f491;
  const next = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 0x100000000;
  };
  const alphabet = '{}[]<>/":,01 \\ae&;\u0000';
  for (let i = 0; i < rounds; i++) {
    const chars = [...text];
    for (let k = 0; k < 1 + Math.floor(next() * 4); k++) {
      const at = Math.floor(next() * chars.length);
      chars[at] = alphabet[Math.floor(next() * alphabet.length)]!;
    }
    const damaged = next() < 0.2 ? chars.join('').slice(0, Math.floor(next() * text.length)) : chars.join('');
    try {
      parse(damaged);
    } catch (err) {
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe(code);
    }
  }
}

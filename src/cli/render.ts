// Rendering helpers for people: sizes, modes, tables, and the one-line error format of design.md §3.

import { AppError, ExitCode } from '../errors.js';
import { oneLine, visible } from './visible.js';

export { formatBytes } from '../units.js';

const TYPE_CHAR: Record<string, string> = { dir: 'd', symlink: 'l', chardev: 'c', blockdev: 'b', fifo: 'p', socket: 's', file: '-' };

/** ls -l style permission string, e.g. drwxr-xr-x. */
export function modeString(type: string, mode: number): string {
  const rwx = (bits: number, special: boolean, specialChar: string): string =>
    (bits & 4 ? 'r' : '-') + (bits & 2 ? 'w' : '-') + (special ? (bits & 1 ? specialChar : specialChar.toUpperCase()) : bits & 1 ? 'x' : '-');
  return (
    (TYPE_CHAR[type] ?? '?') +
    rwx((mode >> 6) & 7, (mode & 0o4000) !== 0, 's') +
    rwx((mode >> 3) & 7, (mode & 0o2000) !== 0, 's') +
    rwx(mode & 7, (mode & 0o1000) !== 0, 't')
  );
}

/** Left-aligned columns; numeric columns (by index) right-aligned. */
export function table(given: string[][], rightAligned: number[] = []): string {
  // A cell is one line: a newline or tab in a name (a crafted file or login name) broke the row in two.
  const rows = given.map((row) => row.map(oneLine));
  const widths: number[] = [];
  for (const row of rows) row.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows
    .map((row) => row.map((c, i) => (i === row.length - 1 ? c : rightAligned.includes(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  '))
    .join('\n');
}

/** An ISO time as this computer's local date and time ('-' when none). */
/** A user's two-factor column: null when the two-factor file could not be read. */
export function mfaText(mfa: boolean | null): string {
  return mfa === null ? 'unknown' : mfa ? 'on' : 'off';
}

export function localTime(iso: string | undefined, seconds = false): string {
  if (!iso) return '-';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const pad = (n: number): string => String(n).padStart(2, '0');
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}${seconds ? `:${pad(d.getSeconds())}` : ''}`;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hm}`;
}

/** The next step for an error that names none, by its kind: every error a user meets says what to do. */
const DEFAULT_HINTS: Partial<Record<number, string>> = {
  [ExitCode.USAGE]: 'haos-rescue --help shows the commands and their options',
  [ExitCode.CORRUPT]: 'this part of the filesystem is damaged: copy what can still be read (export, backup extract), and repair a copy of the card with e2fsck',
  [ExitCode.NOT_FOUND]: 'check the name: haos-rescue ls shows what is there',
  [ExitCode.UNSUPPORTED]: 'haos-rescue cannot do this; debugfs (e2fsprogs) on a Linux computer may',
  [ExitCode.IO]: 'if the card failed the read, copy it to an image first (haos-rescue image) and work on the image',
  [ExitCode.REFUSED]: 'nothing was changed',
};

/** The error's own hint, or the one for its kind: the same on stderr and in the JSON error. */
export function hintFor(err: AppError): string | null {
  return err.hint ?? DEFAULT_HINTS[err.exitCode] ?? null;
}

export function errorLines(err: AppError, verbose: boolean): string {
  // The message and the hint are one line each, whatever a name from the card they quote holds.
  const lines = [`error: ${oneLine(err.message)}`];
  const hint = hintFor(err);
  if (hint) lines.push(`hint: ${oneLine(hint)}`);
  if (verbose) {
    lines.push(`code: ${err.code} (exit ${err.exitCode})`);
    const cause = err.cause instanceof Error ? err.cause : err;
    if (cause.stack) lines.push(cause.stack);
  }
  return visible(lines.join('\n'));
}

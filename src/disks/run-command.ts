// Runs the OS listing commands (lsblk, diskutil, PowerShell) with a timeout, and turns their failures into
// AppErrors that say what to do. execFile, never a shell: arguments are passed as they are.

import { execFile } from 'node:child_process';
import { AppError, IoError, RefusedError, UnsupportedError } from '../errors.js';
import type { RunCommand } from './types.js';

export const DEFAULT_TIMEOUT_MS = 30_000;
const MAX_OUTPUT = 32 * 1024 * 1024;

/** What a failed run rejects with: execFile's error plus the command's stderr. */
export interface CommandFailure extends Error {
  code?: string | number | null;
  stderr?: string;
  killed?: boolean;
  signal?: NodeJS.Signals | null;
}

/** A RunCommand over child_process.execFile that gives up after `timeoutMs`. */
export function createRunCommand(timeoutMs = DEFAULT_TIMEOUT_MS): RunCommand {
  return (cmd, args) =>
    new Promise((resolve, reject) => {
      execFile(cmd, args, { timeout: timeoutMs, maxBuffer: MAX_OUTPUT, windowsHide: true, encoding: 'utf8' }, (err, stdout, stderr) => {
        if (err === null) return resolve(stdout);
        const failure = err as CommandFailure;
        failure.stderr = stderr;
        reject(failure);
      });
    });
}

export const runCommand: RunCommand = createRunCommand();

/** The command does not exist on this computer. */
export function isMissingCommand(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as CommandFailure).code === 'ENOENT';
}

function firstLine(text: string | undefined): string {
  const line = (text ?? '').split(/\r?\n/).map((l) => l.trim()).find((l) => l.length > 0) ?? '';
  return line.length > 200 ? `${line.slice(0, 200)}...` : line;
}

function adminHint(platform: NodeJS.Platform): string {
  return platform === 'win32'
    ? 'start the terminal with "Run as administrator" and try again'
    : 'run the same command with sudo';
}

/** Maps a failed run of `cmd` to an AppError with a hint for `platform`. */
export function commandError(err: unknown, cmd: string, platform: NodeJS.Platform): AppError {
  if (err instanceof AppError) return err;
  const f = (typeof err === 'object' && err !== null ? err : { message: String(err) }) as CommandFailure;
  const details = { command: cmd, exitCode: f.code ?? null, signal: f.signal ?? null, stderr: firstLine(f.stderr) };
  if (f.code === 'ENOENT') {
    return new UnsupportedError('DISK_LIST_TOOL_MISSING', `${cmd} is not installed, so the disks cannot be listed`, {
      cause: err,
      details,
      hint: `${missingHint(platform)}; or name the disk directly`,
    });
  }
  if (f.killed === true || f.code === 'ETIMEDOUT') {
    return new IoError('DISK_LIST_TIMEOUT', `${cmd} did not finish listing the disks in time`, {
      cause: err,
      details,
      hint: 'a disk or card reader that does not respond can hang the listing: unplug what you do not need and try again',
    });
  }
  const said = firstLine(f.stderr) || firstLine(f.message);
  if (f.code === 'EACCES' || f.code === 'EPERM' || /access is denied|access denied|permission denied|not permitted/i.test(said)) {
    return new RefusedError('NO_PERMISSION', `no permission to list the disks: ${said}`, { cause: err, details, hint: adminHint(platform) });
  }
  return new IoError('DISK_LIST_FAILED', `${cmd} failed${typeof f.code === 'number' ? ` (exit ${f.code})` : ''}: ${said || 'no message'}`, {
    cause: err,
    details,
    hint: 'name the disk directly if you know it',
  });
}

function missingHint(platform: NodeJS.Platform): string {
  if (platform === 'win32') return 'Windows PowerShell (powershell.exe) or PowerShell 7 (pwsh) is needed';
  if (platform === 'darwin') return 'diskutil is part of macOS and should be at /usr/sbin/diskutil';
  return 'install util-linux (it provides lsblk)';
}

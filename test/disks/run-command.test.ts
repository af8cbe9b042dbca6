// The real command runner (execFile with a timeout) and the mapping of its failures to AppErrors.

import { describe, expect, it } from 'vitest';
import { commandError, createRunCommand, isMissingCommand } from '../../src/disks/run-command.js';
import { ExitCode } from '../../src/errors.js';
import { failure } from './helpers.js';

const node = process.execPath;

describe('createRunCommand', () => {
  it('resolves with standard output', async () => {
    expect(await createRunCommand()(node, ['-e', 'process.stdout.write("{\\"ok\\":1}")'])).toBe('{"ok":1}');
  });

  it('rejects with the exit code and standard error', async () => {
    const err = await createRunCommand()(node, ['-e', 'process.stderr.write("lsblk: unknown column\\n"); process.exit(3)']).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 3, stderr: 'lsblk: unknown column\n' });
    expect(commandError(err, 'lsblk', 'linux')).toMatchObject({ code: 'DISK_LIST_FAILED', message: 'lsblk failed (exit 3): lsblk: unknown column' });
  });

  it('a missing command is ENOENT', async () => {
    const err = await createRunCommand()('haos-rescue-no-such-command', []).catch((e: unknown) => e);
    expect(isMissingCommand(err)).toBe(true);
    expect(commandError(err, 'lsblk', 'linux')).toMatchObject({ code: 'DISK_LIST_TOOL_MISSING', exitCode: ExitCode.UNSUPPORTED });
  });

  it('a command that hangs is killed after the timeout', async () => {
    const started = Date.now();
    const err = await createRunCommand(200)(node, ['-e', 'setTimeout(() => {}, 10000)']).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(commandError(err, 'diskutil', 'darwin')).toMatchObject({ code: 'DISK_LIST_TIMEOUT', exitCode: ExitCode.IO });
  });
});

describe('commandError', () => {
  it('permission problems are NO_PERMISSION with the per-OS instruction', () => {
    const linux = commandError(failure(1, 'lsblk: /dev/sda: Permission denied'), 'lsblk', 'linux');
    expect(linux).toMatchObject({ code: 'NO_PERMISSION', exitCode: ExitCode.REFUSED });
    expect(linux.hint).toMatch(/sudo/);
    expect(commandError(failure('EACCES'), 'PowerShell', 'win32').hint).toMatch(/Run as administrator/);
  });

  it('the hint for a missing tool names what to install on each OS', () => {
    expect(commandError(failure('ENOENT'), 'lsblk', 'linux').hint).toMatch(/util-linux/);
    expect(commandError(failure('ENOENT'), 'diskutil', 'darwin').hint).toMatch(/\/usr\/sbin\/diskutil/);
    expect(commandError(failure('ENOENT'), 'PowerShell', 'win32').hint).toMatch(/pwsh/);
  });

  it('keeps only the first line of a long error, and passes AppErrors through', () => {
    const err = commandError(failure(2, `\n${'x'.repeat(500)}\nsecond line`), 'lsblk', 'linux');
    expect(err.message).toHaveLength('lsblk failed (exit 2): '.length + 203);
    expect(commandError(err, 'other', 'linux')).toBe(err);
    expect(commandError('a string', 'lsblk', 'linux').code).toBe('DISK_LIST_FAILED');
  });
});

// Without rights to the source (simulated by running the CLI as user nobody against a root-only image),
// every command that opens a SOURCE exits 77 and names the exact command to run again with sudo. The
// Windows and macOS wording is checked in test/device/map-os-error.test.ts. Needs root and setpriv.

import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSampleImage } from '../../fixtures/index.js';
import { CLI } from '../helpers/cli.js';

const NOBODY = '65534';
const canDrop = process.platform === 'linux' && process.getuid?.() === 0 && spawnSync('setpriv', ['--version']).status === 0;
const work = mkdtempSync(join(tmpdir(), 'haos-rescue-rights-'));
chmodSync(work, 0o755);
const image = join(work, 'root-only.img');
writeFileSync(image, readSampleImage());
chmodSync(image, 0o600);
afterAll(() => rmSync(work, { recursive: true, force: true }));

function asNobody(args: string[]): { code: number | null; stderr: string; stdout: string } {
  const r = spawnSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, CLI, ...args], { cwd: work, encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

const COMMANDS: string[][] = [
  ['info', image],
  ['ls', image, '/supervisor'],
  ['cat', image, '/supervisor/homeassistant/.HA_VERSION'],
  ['auth', 'list', image],
  ['auth', 'reset', image, '-u', 'vm-user', '--password', 'new pw'],
  ['auth', 'add', image, '-u', 'rescue', '--password', 'new pw'],
  ['backup', 'list', image],
  ['backup', 'extract', image, '--out', join(work, 'backups')],
  ['backup', 'key', image],
  ['export', image, '--out', join(work, 'export')],
];

describe.skipIf(!canDrop)(`without rights to the source${canDrop ? '' : ' (skipped: needs root and setpriv)'}`, () => {
  it.each(COMMANDS.map((c) => [c.slice(0, c[0] === 'auth' || c[0] === 'backup' ? 2 : 1).join(' '), c]))('%s exits 77 with the sudo command', (_name, args) => {
    const r = asNobody(args as string[]);
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toContain(`error: no permission to open ${image}`);
    const shown = (args as string[]).map((a) => (/^[\w@%+=:,./\\-]+$/.test(a) ? a : `'${a}'`)).join(' ');
    expect(r.stderr).toContain(`sudo haos-rescue ${shown}`);
    expect(r.stdout).toBe('');
  });
});

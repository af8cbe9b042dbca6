// Which other processes hold a disk file open: a child that opened the file is found by its pid and name,
// through /proc (Linux) and through lsof (what macOS uses; run here too where lsof is installed); a file
// nobody else has open has no users, and Windows answers "unknown" (its sharing violation refuses instead).

import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseLsofFields, processesUsing } from '../../src/device/vdisk/in-use.js';
import { spawnSync } from 'node:child_process';
import { tempDir } from '../helpers/images.js';

const work = tempDir('in-use-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('processesUsing', () => {
  const hasLsof = spawnSync('lsof', ['-v']).error === undefined;
  for (const [how, platform, skip] of [['/proc', 'linux', process.platform !== 'linux'], ['lsof (as on macOS)', 'darwin', process.platform === 'win32' || !hasLsof]] as const) {
    it.skipIf(skip)(`${how}: finds a process that holds the file open, and none once it is gone${skip ? ' (skipped: not available here)' : ''}`, async () => {
      const disk = join(work, `vm-disk-${platform}.qcow2`);
      writeFileSync(disk, Buffer.alloc(4096));
      expect(await processesUsing(disk, platform)).toEqual([]);
      const child = spawn('sh', ['-c', `exec 3<"${disk}"; echo ready; exec sleep 30`], { stdio: ['ignore', 'pipe', 'ignore'] });
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      await new Promise((r) => setTimeout(r, 100)); // the exec into sleep keeps fd 3
      try {
        const users = await processesUsing(disk, platform);
        expect(users).toEqual([{ pid: child.pid, name: 'sleep' }]);
      } finally {
        child.kill();
        await new Promise((r) => child.once('exit', r));
      }
      expect(await processesUsing(disk, platform)).toEqual([]);
    });
  }

  it('reads lsof\'s field output: each process once, named, this process left out', () => {
    const text = 'p4242\ncVBoxHeadless\nf12\np17\ncqemu-system-aarch64\nf3\nf9\np' + process.pid + '\ncnode\n';
    expect(parseLsofFields(text)).toEqual([{ pid: 4242, name: 'VBoxHeadless' }, { pid: 17, name: 'qemu-system-aarch64' }]);
    expect(parseLsofFields('')).toEqual([]);
  });

  it('answers unknown on Windows', async () => {
    expect(await processesUsing(join(work, 'x'), 'win32')).toBeNull();
  });
});

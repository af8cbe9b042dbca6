// Which other processes hold a disk file open: a child that opened the file is found by its pid and name,
// a file nobody else has open has no users, and systems without /proc answer "unknown".

import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { processesUsing } from '../../src/device/vdisk/in-use.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('in-use-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('processesUsing', () => {
  it.skipIf(process.platform !== 'linux')('finds a process that holds the file open, and none once it is gone', async () => {
    const disk = join(work, 'vm-disk.qcow2');
    writeFileSync(disk, Buffer.alloc(4096));
    expect(await processesUsing(disk)).toEqual([]);
    const child = spawn('sh', ['-c', `exec 3<"${disk}"; echo ready; exec sleep 30`], { stdio: ['ignore', 'pipe', 'ignore'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    await new Promise((r) => setTimeout(r, 100)); // the exec into sleep keeps fd 3
    try {
      const users = await processesUsing(disk);
      expect(users).toEqual([{ pid: child.pid, name: 'sleep' }]);
    } finally {
      child.kill();
      await new Promise((r) => child.once('exit', r));
    }
    expect(await processesUsing(disk)).toEqual([]);
  });

  it('answers unknown where there is no /proc', async () => {
    expect(await processesUsing(join(work, 'x'), 'darwin')).toBeNull();
    expect(await processesUsing(join(work, 'x'), 'win32')).toBeNull();
  });
});

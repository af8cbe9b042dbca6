// What the window says to do next, in its own terms: the hints below the command line name its options
// ("name one of the partitions", "give the byte offset", "the backup commands", "run the command again"),
// which the window has no control for. Each is said as what the owner can do in the window.

import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rawRequest, startGui } from '../helpers/gui.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('gui-hints-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('hints in the browser window', () => {
  it('a backup file, a small file and a disk without Home Assistant data: what to do, without command-line options', async () => {
    writeFileSync(join(work, 'notes.txt'), 'x'.repeat(100));
    execFileSync('tar', ['-cf', join(work, 'backup.tar'), '-C', work, 'notes.txt']);
    const gpt = join(work, 'other-disk.img');
    writeFileSync(gpt, Buffer.alloc(8 * 1024 * 1024));
    execFileSync('sgdisk', ['-n', '1:2048:+4M', gpt], { stdio: 'ignore' });
    const gui = await startGui([]);
    const headers = { 'X-Rescue-Token': gui.token, Origin: gui.base, 'Content-Type': 'application/json' };
    const open = async (path: string): Promise<{ code: string; hint: string }> => {
      const r = await rawRequest(gui.port, 'POST', '/api/open', headers, JSON.stringify({ path }));
      expect(r.status, r.body).toBeGreaterThanOrEqual(400);
      return (JSON.parse(r.body) as { error: { code: string; hint: string } }).error;
    };
    try {
      const backup = await open(join(work, 'backup.tar'));
      expect(backup.hint).toMatch(/^this is a backup file, not a disk: Home Assistant restores it as it is/);
      for (const path of [join(work, 'notes.txt'), gpt]) {
        const e = await open(path);
        expect(e.hint, e.code).toMatch(/check that this is the Home Assistant card or disk, whole/);
        expect(e.hint, e.code).not.toMatch(/name one of the partitions|byte offset|--partition|--offset/);
      }
    } finally {
      gui.child.kill('SIGTERM');
      await gui.exited;
    }
  });
});

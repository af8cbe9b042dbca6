// A write into a disk file that grows it goes through two handles on the file (new clusters past the end
// the file had when opened go through the second). A flush syncs only the handles written through since the
// last one; this checks, with strace, that no write is left unsynced by that: every handle that wrote to the
// disk file is synced after its last write, for each writable container format.

import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSampleImage } from '../../fixtures/index.js';
import { tempDir } from '../helpers/images.js';

const CLI = join(import.meta.dirname, '../../dist/cli.js');
const work = tempDir('vdisk-sync-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const hasStrace = spawnSync('strace', ['-V']).status === 0;

beforeAll(() => {
  writeFileSync(join(work, 'card.img'), readSampleImage());
  writeFileSync(join(work, 'new.bin'), Buffer.alloc(3 * 1024 * 1024, 0x5a));
});

/** Per handle on `target` (by fd, reopened fds told apart): wrote, and synced after its last write. */
function handles(trace: string, target: string): Array<{ fd: string; wrote: number; syncedAfter: boolean }> {
  const open = new Map<string, { fd: string; wrote: number; syncedAfter: boolean }>();
  const all: Array<{ fd: string; wrote: number; syncedAfter: boolean }> = [];
  for (const line of readFileSync(trace, 'utf8').split('\n')) {
    const opened = /openat\(AT_FDCWD, "([^"]+)", [^)]*\) = (\d+)$/.exec(line);
    if (opened) {
      open.delete(opened[2]!);
      if (opened[1] === target) {
        const h = { fd: opened[2]!, wrote: 0, syncedAfter: false };
        open.set(h.fd, h);
        all.push(h);
      }
    }
    const closed = /close\((\d+)\)\s+= 0$/.exec(line);
    if (closed) open.delete(closed[1]!);
    const wrote = /pwrite(?:64|v)\((\d+),.*= \d+$/.exec(line);
    const h = wrote ? open.get(wrote[1]!) : undefined;
    if (h) (h.wrote++, (h.syncedAfter = false));
    const synced = /f(?:data)?sync\((\d+)\)\s+= 0$/.exec(line);
    const s = synced ? open.get(synced[1]!) : undefined;
    if (s) s.syncedAfter = true;
  }
  return all;
}

describe.skipIf(!hasStrace || process.platform !== 'linux')('writes into a disk file that grows', () => {
  it.each([
    // label, qemu-img convert options, file, handles that write (2: the file grows)
    ['qcow2', ['-O', 'qcow2'], 'card.qcow2', 2],
    ['VDI', ['-O', 'vdi'], 'card.vdi', 2],
    ['VHD', ['-O', 'vpc', '-o', 'force_size=on'], 'card.vhd', 2],
    ['VHDX', ['-O', 'vhdx'], 'card.vhdx', 1], // 32 MiB blocks: the one the file goes to is there already
    ['VMDK', ['-O', 'vmdk'], 'card.vmdk', 2],
  ])('%s: every handle that wrote is synced after its last write', (_label, opts, file, writers) => {
    const disk = join(work, file);
    execFileSync('qemu-img', ['convert', '-f', 'raw', ...opts, join(work, 'card.img'), disk]);
    const trace = join(work, `${file}.trace`);
    // One thread for file calls: strace's lines then never interleave.
    const r = spawnSync('strace', ['-f', '-qq', '-o', trace, '-e', 'trace=openat,close,fsync,fdatasync,pwrite64,pwritev', process.execPath, CLI, 'put', disk, join(work, 'new.bin'), '/supervisor/homeassistant/new.bin', '--yes'], {
      cwd: work,
      env: { ...process.env, UV_THREADPOOL_SIZE: '1' },
    });
    expect(r.status, r.stderr.toString()).toBe(0);
    const used = handles(trace, disk).filter((h) => h.wrote > 0);
    expect(used.length).toBe(writers);
    for (const h of used) expect(h, `fd ${h.fd} synced after its last write`).toMatchObject({ syncedAfter: true });
  });
});

// A damaged group descriptor block (a bad sector, a torn write where the kernel rewrites descriptors most):
// the backup copy after group 1's superblock is read instead, as e2fsck falls back to it, and said; writes
// are refused until e2fsck has repaired a copy. Before, the whole card read as "no filesystem found".

import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { mkfs, tempDir } from '../helpers/images.js';

const work = tempDir('gdt-backup-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

function overwrite(path: string, offset: number, bytes: Buffer): void {
  const fd = openSync(path, 'r+');
  writeSync(fd, bytes, 0, bytes.length, offset);
  closeSync(fd);
}

/** Every file of an export, relative path → bytes. */
function exported(image: string, name: string): Map<string, string> {
  const out = join(work, name);
  const r = cli(['export', image, '--what', 'all', '--out', out]);
  expect(r.code, r.stderr).toBe(0);
  const list = spawnSync('find', [out, '-type', 'f'], { encoding: 'utf8' }).stdout.trim().split('\n').sort();
  return new Map(list.map((p) => [p.slice(out.length), readFileSync(p).toString('base64')]));
}

describe('a damaged group descriptor block', () => {
  it('1 KiB blocks, the primary descriptor block overwritten: read from the backup, the same files as before, said; a write refused', () => {
    const stage = join(work, 'stage');
    mkdirSync(join(stage, 'supervisor', 'homeassistant', '.storage'), { recursive: true });
    for (let i = 0; i < 40; i++) writeFileSync(join(stage, 'supervisor', 'homeassistant', `file-${i}.yaml`), `n: ${i}\n`.repeat(200 + i));
    const good = join(work, 'good.img');
    mkfs(good, stage, { sizeMiB: 48, blockSize: 1024 });
    const bad = join(work, 'bad.img');
    writeFileSync(bad, readFileSync(good));
    overwrite(bad, 2 * 1024, Buffer.alloc(1024, 0xa5));
    const before = exported(good, 'good-out');
    expect(exported(bad, 'bad-out')).toEqual(before);
    const info = cli(['info', bad]);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stderr).toMatch(/^warning: group descriptor block 0 is damaged \(group 0 puts its .* outside the filesystem\): its backup copy at block 8194 is used, as e2fsck does/m);
    expect(info.text).toMatch(/refused as it is: the filesystem's group descriptors are damaged[\s\S]*e2fsck -b 8193 -B 1024/);
    const sha = readFileSync(bad).toString('base64');
    const write = cli(['safe-mode', bad, '--yes']);
    expect(write.code).toBe(77);
    expect(readFileSync(bad).toString('base64')).toBe(sha);
    // The oracle: e2fsck repairs a copy from the same backup, and it reads as it was.
    const fixed = join(work, 'fixed.img');
    writeFileSync(fixed, readFileSync(bad));
    spawnSync('e2fsck', ['-fy', '-b', '8193', '-B', '1024', fixed]);
    expect(spawnSync('e2fsck', ['-fn', fixed]).status).toBe(0);
    expect(exported(fixed, 'fixed-out')).toEqual(before);
  });

  it('4 KiB blocks, one byte of group 0\'s descriptor changed: its checksum fails, the backup is read, the same files', () => {
    const stage = join(work, 'stage4k');
    mkdirSync(join(stage, 'supervisor', 'homeassistant'), { recursive: true });
    for (let i = 0; i < 20; i++) writeFileSync(join(stage, 'supervisor', 'homeassistant', `f${i}.yaml`), `x: ${i}\n`.repeat(500));
    const good = join(work, 'good4k.img');
    mkfs(good, stage, { sizeMiB: 160, blockSize: 4096 });
    const bad = join(work, 'bad4k.img');
    writeFileSync(bad, readFileSync(good));
    // Group 0's descriptor is the first of block 1; byte 0x0c is its free block count.
    const byte = readFileSync(good).subarray(4096 + 0x0c, 4096 + 0x0d);
    overwrite(bad, 4096 + 0x0c, Buffer.from([byte[0]! ^ 0x01]));
    expect(exported(bad, 'bad4k-out')).toEqual(exported(good, 'good4k-out'));
    const r = cli(['ls', bad, '/supervisor/homeassistant']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/group descriptor block 0 is damaged \(the descriptor of group 0 does not match its checksum\): its backup copy at block 32769 is used/);
  });
});

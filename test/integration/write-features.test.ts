// Writes on filesystems with features or file marks the writer does not keep right, found by a feature-matrix
// campaign (every mke2fs layout, every write command, e2fsck -fn and the kernel as oracles): each is refused
// before anything is written, with what it is and what to do, instead of a write e2fsck then complains about
// (quota), a write that went through where the README promised a refusal (bigalloc), a false report of
// damage (bigalloc, ea_inode), or a change the kernel refuses even to root (chattr +i, +a).

import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { crc32cUpdate } from '../../src/ext4/checksum.js';
import { fsCsumSeed } from '../../src/ext4/inode-csum.js';
import { parseSuperblock } from '../../src/ext4/superblock.js';
import { cli } from '../helpers/cli.js';
import { prng, tempDir } from '../helpers/images.js';

const work = tempDir('write-features-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');
const CONFIG = '/supervisor/homeassistant';

/** A bare filesystem labelled hassos-data with a small configuration folder, built with mke2fs and debugfs. */
function card(name: string, mkfsArgs: string[], more: string[] = []): string {
  const img = join(work, `${name}.img`);
  const file = join(work, `${name}.txt`);
  writeFileSync(file, 'homeassistant:\n');
  writeFileSync(join(work, `${name}.bin`), prng(5, 9000));
  execFileSync('mkfs.ext4', ['-q', '-F', '-L', 'hassos-data', ...mkfsArgs, img, '64M'], { stdio: 'ignore' });
  const cmds = [
    'mkdir /supervisor', `mkdir ${CONFIG}`, `mkdir ${CONFIG}/.storage`,
    `write ${file} ${CONFIG}/configuration.yaml`, `write ${file} ${CONFIG}/small.txt`, `mkdir ${CONFIG}/custom_components`,
    `write ${file} ${CONFIG}/custom_components/a.py`,
    ...more.map((c) => c.replaceAll('VALUE', join(work, `${name}.bin`)).replaceAll('FILE', file)),
  ];
  writeFileSync(join(work, `${name}.cmds`), `${cmds.join('\n')}\n`);
  execFileSync('debugfs', ['-w', '-f', join(work, `${name}.cmds`), img], { stdio: 'ignore' });
  // debugfs leaves counts the kernel would have kept (an ea_inode value's blocks in its owner's count): e2fsck sets them.
  spawnSync('e2fsck', ['-fy', img], { stdio: 'ignore' });
  expect(spawnSync('e2fsck', ['-fn', img]).status, `${name} is clean to begin with`).toBe(0);
  return img;
}

function refused(img: string, args: string[], code: string, exit: number): string {
  const before = sha(img);
  const r = cli([args[0]!, img, ...args.slice(1), '--yes', '--no-originals', '--verbose']);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(exit);
  expect(r.stderr, args.join(' ')).toContain(`code: ${code}`);
  expect(r.stderr, args.join(' ')).toMatch(/^hint: .*nothing was written/m);
  expect(sha(img), `${args.join(' ')} wrote nothing`).toBe(before);
  return r.stderr;
}

describe('filesystems the writer does not change', () => {
  it('bigalloc: every write is refused up front with exit 69 (safe mode and mv went through; a small file read as damage)', () => {
    const img = card('bigalloc', ['-b', '4096', '-O', 'bigalloc', '-C', '16384']);
    const local = join(work, 'new.yaml');
    writeFileSync(local, 'x: 1\n');
    for (const args of [['safe-mode'], ['mv', `${CONFIG}/configuration.yaml`, `${CONFIG}/old.yaml`], ['rm', `${CONFIG}/small.txt`],
      ['rm', '-r', `${CONFIG}/custom_components`], ['put', local, `${CONFIG}/new.yaml`]]) {
      expect(refused(img, args, 'BIGALLOC', 69)).toMatch(/allocates its blocks in clusters \(bigalloc\)/);
    }
    const info = cli(['info', img]);
    expect(info.text).toMatch(/Changes: +refused as it is: .*bigalloc/);
  });

  it.each([['quota'], ['quota,project']])('%s: refused up front (the usage records were left wrong: e2fsck "Usage inconsistent")', (features) => {
    const img = card(features.replace(',', '-'), ['-O', features]);
    const local = join(work, 'q.yaml');
    writeFileSync(local, 'q: 1\n');
    expect(refused(img, ['put', local, `${CONFIG}/q.yaml`], 'QUOTA', 69)).toMatch(/keeps disk quota usage \(quota/);
    refused(img, ['safe-mode'], 'QUOTA', 69);
  });
});

describe('a filesystem another computer has in use (multi-mount protection)', () => {
  it('is refused, naming that computer, as the kernel refuses to mount it; released (clean), the write goes through', () => {
    const img = card('mmp', ['-O', 'mmp']);
    const local = join(work, 'm.yaml');
    writeFileSync(local, 'm: 1\n');
    // What a computer using it leaves in the MMP block: its own sequence number and name (checksum made again).
    const bytes = readFileSync(img);
    const sb = parseSuperblock(bytes.subarray(1024, 2048));
    const at = sb.mmpBlock * sb.blockSize;
    const clean = Buffer.from(bytes.subarray(at, at + 1024));
    const mmp = Buffer.from(clean);
    mmp.writeUInt32LE(0x12345678, 4);
    mmp.fill(0, 16, 80).write('otherbox', 16, 'latin1');
    mmp.writeUInt32LE(crc32cUpdate(fsCsumSeed(sb), mmp, 0, 1020) >>> 0, 1020);
    mmp.copy(bytes, at);
    writeFileSync(img, bytes);
    expect(refused(img, ['put', local, `${CONFIG}/m.yaml`], 'IN_USE_ELSEWHERE', 77)).toMatch(/multi-mount protection says it is in use by otherbox/);
    expect(cli(['info', img]).text).toMatch(/^Changes: +refused as it is: .*in use by otherbox/m);
    clean.copy(bytes, at);
    writeFileSync(img, bytes);
    const r = cli(['put', img, local, `${CONFIG}/m.yaml`, '--yes', '--no-originals']);
    expect(r.code, r.stderr).toBe(0);
    expect(spawnSync('e2fsck', ['-fn', img]).status).toBe(0);
  });
});

describe('files the writer does not change', () => {
  it('ea_inode: a file whose attribute value has an inode of its own is refused as such, not as damage', () => {
    const img = card('ea-inode', ['-O', 'ea_inode'], [`write FILE ${CONFIG}/big-attr.txt`, `ea_set -f VALUE ${CONFIG}/big-attr.txt user.huge`]);
    expect(refused(img, ['rm', `${CONFIG}/big-attr.txt`], 'EA_INODE', 69)).not.toMatch(/owns \d+ blocks by its count/);
  });

  it('immutable and append-only files (chattr +i, +a) are not removed, replaced or moved, as the kernel refuses even root', () => {
    const img = card('locked', [], [
      `write FILE ${CONFIG}/frozen.yaml`, `set_inode_field ${CONFIG}/frozen.yaml flags 0x80010`,
      `write FILE ${CONFIG}/log.txt`, `set_inode_field ${CONFIG}/log.txt flags 0x80020`,
      `set_inode_field ${CONFIG}/custom_components/a.py flags 0x80010`,
    ]);
    const local = join(work, 'l.yaml');
    writeFileSync(local, 'l: 1\n');
    expect(refused(img, ['rm', `${CONFIG}/frozen.yaml`], 'FILE_LOCKED', 77)).toMatch(/frozen\.yaml \(inode \d+\) is marked immutable \(chattr \+i\)/);
    expect(refused(img, ['put', local, `${CONFIG}/log.txt`], 'FILE_LOCKED', 77)).toMatch(/log\.txt \(inode \d+\) is marked append-only.*\n.*chattr -a/);
    refused(img, ['mv', `${CONFIG}/frozen.yaml`, `${CONFIG}/thawed.yaml`], 'FILE_LOCKED', 77);
    refused(img, ['mv', `${CONFIG}/small.txt`, `${CONFIG}/log.txt`, '--force'], 'FILE_LOCKED', 77);
    expect(refused(img, ['rm', '-r', `${CONFIG}/custom_components`], 'FILE_LOCKED', 77)).toMatch(/a\.py/);
    // The mark taken away (as chattr -i does), the same removal goes through and e2fsck stays clean.
    execFileSync('debugfs', ['-w', '-R', `set_inode_field ${CONFIG}/frozen.yaml flags 0x80000`, img], { stdio: 'ignore' });
    const r = cli(['rm', img, `${CONFIG}/frozen.yaml`, '--yes', '--no-originals']);
    expect(r.code, r.stderr).toBe(0);
    expect(spawnSync('e2fsck', ['-fn', img]).status).toBe(0);
  });

  it('an immutable folder is named by the file it holds (it said "folder inode 50 (inode 50)")', () => {
    const img = card('locked-folder', [], [`mkdir ${CONFIG}/frozen`, `write FILE ${CONFIG}/frozen/in.yaml`, `set_inode_field ${CONFIG}/frozen flags 0x80010`]);
    const local = join(work, 'l2.yaml');
    writeFileSync(local, 'l: 2\n');
    expect(refused(img, ['put', local, `${CONFIG}/frozen/new.yaml`], 'FILE_LOCKED', 77)).toMatch(/^error: the folder that holds new\.yaml \(inode \d+\) is marked immutable/m);
    expect(refused(img, ['rm', `${CONFIG}/frozen/in.yaml`], 'FILE_LOCKED', 77)).toMatch(/^error: the folder that holds in\.yaml \(inode \d+\) is marked immutable/m);
    expect(refused(img, ['rm', '-r', `${CONFIG}/frozen`], 'FILE_LOCKED', 77)).toMatch(/^error: the folder that holds in\.yaml \(inode \d+\) is marked immutable/m);
  });

  it('a name longer than ext4 takes (255 bytes) is a usage error that says so (it was exit 69 "cannot be a file name")', () => {
    const img = card('long-name', []);
    const local = join(work, 'l3.yaml');
    writeFileSync(local, 'l: 3\n');
    const err = refused(img, ['put', local, `${CONFIG}/${'n'.repeat(256)}`], 'NAME_TOO_LONG', 64);
    expect(err).toMatch(/is 256 bytes: a name on ext4 is at most 255 bytes/);
    // Its start is quoted whole characters only (40 bytes cut the 20th é in two: shown as \xc3).
    const quoted = refused(img, ['mv', `${CONFIG}/small.txt`, `${CONFIG}/a${'é'.repeat(128)}`], 'NAME_TOO_LONG', 64);
    expect(quoted).toContain(`the name a${'é'.repeat(19)}… is 257 bytes`);
  });

  it('casefold: moving a file into a case-insensitive folder says the folder is not edited (not "not found by exact name")', () => {
    const img = card('casefold', ['-O', 'casefold', '-E', 'encoding=utf8'], ['mkdir /supervisor/share', 'set_inode_field /supervisor/share flags 0x40000000']);
    expect(refused(img, ['mv', `${CONFIG}/small.txt`, '/supervisor/share/Small.txt'], 'SPECIAL_DIRECTORY', 69)).toMatch(/case-insensitive; haos-rescue does not edit those/);
  });
});

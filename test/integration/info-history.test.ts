// `info` says when the box last mounted and wrote its data filesystem, and which errors the kernel recorded
// in the superblock: the first clues to "when did it stop, and why". Oracles: dumpe2fs -h (TZ=UTC) for the
// superblock's times and error record; the kernel itself (a loop mount, as root) for an error it really met
// and for a journal transaction it really committed, timed by the test's clock.

import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, openSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type InfoResult, stateText } from '../../src/actions/info.js';
import { crc32cUpdate } from '../../src/ext4/checksum.js';
import { cli, cliJson } from '../helpers/cli.js';
import { mkfs, tempDir } from '../helpers/images.js';
import { kernelCanMount, withKernelMount } from '../helpers/kernel.js';

const work = tempDir('info-history-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** dumpe2fs -h's "Name: value" lines, times in UTC. */
function dumpe2fs(img: string): Map<string, string> {
  const out = execFileSync('dumpe2fs', ['-h', img], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' }, stdio: ['ignore', 'pipe', 'ignore'] });
  return new Map(out.split('\n').filter((l) => l.includes(':')).map((l) => [l.slice(0, l.indexOf(':')).trim(), l.slice(l.indexOf(':') + 1).trim()]));
}

/** dumpe2fs's ctime()-style UTC time ("Tue Dec  1 14:03:22 2026") as ISO. */
const iso = (ctime: string | undefined): string | null => (ctime === undefined ? null : new Date(`${ctime} UTC`).toISOString());

function image(name: string, files = 0): string {
  const stage = join(work, `${name}-stage`);
  mkdirSync(join(stage, 'd'), { recursive: true });
  for (let i = 0; i < files; i++) writeFileSync(join(stage, 'd', `file${i}`), `${i}\n`);
  const img = join(work, `${name}.img`);
  mkfs(img, stage, { blockSize: 4096, sizeMiB: 16 });
  return img;
}

function infoData(img: string): InfoResult['data'] {
  return cliJson<InfoResult>(['info', img]).data;
}

describe('info: the times and errors the kernel recorded', () => {
  it('reads the mount and write times and both error records as dumpe2fs does', () => {
    const img = image('ssv');
    const cmds = [
      'ssv mtime 20261130080001',
      'ssv error_count 3',
      'ssv first_error_time 20261201140322',
      'ssv first_error_func ext4_readdir',
      'ssv first_error_ino 12',
      'ssv first_error_block 1234',
      'ssv first_error_line 99',
      'ssv last_error_time 20261201140500',
      'ssv last_error_func ext4_lookup',
      'ssv last_error_ino 13',
      'ssv last_error_line 1765',
    ];
    execFileSync('debugfs', ['-w', '-f', '-', img], { input: cmds.join('\n'), stdio: ['pipe', 'ignore', 'ignore'] });
    const d = infoData(img);
    const o = dumpe2fs(img);
    expect(d.times.mounted).toBe(iso(o.get('Last mount time')));
    expect(d.times.mounted).toBe('2026-11-30T08:00:01.000Z');
    expect(d.times.written).toBe(iso(o.get('Last write time')));
    expect(d.times.lastJournalCommit).toBeNull();
    expect(d.kernelErrors).toEqual({
      count: Number(o.get('FS Error count')),
      first: { time: iso(o.get('First error time')), function: o.get('First error function'), line: 99, inode: 12, block: 1234, code: null, meaning: null },
      last: { time: iso(o.get('Last error time')), function: o.get('Last error function'), line: 1765, inode: 13, block: null, code: null, meaning: null },
    });
    const text = cli(['info', img]).text.toString();
    expect(text).toMatch(/^Kernel errors: +3 recorded/m);
    expect(text).toMatch(/^ +first .* in ext4_readdir \(inode 12, block 1234\)$/m);
    expect(text).toMatch(/^ +last +.* in ext4_lookup \(inode 13\)$/m);
  });

  it('an I/O error the kernel recorded (EXT4_ERR_EIO) is named, and the card is to be imaged first', () => {
    const img = image('eio');
    execFileSync('debugfs', ['-w', '-f', '-', img], { input: 'ssv error_count 1\nssv last_error_time 20261201140500\nssv last_error_func ext4_find_entry\n', stdio: ['pipe', 'ignore', 'ignore'] });
    // debugfs 1.47 cannot set s_last_error_errcode: the byte, then the superblock's checksum (dumpe2fs checks it).
    const fd = openSync(img, 'r+');
    const sb = Buffer.alloc(1024);
    readSync(fd, sb, 0, 1024, 1024);
    sb.writeUInt8(2, 0x27b);
    sb.writeUInt32LE(crc32cUpdate(0xffffffff, sb, 0, 0x3fc), 0x3fc);
    writeSync(fd, sb, 0, 1024, 1024);
    closeSync(fd);
    expect(dumpe2fs(img).get('Last error err')).toBe('EIO');
    expect(infoData(img).kernelErrors!.last).toMatchObject({ function: 'ext4_find_entry', code: 'EIO', meaning: 'a read or write of the card failed' });
    const r = cli(['info', img]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^warning: the box's kernel recorded failed reads or writes of its disk \(EIO, at 2026-12-01 14:05 UTC\): the card may be failing; if this is the card itself, copy it to an image first/m);
    // An image file is a copy already: no command to copy it again (test/integration/box-read-errors.test.ts: a disk).
    expect(r.stderr).not.toMatch(/^hint:/m);
  });

  it('says nothing of errors on a filesystem without any, and "never" for one never mounted', () => {
    const img = image('fresh');
    const d = infoData(img);
    expect(d.kernelErrors).toBeNull();
    expect(d.times.mounted).toBeNull();
    expect(dumpe2fs(img).get('Last mount time')).toBe('n/a');
    const text = cli(['info', img]).text.toString();
    expect(text).toMatch(/^Last mounted: +never$/m);
    expect(text).not.toMatch(/Kernel errors/);
  });

  it('read from a backup superblock (the main one zeroed), says neither state nor times are known (it said "not cleanly unmounted", times of mke2fs)', () => {
    const img = join(work, 'backup-sb.img');
    mkfs(img, null, { blockSize: 1024, sizeMiB: 16 }); // two groups: a backup superblock at block 8193
    expect(dumpe2fs(img).get('Filesystem state')).toBe('clean');
    const fd = openSync(img, 'r+');
    writeSync(fd, Buffer.alloc(1024), 0, 1024, 1024);
    closeSync(fd);
    const d = infoData(img);
    expect(d.state).toBe('unknown');
    expect(d.times).toMatchObject({ mounted: null, written: null });
    const text = cli(['info', img]).text.toString();
    expect(text).toMatch(/^State: +unknown \(the main superblock is unusable: its backup copy, read here, keeps neither the state nor the box's times\)$/m);
    expect(text).toMatch(/^Last mounted: +not known$/m);
    expect(text).toMatch(/^Last written: +not known$/m);
    // The guided flow and the window say "filesystem state not known (…)", not "filesystem unknown".
    expect(stateText(d)).toBe('state not known (a backup copy of its superblock is read)');
  });

  it.skipIf(!kernelCanMount())('shows an error the kernel met (a directory block with a bad checksum) with its cause', () => {
    const img = image('kernel-error', 20);
    const block = Number(execFileSync('debugfs', ['-R', 'blocks /d', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split(/\s+/)[0]);
    const fd = openSync(img, 'r+');
    writeSync(fd, Buffer.from('X'), 0, 1, block * 4096 + 40);
    closeSync(fd);
    withKernelMount(img, (dir) => {
      const ls = spawnSync('ls', [join(dir, 'd')], { encoding: 'utf8' });
      expect(ls.status, 'the kernel refuses the damaged folder').not.toBe(0);
    });
    const o = dumpe2fs(img);
    expect(o.get('First error err')).toBe('EFSBADCRC');
    const d = infoData(img);
    expect(d.state).toBe('errors');
    expect(d.kernelErrors!.count).toBe(Number(o.get('FS Error count')));
    expect(d.kernelErrors!.first).toMatchObject({
      time: iso(o.get('First error time')),
      function: o.get('First error function'),
      line: Number(o.get('First error line #')),
      inode: Number(o.get('First error inode #')),
      code: 'EFSBADCRC',
    });
    expect(d.times.mounted).toBe(iso(o.get('Last mount time')));
    expect(cli(['info', img]).text.toString()).toMatch(/did not match \(EFSBADCRC\)/);
  });

  /** A card pulled while the kernel had it mounted, after a write and a sync, and the test's clock around that. */
  let pulledCard: { copy: string; before: number; after: number } | null = null;
  function pulled(): { copy: string; before: number; after: number } {
    if (pulledCard) return pulledCard;
    const img = image('pulled');
    const copy = join(work, 'pulled-copy.img');
    let before = 0;
    let after = 0;
    withKernelMount(img, (dir) => {
      spawnSync('sleep', ['2']);
      before = Math.floor(Date.now() / 1000);
      writeFileSync(join(dir, 'new.txt'), 'written just before the power went\n');
      mkdirSync(join(dir, 'x'));
      execFileSync('sync', ['-f', join(dir, 'new.txt')]);
      after = Math.ceil(Date.now() / 1000);
      // The loop device writes through the image file's page cache: this copy is the card pulled now.
      copyFileSync(img, copy);
    });
    pulledCard = { copy, before, after };
    return pulledCard;
  }

  it.skipIf(!kernelCanMount())('dates the last write by the newest journal transaction of a card pulled while mounted', () => {
    const { copy, before, after } = pulled();
    expect(dumpe2fs(copy).get('Filesystem features')).toMatch(/needs_recovery/);
    const d = infoData(copy);
    expect(d.journalReplayed).toBe(true);
    const commit = Date.parse(d.times.lastJournalCommit!) / 1000;
    expect(commit).toBeGreaterThanOrEqual(before);
    expect(commit).toBeLessThanOrEqual(after);
    expect(Date.parse(d.times.mounted!) / 1000).toBeLessThan(commit);
    expect(cli(['info', copy]).text.toString()).toMatch(/^Last written: +\S+ \S+ \(its newest journal transaction\)$/m);
  });

  it.skipIf(!kernelCanMount())('dates it by the commit before the log\'s tail when every transaction was written home (nothing to replay)', () => {
    const { copy, before, after } = pulled();
    const { tail, commits } = journalLog(copy);
    const last = commits.at(-1)!;
    // As the kernel leaves the journal after a checkpoint while mounted: the tail just after the last commit.
    const moved = join(work, 'checkpointed.img');
    copyFileSync(copy, moved);
    setJournalTail(moved, tail.sbAt, last.block + 1, last.sequence + 1);
    const d = infoData(moved);
    expect(d.journal).toMatchObject({ transactions: 0 });
    const commit = Date.parse(d.times.lastJournalCommit!) / 1000;
    expect(commit).toBeGreaterThanOrEqual(before);
    expect(commit).toBeLessThanOrEqual(after);
    // A tail whose sequence does not follow that commit's: not taken (the superblock's time is used).
    setJournalTail(moved, tail.sbAt, last.block + 1, last.sequence + 2);
    expect(infoData(moved).times.lastJournalCommit).toBeNull();
  });
});

/** The journal of a 4 KiB-block image (inode 8): its superblock's place and tail, and its commit blocks. */
function journalLog(img: string): { tail: { sbAt: number; start: number; sequence: number }; commits: Array<{ block: number; sequence: number }> } {
  // debugfs's extent list ("0/ 0   1/  3     0 -     9     9 -    18     10"): log block -> filesystem block.
  const extents = [...execFileSync('debugfs', ['-R', 'ex <8>', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).matchAll(/(\d+) +- +(\d+) +(\d+) +- +\d+/g)];
  const where = (logBlock: number): number => {
    const e = extents.find((m) => Number(m[1]) <= logBlock && logBlock <= Number(m[2]))!;
    return (Number(e[3]) + logBlock - Number(e[1])) * 4096;
  };
  const jsb = readBytes(img, where(0), 1024);
  const tail = { sbAt: where(0), start: jsb.readUInt32BE(28), sequence: jsb.readUInt32BE(24) };
  const commits: Array<{ block: number; sequence: number }> = [];
  for (let b = tail.start; b < jsb.readUInt32BE(16); b++) {
    const h = readBytes(img, where(b), 12);
    if (h.readUInt32BE(0) === 0xc03b3998 && h.readUInt32BE(4) === 2 && h.readUInt32BE(8) >= tail.sequence) commits.push({ block: b, sequence: h.readUInt32BE(8) });
  }
  return { tail, commits };
}

function readBytes(img: string, at: number, length: number): Buffer {
  const fd = openSync(img, 'r');
  try {
    const b = Buffer.alloc(length);
    readSync(fd, b, 0, length, at);
    return b;
  } finally {
    closeSync(fd);
  }
}

/** Sets the journal superblock's s_start and s_sequence, its checksum (v3: crc32c, seed ~0) made right. */
function setJournalTail(img: string, sbAt: number, start: number, sequence: number): void {
  const jsb = readBytes(img, sbAt, 1024);
  jsb.writeUInt32BE(sequence, 24);
  jsb.writeUInt32BE(start, 28);
  jsb.writeUInt32BE(0, 0xfc);
  jsb.writeUInt32BE(crc32cUpdate(0xffffffff, jsb) >>> 0, 0xfc);
  const fd = openSync(img, 'r+');
  try {
    writeSync(fd, jsb, 0, 1024, sbAt);
  } finally {
    closeSync(fd);
  }
}

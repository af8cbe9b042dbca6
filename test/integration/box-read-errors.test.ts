// A card on which the box's own kernel met read errors (EXT4_ERR_EIO in the superblock's error record) is a
// card that may be dying. Read as a disk (a loop device here), every front end puts the copy first: `info`
// warns and gives the `image` command, the browser window's card offers "Copy the card to an image file first",
// the guided flow asks before any step. Read as an image file, it is a copy already: only the warning.
// Needs root and loop devices (and tmux for the guided flow); skipped with the reason otherwise.

import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, openSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE, readSampleImage } from '../../fixtures/index.js';
import { crc32cUpdate } from '../../src/ext4/checksum.js';
import { rawRequest, startGui } from '../helpers/gui.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/images.js';
import { Terminal, hasTmux } from '../helpers/terminal.js';

const work = tempDir('box-read-errors-');
const image = join(work, 'card.img');
let loop: string | null = null;
const term = new Terminal();

function attach(): string | null {
  if (noLoop !== null) return null;
  const r = spawnSync('losetup', ['-f', '--show', '-r', image], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

beforeAll(() => {
  writeFileSync(image, readSampleImage());
  const fs = `${image}?offset=${SAMPLE.dataOffsetBytes}`;
  execFileSync('debugfs', ['-w', '-f', '-', fs], { input: 'ssv error_count 2\nssv last_error_time 20261201140500\nssv last_error_func ext4_find_entry\n', stdio: ['pipe', 'ignore', 'ignore'] });
  // debugfs 1.47 cannot set s_last_error_errcode: the byte (EXT4_ERR_EIO), then the superblock's checksum.
  const at = SAMPLE.dataOffsetBytes + 1024;
  const fd = openSync(image, 'r+');
  const sb = Buffer.alloc(1024);
  readSync(fd, sb, 0, 1024, at);
  sb.writeUInt8(2, 0x27b);
  sb.writeUInt32LE(crc32cUpdate(0xffffffff, sb, 0, 0x3fc), 0x3fc);
  writeSync(fd, sb, 0, 1024, at);
  closeSync(fd);
  const dump = execFileSync('dumpe2fs', ['-h', fs], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  expect(dump).toMatch(/^Last error err:\s+EIO$/m);
  loop = attach();
});

afterAll(() => {
  term.close();
  if (loop) spawnSync('losetup', ['-d', loop]);
  rmSync(work, { recursive: true, force: true });
});

const noLoop = process.platform !== 'linux' ? 'loop devices are Linux-only' : process.getuid?.() !== 0 ? 'losetup needs root' : null;
const noFlow = noLoop ?? (hasTmux ? null : 'tmux is not installed');
const WARNING = /^warning: the box's kernel recorded failed reads or writes of its disk \(EIO, at 2026-12-01 14:05 UTC\): the card may be failing/m;

async function cardOf(source: string): Promise<{ boxReadErrors: boolean; readFailed: boolean; warnings: string[] }> {
  const gui = await startGui([source], { HOME: join(work, 'home') });
  try {
    const state = await rawRequest(gui.port, 'GET', '/api/state', { 'X-Rescue-Token': gui.token });
    return JSON.parse(state.body).card;
  } finally {
    gui.child.kill('SIGTERM');
  }
}

describe('a card on which the box met read errors', () => {
  it('as an image file: warned, no copy offered', async () => {
    const r = cli(['info', image]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(WARNING);
    expect(r.stderr).not.toMatch(/^hint:/m);
    expect(await cardOf(image)).toMatchObject({
      boxReadErrors: false,
      readFailed: false,
      kernelErrors: "the box's system recorded 2 filesystem error(s), the last: a read or write of the card failed (in ext4_find_entry)",
    });
  });

  it.skipIf(noLoop !== null)(`as a disk (loop device): info gives the image command; the window offers the copy first${noLoop ? ` (skipped: ${noLoop})` : ''}`, async () => {
    expect(loop, 'losetup failed').not.toBeNull();
    const r = cli(['info', loop!]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(WARNING);
    expect(r.stderr).toMatch(new RegExp(`^hint: haos-rescue image ${loop} --out card\\.img$`, 'm'));
    const card = await cardOf(loop!);
    expect(card).toMatchObject({ boxReadErrors: true, readFailed: false });
    expect(card.warnings.join('\n')).toMatch(/kernel recorded failed reads/);
  });

  it.skipIf(noFlow !== null)(`as a disk in the guided flow: the copy is asked for before any step; declined, the menu comes${noFlow ? ` (skipped: ${noFlow})` : ''}`, async () => {
    expect(loop, 'losetup failed').not.toBeNull();
    term.start('flow', work, join(work, 'home-flow'));
    await term.openPath('flow', loop!);
    const offer = await term.waitFor('flow', /Copy the card to an image file now\?/);
    expect(offer).toMatch(/The box itself could not read parts of this card \(its system recorded read errors\)/);
    expect(offer).toMatch(/the box's system recorded 2 filesystem error\(s\), the last: a read or write of the card failed \(in ext4_find_entry\)/);
    expect(offer).not.toMatch(/What do you want to do/);
    term.type('flow', 'n');
    await term.waitFor('flow', /What do you want to do\?/);
    term.keys('flow', 'Up'); // wraps to Quit
    term.keys('flow', 'Enter');
    await term.waitFor('flow', /EXIT=0/);
  }, 60_000);
});

// A write that fails part way, on a card that takes writes but fails them on chosen sectors (failing-card.py,
// FUSE). Once the change is committed to the journal, it is made: the bare "write failed: EIO" read as if
// nothing had changed. Each case is held to what the card then holds: haos-rescue reading it (the journal
// replayed in memory) and e2fsck replaying it as the box does (-y, no -f), then e2fsck -fn clean.

import { execFileSync, spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SAMPLE, readSampleImage } from '../../fixtures/index.js';
import { cli } from '../helpers/cli.js';
import { cardPasswordIs } from '../helpers/card.js';
import { SECTOR, failingCardUnavailable, withFailingCard } from '../helpers/failing-card.js';
import { tempDir } from '../helpers/images.js';

const skip = failingCardUnavailable();
const work = tempDir('write-after-commit-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

const PROVIDER = '/supervisor/homeassistant/.storage/auth_provider.homeassistant';
const OLD = 'correct horse';
const NEW = 'a-new-long-password-1';
const BS = 4096;

/** The sample card, and the 4 KiB blocks (of its data filesystem) that `what` (a path, or <8>: the journal) takes. */
function cardWith(name: string, what: string): { card: string; sectors: Array<[number, number]> } {
  const card = join(work, `${name}.img`);
  writeFileSync(card, readSampleImage());
  const part = join(work, `${name}.part`);
  writeFileSync(part, readSampleImage().subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes));
  const blocks = execFileSync('debugfs', ['-R', `blocks ${what}`, part], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split(/\s+/).map(Number);
  rmSync(part);
  expect(blocks.length).toBeGreaterThan(0);
  return { card, sectors: blocks.map((b) => [(SAMPLE.dataOffsetBytes + b * BS) / SECTOR, BS / SECTOR]) };
}

/** e2fsck as the box runs it at its start (-y, no -f) on a copy of the data partition, then -fn: must be clean. */
function boxCheckedCopy(card: string, name: string): string {
  const part = join(work, `${name}.checked`);
  execFileSync('dd', [`if=${card}`, `of=${part}`, 'bs=1M', `skip=${SAMPLE.dataOffsetBytes / 2 ** 20}`, `count=${SAMPLE.dataSizeBytes / 2 ** 20}`, 'status=none']);
  spawnSync('e2fsck', ['-y', part], { stdio: 'ignore' });
  const fn = spawnSync('e2fsck', ['-fn', part], { encoding: 'utf8' });
  expect(fn.status, fn.stdout).toBe(0);
  return part;
}

const reset = (path: string, originals: string): ReturnType<typeof cli> =>
  cli(['auth', 'reset', path, '--username', 'vm-user', '--password', NEW, '--yes', '--originals', originals]);

describe.skipIf(skip !== null)(`a write that fails part way${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('after the commit (the file\'s own blocks fail): said as made, "do not run it again"; the card reads with the change, and the box check replays it', async () => {
    const { card, sectors } = cardWith('after', PROVIDER);
    const r = await withFailingCard({ image: card, writable: true, badWrites: sectors }, async (fc) => reset(fc.path, join(work, 'orig-after')));
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.stderr).toMatch(/^error: the change is made \(it is in the journal of the image file card\.img \(not a card\), which is replayed before it is used\), but writing it in its place then failed: write .* EIO$/m);
    expect(r.stderr).toMatch(/^hint: do not run the command again: haos-rescue already reads the image file card\.img \(not a card\) with the change, and the box applies it from the journal at its next start; the disk that holds .*card\.img may be failing/m);
    expect(execFileSync('dumpe2fs', ['-h', `${card}?offset=${SAMPLE.dataOffsetBytes}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })).toMatch(/needs_recovery/);
    expect(cardPasswordIs(card, 'vm-user', NEW)).toBe(true);
    expect(cardPasswordIs(boxCheckedCopy(card, 'after'), 'vm-user', NEW)).toBe(true);
  });

  it('before the commit (the journal fails): said as none of it made, run it again; the card as it was', async () => {
    const { card, sectors } = cardWith('before', '<8>');
    const r = await withFailingCard({ image: card, writable: true, badWrites: sectors }, async (fc) => reset(fc.path, join(work, 'orig-before')));
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.stderr).toMatch(/^error: writing the change failed, and none of it is made \(the files on the image file card\.img \(not a card\) are as they were\): write .* EIO$/m);
    expect(r.stderr).toMatch(/may be failing or was disconnected: copy the file elsewhere before anything else, then run the same command again$/m);
    expect(cardPasswordIs(card, 'vm-user', OLD)).toBe(true);
    expect(cardPasswordIs(boxCheckedCopy(card, 'before'), 'vm-user', OLD)).toBe(true);
  });

  it('a full disk under the file (ENOSPC) after the commit: "make room on it", not a failing disk', async () => {
    const { card, sectors } = cardWith('full', PROVIDER);
    const r = await withFailingCard({ image: card, writable: true, badWrites: sectors, writeErrno: 'ENOSPC' }, async (fc) => reset(fc.path, join(work, 'orig-full')));
    expect(r.stderr).toMatch(/^error: the change is made .*: ENOSPC$/m);
    expect(r.stderr).toMatch(/; the disk that holds .*card\.img is full: make room on it$/m);
    expect(cardPasswordIs(card, 'vm-user', NEW)).toBe(true);
  });
});

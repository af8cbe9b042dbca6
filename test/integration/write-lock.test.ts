// Two writers on one card: a write plans its allocations from the card as it was opened, so a change made
// by another program in between (a second haos-rescue, the window and a terminal at once) must stop it
// (CARD_CHANGED, exit 77), and while one haos-rescue commits, another is refused at once (CARD_BUSY); a lock
// left by a process that is gone is taken over. The card is checked with e2fsck -fn and byte for byte.

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SAMPLE, readSampleImage } from '../../fixtures/index.js';
import { putLocalFile } from '../../src/actions/repair/put.js';
import { withSource } from '../../src/actions/source.js';
import { assertCardClean } from '../helpers/card.js';
import { CLI, cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('write-lock-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');
const lockOf = (img: string): string => {
  const st = statSync(img, { bigint: true });
  return `/tmp/haos-rescue-write-file-${st.dev}-${st.ino}.lock`;
};

describe.skipIf(process.platform === 'win32')('one writer per card', () => {
  it('a plan made before another program wrote to the card is not committed (CARD_CHANGED)', async () => {
    const card = join(work, 'changed.img');
    writeFileSync(card, readSampleImage());
    const mine = join(work, 'mine.txt');
    writeFileSync(mine, 'mine');
    const theirs = join(work, 'theirs.txt');
    writeFileSync(theirs, 'theirs');
    await withSource(card, {}, async (src) => {
      // Another program writes after this one opened the card (haos-rescue itself would be refused: this
      // process holds the image open; a card given as a disk has no such check).
      const part = join(work, 'data.part');
      const offset = SAMPLE.dataOffsetBytes;
      writeFileSync(part, readFileSync(card).subarray(offset, offset + SAMPLE.dataSizeBytes));
      expect(spawnSync('debugfs', ['-w', '-R', `write ${theirs} /supervisor/share/theirs.txt`, part]).status).toBe(0);
      const whole = readFileSync(card);
      readFileSync(part).copy(whole, offset);
      writeFileSync(card, whole);
      const after = sha(card);
      await expect(putLocalFile(src, mine, '/supervisor/share/mine.txt', { saveOriginals: false })).rejects.toMatchObject({ code: 'CARD_CHANGED', exitCode: 77 });
      expect(sha(card)).toBe(after);
    });
    assertCardClean(card);
    expect(cli(['cat', card, '/supervisor/share/theirs.txt']).text).toBe('theirs');
    expect(cli(['cat', card, '/supervisor/share/mine.txt']).code).toBe(66);
  });

  it('while another live haos-rescue holds the card, a write is refused at once (CARD_BUSY, exit 77)', () => {
    const card = join(work, 'busy.img');
    writeFileSync(card, readSampleImage());
    const lock = lockOf(card);
    // This test's own process stands for the other writer: it is alive, and not the child.
    writeFileSync(lock, String(process.pid));
    try {
      const before = sha(card);
      const r = cli(['put', card, join(work, 'mine.txt'), '/supervisor/share/x.txt', '--yes', '--no-originals', '--verbose']);
      expect(r.code, r.stderr).toBe(77);
      expect(r.stderr).toMatch(new RegExp(`error: another haos-rescue \\(process ${process.pid}\\) is writing to `));
      expect(r.stderr).toMatch(/code: CARD_BUSY/);
      // Words for the window too, where there is no command to run again.
      expect(r.stderr).toMatch(/hint: wait until it has finished, then try again; nothing was written/);
      expect(sha(card)).toBe(before);
    } finally {
      rmSync(lock, { force: true });
    }
  });

  it.skipIf(process.platform !== 'linux')('a card another haos-rescue holds open (its browser window) is refused naming it, not a virtual machine', async () => {
    const card = join(work, 'window.img');
    writeFileSync(card, readSampleImage());
    const window = spawn(process.execPath, [CLI, 'gui', card, '--no-open'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      await new Promise<void>((resolve) => window.stdout.on('data', (d: Buffer) => d.toString().includes('Address:') && resolve()));
      const before = sha(card);
      const r = cli(['put', card, join(work, 'mine.txt'), '/supervisor/share/x.txt', '--yes', '--no-originals', '--verbose']);
      expect(r.code, r.stderr).toBe(77);
      expect(r.stderr).toMatch(new RegExp(`is open in another haos-rescue \\(pid ${window.pid}\\): a command, the guided flow or the browser window`));
      expect(r.stderr).toMatch(/code: CARD_BUSY/);
      expect(r.stderr).toMatch(/hint: let it finish, or close it, then try again/);
      expect(sha(card)).toBe(before);
    } finally {
      window.kill();
      await new Promise((r) => window.once('exit', r));
    }
  });

  // Process numbers are given again: a lock whose number now belongs to another program (init, a shell's
  // sleep) held the card "busy" until the lock file was deleted by hand.
  it.skipIf(process.platform !== 'linux')('a lock whose process number now runs another program is taken over', () => {
    const card = join(work, 'reused.img');
    writeFileSync(card, readSampleImage());
    const lock = lockOf(card);
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      writeFileSync(lock, String(other.pid));
      const r = cli(['put', card, join(work, 'mine.txt'), '/supervisor/share/x.txt', '--yes', '--no-originals']);
      expect(r.code, r.stderr).toBe(0);
      expect(existsSync(lock)).toBe(false);
    } finally {
      other.kill();
    }
  });

  it('a lock left by a process that is gone is taken over, and removed after the write', () => {
    const card = join(work, 'stale.img');
    writeFileSync(card, readSampleImage());
    const lock = lockOf(card);
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(lock, gone.stdout);
    const r = cli(['put', card, join(work, 'mine.txt'), '/supervisor/share/x.txt', '--yes', '--no-originals']);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(lock)).toBe(false);
    assertCardClean(card);
  });
});

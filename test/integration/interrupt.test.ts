// Ctrl-C (SIGINT) at every moment of `auth reset`: sent after a delay that walks across the whole run
// (start-up, hashing, the rehearsal, the journaled commit, the read-back). Whatever the moment, the card
// ends with the old or the new password and, once its journal is recovered as the kernel would,
// e2fsck -fn is clean. A signal that lands inside the commit is held until the commit ends (exit 130 after
// "finishing the write that is under way"); the test reports how many runs landed there. The child holds
// its commit open 250 ms (HAOS_RESCUE_TEST_HOLD_MS), so that some interrupts land inside it on any machine.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { USERS, readSampleImage } from '../../fixtures/index.js';
import { assertCardClean, cardPasswordIs } from '../helpers/card.js';
import { CLI } from '../helpers/cli.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('interrupt-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

function resetInterruptedAfter(img: string, delayMs: number): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'auth', 'reset', img, '-u', USERS[0].username, '--password', 'interrupted', '--originals', join(work, `orig-${delayMs}`)], { cwd: work, env: { ...process.env, HAOS_RESCUE_TEST_HOLD_MS: '250' } });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGINT'), delayMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
}

describe('Ctrl-C during auth reset', () => {
  it('leaves the old or the new password at every moment, never a damaged card', async () => {
    const delays = Array.from({ length: 16 }, (_, i) => 150 + i * 80);
    const outcomes: string[] = [];
    for (let i = 0; i < delays.length; i += 4) {
      const batch = delays.slice(i, i + 4);
      const runs = await Promise.all(batch.map(async (delay) => {
        const img = join(work, `card-${delay}.img`);
        writeFileSync(img, readSampleImage());
        const r = await resetInterruptedAfter(img, delay);
        assertCardClean(img, { recoverJournal: true });
        const isNew = cardPasswordIs(img, USERS[0].username, 'interrupted');
        if (!isNew) expect(cardPasswordIs(img, USERS[0].username, USERS[0].password), `delay ${delay}: neither password`).toBe(true);
        if (r.stderr.includes('finishing the write that is under way')) {
          expect(r.code, r.stderr).toBe(130);
          expect(isNew, `delay ${delay}: a held interrupt must end with the write done`).toBe(true);
          return 'held';
        }
        // Stopped before the commit: said so (it was a bare "interrupted").
        if (r.code === 130 && !isNew) expect(r.stderr).toMatch(/interrupted: nothing was written to the card|saving what was done so far/);
        return r.code === 0 ? 'done' : isNew ? 'new' : 'old';
      }));
      outcomes.push(...runs);
    }
    const count = (k: string): number => outcomes.filter((o) => o === k).length;
    console.info(`interrupts: ${count('old')} before the write, ${count('held')} held during the commit, ${count('new') + count('done')} after`);
    // The walk spans the run: some interrupts land before anything was written, some inside the commit.
    expect(count('old')).toBeGreaterThan(0);
    expect(count('held')).toBeGreaterThan(0);
  }, 180_000);
});

// A closed terminal window (SIGHUP) and a shutdown or `kill` (SIGTERM) stop as Ctrl-C does: a signal that
// lands inside the commit is held until it ends (exit 128 + the signal); before it, nothing is written.
describe.each([['SIGTERM', 143], ['SIGHUP', 129]] as const)('%s during auth reset', (signal, exitCode) => {
  const run = (img: string, when: 'in-commit' | 'at-once'): Promise<{ code: number | null; killed: boolean; stderr: string }> =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [CLI, 'auth', 'reset', img, '-u', USERS[0].username, '--password', 'signalled', '--no-originals', '--yes'], {
        cwd: work,
        env: { ...process.env, HAOS_RESCUE_TEST_HOLD_MS: '1000' },
      });
      let stderr = '';
      child.stderr.on('data', (d) => {
        stderr += d;
        if (when === 'in-commit' && stderr.includes('test: holding the commit')) child.kill(signal);
      });
      if (when === 'at-once') setTimeout(() => child.kill(signal), 50);
      child.on('close', (code, by) => resolve({ code, killed: by === signal, stderr }));
    });

  it('inside the commit: the write finishes, the new password holds', async () => {
    const img = join(work, `${signal}-commit.img`);
    writeFileSync(img, readSampleImage());
    const r = await run(img, 'in-commit');
    expect(r.code, r.stderr).toBe(exitCode);
    expect(r.stderr).toMatch(/finishing the write that is under way first[\s\S]*stopped: the change under way was written in full first, then haos-rescue stopped before saying so; start it again on the same card or image to see the state it left/);
    assertCardClean(img, { recoverJournal: true });
    expect(cardPasswordIs(img, USERS[0].username, 'signalled')).toBe(true);
    // The write lock went with the process (it exits right after the commit, before an await could run).
    const st = statSync(img, { bigint: true });
    expect(existsSync(`/tmp/haos-rescue-write-file-${st.dev}-${st.ino}.lock`)).toBe(false);
  });

  it('before anything is written: the old password, the card unchanged', async () => {
    const img = join(work, `${signal}-early.img`);
    writeFileSync(img, readSampleImage());
    const r = await run(img, 'at-once');
    // Before Node has loaded the command, the signal's default action ends it: just as harmless.
    expect(r.killed || r.code === exitCode, `${r.code}: ${r.stderr}`).toBe(true);
    expect(readFileSync(img).equals(readSampleImage())).toBe(true);
  });
});


// Stopping the browser window's long copies leaves nothing half-written: on a slow card (a FUSE file that
// answers every read late), "Stop" in the page (POST /api/cancel) and Ctrl-C in the terminal each end a
// backup copy under way; the unfinished file is removed, and whatever is in the folder is whole.
// Needs root, /dev/fuse and python3-fusepy (skipped with the reason otherwise; .ci/run installs them).

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSampleImage } from '../../fixtures/index.js';
import { cli } from '../helpers/cli.js';
import { failingCardUnavailable, withFailingCard } from '../helpers/failing-card.js';
import { rawRequest, startGui } from '../helpers/gui.js';
import { prng, tempDir } from '../helpers/images.js';

const reason = failingCardUnavailable();
const work = tempDir('gui-stop-');
const image = join(work, 'card.img');
const BIG = 8 * 1024 * 1024;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
let bigSha = '';

beforeAll(() => {
  if (reason) return;
  writeFileSync(image, readSampleImage());
  const big = prng(15, BIG);
  bigSha = sha(big);
  writeFileSync(join(work, 'big.tar'), big);
  const put = cli(['put', image, join(work, 'big.tar'), '/supervisor/backup/big.tar', '--yes', '--no-originals']);
  expect(put.code, put.stderr).toBe(0);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Every file in the folder is one of the card's backups, whole; no unfinished (.partial) file is left. */
function folderIsWhole(folder: string): void {
  const names = existsSync(folder) ? readdirSync(folder) : [];
  expect(names.filter((n) => n.includes('.partial'))).toEqual([]);
  for (const name of names) {
    const bytes = readFileSync(join(folder, name));
    const card = cli(['cat', image, `/supervisor/backup/${name}`]).stdout;
    expect(sha(bytes), name).toBe(sha(card));
  }
  if (names.includes('big.tar')) expect(sha(readFileSync(join(folder, 'big.tar')))).toBe(bigSha);
}

/** Until the copy of big.tar is under way (its unfinished file is there). */
async function bigCopyStarted(folder: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (existsSync(folder) && readdirSync(folder).some((n) => n.startsWith('big.tar.partial'))) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('the copy of big.tar did not start within 10 s');
}

async function startExtract(card: string, folder: string) {
  const gui = await startGui([card]);
  const headers = { 'X-Rescue-Token': gui.token, Origin: gui.base, 'Content-Type': 'application/json' };
  const copy = rawRequest(gui.port, 'POST', '/api/extract', headers, JSON.stringify({ folder }));
  // Until the copy is under way: the state names the job.
  for (let i = 0; i < 100; i++) {
    const state = JSON.parse((await rawRequest(gui.port, 'GET', '/api/state', { 'X-Rescue-Token': gui.token })).body) as { busy: string | null };
    if (state.busy) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return { gui, headers, copy };
}

describe.skipIf(reason !== null)(`stopping a copy in the browser window${reason ? ` (skipped: ${reason})` : ''}`, () => {
  it('Stop ends the copy of the backups; the unfinished file is removed', async () => {
    const folder = join(work, 'stopped');
    await withFailingCard({ image, latencyMs: 40 }, async (card) => {
      const { gui, headers, copy } = await startExtract(card.path, folder);
      await bigCopyStarted(folder);
      const cancel = await rawRequest(gui.port, 'POST', '/api/cancel', headers, '{}');
      expect(cancel.status).toBe(200);
      const answer = await copy;
      expect(answer.status, answer.body).toBe(409);
      expect(JSON.parse(answer.body).error.code).toBe('STOPPED');
      folderIsWhole(folder);
      expect(existsSync(join(folder, 'big.tar'))).toBe(false);
      gui.child.kill('SIGTERM');
      await gui.exited;
    });
  });

  it('Ctrl-C in the terminal stops it too, exit 130, nothing half-written', async () => {
    const folder = join(work, 'interrupted');
    mkdirSync(folder);
    await withFailingCard({ image, latencyMs: 40 }, async (card) => {
      const { gui, copy } = await startExtract(card.path, folder);
      await bigCopyStarted(folder);
      gui.child.kill('SIGINT');
      const end = await gui.exited;
      await copy.catch(() => undefined);
      expect(end.code).toBe(130);
      expect(end.stderr).toMatch(/stopped; the unfinished file was removed/);
      folderIsWhole(folder);
      expect(existsSync(join(folder, 'big.tar'))).toBe(false);
    });
  });
});

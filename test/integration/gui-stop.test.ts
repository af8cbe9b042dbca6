// Stopping the browser window's long copies leaves nothing half-written: on a slow card (a FUSE file that
// answers every read late), "Stop" in the page (POST /api/cancel) and Ctrl-C in the terminal each end a
// backup copy under way; the unfinished file is removed, and whatever is in the folder is whole.
// Needs root, /dev/fuse and python3-fusepy (skipped with the reason otherwise; .ci/run installs them).

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSampleImage } from '../../fixtures/index.js';
import { CLI, cli } from '../helpers/cli.js';
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
  // A large file in the configuration, for the exports to be stopped in.
  writeFileSync(join(work, 'big.bin'), prng(16, 3 * 1024 * 1024));
  const bigConfig = cli(['put', image, join(work, 'big.bin'), '/supervisor/homeassistant/big.bin', '--yes', '--no-originals']);
  expect(bigConfig.code, bigConfig.stderr).toBe(0);
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
      expect(end.stderr).toMatch(/Copy the backups: stopped; \S+ holds only part of the copy \(the unfinished file was removed\)/);
      folderIsWhole(folder);
      expect(existsSync(join(folder, 'big.tar'))).toBe(false);
    });
  });
});

/** Every file under the exported folder is the card's, whole (a file cut short would differ). */
function exportIsWhole(folder: string): string[] {
  const files: string[] = [];
  const walk = (d: string, rel: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name), `${rel}/${e.name}`);
      else if (e.isFile()) files.push(`${rel}/${e.name}`);
    }
  };
  if (existsSync(folder)) walk(folder, '');
  for (const f of files) expect(sha(readFileSync(join(folder, f))), f).toBe(sha(cli(['cat', image, `/supervisor/homeassistant${f}`]).stdout));
  return files;
}

async function until(what: string, ready: () => boolean): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (ready()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${what} did not happen within 10 s`);
}

describe.skipIf(reason !== null)(`stopping an export${reason ? ` (skipped: ${reason})` : ''}`, () => {
  // It went on: each progress report threw, each time one file was taken for unreadable and the next began.
  it('Stop in the window ends an export to a folder at once; every file left there is whole', async () => {
    const folder = join(work, 'export-stopped');
    await withFailingCard({ image, latencyMs: 40 }, async (card) => {
      const gui = await startGui([card.path]);
      const headers = { 'X-Rescue-Token': gui.token, Origin: gui.base, 'Content-Type': 'application/json' };
      const copy = rawRequest(gui.port, 'POST', '/api/export', headers, JSON.stringify({ kind: 'folder', out: folder }));
      await until('the copy of big.bin', () => existsSync(join(folder, 'big.bin')));
      // Another disk is not opened (nor this one closed) under the copy: it lost its files and blamed the card.
      for (const [path, body] of [['/api/open', JSON.stringify({ path: image })], ['/api/close', '{}']] as const) {
        const refused = await rawRequest(gui.port, 'POST', path, headers, body);
        expect(refused.status, refused.body).toBe(409);
        expect(JSON.parse(refused.body).error).toMatchObject({ code: 'BUSY', message: '"Export the configuration" is still under way on this card', hint: 'wait until it ends, or stop it; then choose another disk' });
      }
      expect((await rawRequest(gui.port, 'POST', '/api/cancel', headers, '{}')).status).toBe(200);
      const answer = await copy;
      expect(answer.status, answer.body).toBe(409);
      // The folder keeps what was copied before the stop: said so ("the unfinished file was removed" alone read as nothing left).
      expect(JSON.parse(answer.body).error).toMatchObject({ code: 'STOPPED', message: `Export the configuration: stopped before the end; ${folder} holds only part of the copy (the unfinished file was removed)` });
      const files = exportIsWhole(folder);
      expect(files).not.toContain('/big.bin');
      // Nothing after it was copied (names go in byte order: configuration.yaml and the rest come later).
      expect(files.filter((f) => f.split('/')[1]! > 'big.bin')).toEqual([]);
      gui.child.kill('SIGTERM');
      await gui.exited;
    });
  });

  it('Stop in the window ends an export to a .tar.gz: no archive is left, whole or unfinished', async () => {
    const folder = join(work, 'export-tar-stopped');
    mkdirSync(folder);
    const out = join(folder, 'config.tar.gz');
    await withFailingCard({ image, latencyMs: 40 }, async (card) => {
      const gui = await startGui([card.path]);
      const headers = { 'X-Rescue-Token': gui.token, Origin: gui.base, 'Content-Type': 'application/json' };
      const copy = rawRequest(gui.port, 'POST', '/api/export', headers, JSON.stringify({ kind: 'tar.gz', out }));
      await until('the archive under way', () => readdirSync(folder).some((n) => n.includes('.partial')));
      expect((await rawRequest(gui.port, 'POST', '/api/cancel', headers, '{}')).status).toBe(200);
      const answer = await copy;
      expect(answer.status, answer.body).toBe(409);
      expect(JSON.parse(answer.body).error).toMatchObject({ code: 'STOPPED', message: 'Export the configuration: stopped before the end; the unfinished file was removed' });
      expect(readdirSync(folder)).toEqual([]);
      // The window goes on: the same export, not stopped, makes the whole archive.
      const again = await rawRequest(gui.port, 'POST', '/api/export', headers, JSON.stringify({ kind: 'tar.gz', out }));
      expect(again.status, again.body).toBe(200);
      expect(readdirSync(folder)).toEqual(['config.tar.gz']);
      const listed = spawnSync('tar', ['-tzf', out], { encoding: 'utf8' });
      expect(listed.status, listed.stderr).toBe(0);
      expect(listed.stdout).toMatch(/big\.bin/);
      gui.child.kill('SIGTERM');
      await gui.exited;
    });
  }, 60_000);

  // Ctrl-C in a command ended it on the spot: a .partial archive of what was copied stayed behind.
  it.each([
    ['export to a .tar', (out: string) => ['export', '--out', `${out}/config.tar`], (out: string) => readdirSync(out).some((n) => n.includes('.partial'))],
    ['export to a folder', (out: string) => ['export', '--out', `${out}/config`], (out: string) => existsSync(`${out}/config/big.bin`)],
    ['backup extract', (out: string) => ['backup', 'extract', '--out', out], (out: string) => readdirSync(out).some((n) => n.startsWith('big.tar.partial'))],
  ])('Ctrl-C during %s: exit 130, the unfinished file removed', async (what, args, started) => {
    const out = join(work, `cli-${what.replace(/\W+/g, '-')}`);
    mkdirSync(out);
    await withFailingCard({ image, latencyMs: 40 }, async (card) => {
      const [command, ...rest] = args(out);
      const child = spawn(process.execPath, [CLI, command!, ...(command === 'backup' ? [rest.shift()!] : []), card.path, ...rest], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const ended = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      await until(`${what} under way`, () => started(out));
      child.kill('SIGINT');
      expect(await ended, stderr).toBe(130);
      // Into a folder, what was copied before stays there: said as part of the copy, not the whole.
      // backup extract run again keeps the finished copies and copies the rest: it said "again with --force".
      const said = { 'export to a .tar': /stopped: the unfinished file was removed$/m, 'export to a folder': /stopped: \S+ holds only part of the copy \(the unfinished file was removed\); to copy it whole, run the same command again with --force$/m, 'backup extract': /stopped: \S+ holds only part of the copy \(the unfinished file was removed\); run the same command again to copy the rest \(what was copied is kept\)$/m }[what];
      expect(stderr).toMatch(said!);
    });
    const left = readdirSync(out, { recursive: true }) as string[];
    expect(left.filter((n) => n.includes('.partial') || n.endsWith('config.tar') || n.endsWith('big.bin') || n.endsWith('big.tar'))).toEqual([]);
    if (what === 'export to a folder') exportIsWhole(join(out, 'config'));
  });
});


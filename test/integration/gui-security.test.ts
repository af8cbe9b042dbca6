// The browser window's server refuses every request that does not come from its own page: no token, a
// wrong token, a foreign Host (DNS rebinding), a foreign Origin or fetch site (other tabs and sites), a
// write sent as GET or without a JSON body, a CORS preflight. Nothing is written by any of them: the card
// image stays byte-identical. It stops by itself when its page goes away, and when idle.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sameToken } from '../../src/actions/gui/guard.js';
import { readSampleImage } from '../../fixtures/index.js';
import { type GuiProcess, rawRequest, startGui } from '../helpers/gui.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('gui-security-');
const image = join(work, 'card.img');
const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');
let gui: GuiProcess;
let before: string;

const WRITE = JSON.stringify({ action: { kind: 'reset', username: 'vm-user', disableMfa: false }, password: 'owned', confirmed: true, applyJournal: true });

beforeAll(async () => {
  writeFileSync(image, readSampleImage());
  before = sha(image);
  mkdirSync(join(work, 'home', 'Downloads'), { recursive: true });
  gui = await startGui([image], { HOME: join(work, 'home') });
});

afterAll(async () => {
  gui?.child.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
});

describe('the local server refuses requests that are not from its page', () => {
  const good = (): Record<string, string> => ({ 'X-Rescue-Token': gui.token });
  const post = (): Record<string, string> => ({ ...good(), Origin: gui.base, 'Content-Type': 'application/json' });

  it('answers its own page and API with the token', async () => {
    const page = await rawRequest(gui.port, 'GET', `/?token=${gui.token}`, {});
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toMatch(/default-src 'none'; script-src 'self'/);
    expect(page.body).toContain(`/app.js?token=${gui.token}`);
    expect(page.body).not.toContain('{{TOKEN}}');
    const state = await rawRequest(gui.port, 'GET', '/api/state', good());
    expect(state.status).toBe(200);
    const card = JSON.parse(state.body).card;
    expect(card.haVersion).toBe('2025.5.3');
    // The card's "Last used" row: the superblock's write time, as dumpe2fs reads it (data partition at 11 MiB).
    const sb = execFileSync('dumpe2fs', ['-h', `${image}?offset=${11 * 1024 * 1024}`], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' }, stdio: ['ignore', 'pipe', 'ignore'] });
    expect(card.lastWritten).toBe(new Date(`${/^Last write time:\s+(.+)$/m.exec(sb)![1]} UTC`).toISOString());
    expect(card.kernelErrors).toBeNull(); // the sample's kernel recorded none (dumpe2fs shows no FS Error count)
  });

  it('no token, a wrong token, a token of another length: 403', async () => {
    for (const [path, headers] of [
      ['/', {}],
      ['/app.js', {}],
      ['/api/users', {}],
      ['/api/events', {}],
      [`/?token=${gui.token.slice(0, -1)}x`, {}],
      ['/api/users', { 'X-Rescue-Token': `${gui.token}x` }],
      ['/api/users', { 'X-Rescue-Token': '' }],
    ] as Array<[string, Record<string, string>]>) {
      const r = await rawRequest(gui.port, 'GET', path, headers);
      expect(r.status, path).toBe(403);
      expect(JSON.parse(r.body).error.code).toBe('BAD_TOKEN');
    }
    const w = await rawRequest(gui.port, 'POST', '/api/write', { Origin: gui.base, 'Content-Type': 'application/json' }, WRITE);
    expect(w.status).toBe(403);
  });

  it('a foreign Host (DNS rebinding) is refused even with the token', async () => {
    for (const host of ['evil.example', `evil.example:${gui.port}`, `127.0.0.1:${gui.port + 1}`, `192.168.1.5:${gui.port}`]) {
      const r = await rawRequest(gui.port, 'GET', '/api/users', { ...good(), Host: host });
      expect(r.status, host).toBe(403);
      expect(JSON.parse(r.body).error.code).toBe('BAD_HOST');
    }
    const w = await rawRequest(gui.port, 'POST', '/api/write', { ...post(), Host: `evil.example:${gui.port}` }, WRITE);
    expect(w.status).toBe(403);
  });

  it('a foreign Origin or a cross-site fetch is refused, reads and writes', async () => {
    for (const origin of ['http://evil.example', 'null', `http://127.0.0.1:${gui.port + 1}`, `https://127.0.0.1:${gui.port}`]) {
      expect((await rawRequest(gui.port, 'GET', '/api/key', { ...good(), Origin: origin })).status, origin).toBe(403);
      expect((await rawRequest(gui.port, 'POST', '/api/write', { ...post(), Origin: origin }, WRITE)).status, origin).toBe(403);
    }
    const site = await rawRequest(gui.port, 'GET', '/api/key', { ...good(), 'Sec-Fetch-Site': 'cross-site' });
    expect(site.status).toBe(403);
  });

  it('a write sent as GET, without an Origin, or as a form (no JSON) is refused; no preflight is answered', async () => {
    expect((await rawRequest(gui.port, 'GET', `/api/write?token=${gui.token}`, {})).status).toBe(403);
    expect((await rawRequest(gui.port, 'GET', '/api/write', good())).status).toBe(403);
    expect((await rawRequest(gui.port, 'POST', '/api/write', { ...good(), 'Content-Type': 'application/json' }, WRITE)).status).toBe(403);
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      expect((await rawRequest(gui.port, 'POST', '/api/write', { ...post(), 'Content-Type': type }, WRITE)).status, type).toBe(403);
    }
    const preflight = await rawRequest(gui.port, 'OPTIONS', '/api/write', { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'POST' });
    expect(preflight.status).toBe(403);
    expect(Object.keys(preflight.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
  });

  it('a write without the yes is not done; a malformed body is a clear 400', async () => {
    const unconfirmed = await rawRequest(gui.port, 'POST', '/api/write', post(), WRITE.replace('"confirmed":true', '"confirmed":false'));
    expect(unconfirmed.status).toBe(400);
    expect(JSON.parse(unconfirmed.body).error.code).toBe('NOT_CONFIRMED');
    const garbage = await rawRequest(gui.port, 'POST', '/api/plan', post(), '{not json');
    expect(garbage.status).toBe(400);
    const huge = await rawRequest(gui.port, 'POST', '/api/plan', post(), JSON.stringify({ pad: 'x'.repeat(100_000) }));
    expect(huge.status).toBe(400);
  });

  it('nothing was written by any of them', () => {
    expect(sha(image)).toBe(before);
  });

  it('tokens compare in constant time, whatever their lengths', () => {
    expect(sameToken('abc', 'abc')).toBe(true);
    expect(sameToken('abd', 'abc')).toBe(false);
    expect(sameToken('abcd', 'abc')).toBe(false);
    expect(sameToken(null, 'abc')).toBe(false);
  });
});

describe('the server stops by itself', () => {
  it('when its page goes away (the event stream closes), after the grace time', async () => {
    const g = await startGui([image], { HAOS_RESCUE_GUI_GRACE_MS: '300' });
    const events = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: g.port, path: `/api/events?token=${g.token}`, headers: { Host: `127.0.0.1:${g.port}` } },
        resolve,
      );
      req.on('error', reject);
      req.end();
    });
    expect(events.statusCode).toBe(200);
    events.destroy();
    const end = await g.exited;
    expect(end.code).toBe(0);
    expect(end.stdout).toMatch(/Stopped: the page was closed\./);
  });

  it('when nothing happens for the idle time, and when no page ever comes', async () => {
    const idle = await startGui([image], { HAOS_RESCUE_GUI_IDLE_MS: '400' });
    expect((await idle.exited).stdout).toMatch(/Stopped: nothing was done for a long time\./);
    const none = await startGui([], { HAOS_RESCUE_GUI_FIRST_PAGE_MS: '300' });
    expect((await none.exited).stdout).toMatch(/Stopped: no page was opened\./);
    expect(sha(image)).toBe(before);
  });
});

describe.skipIf(process.platform !== 'linux')('started without arguments', () => {
  it('from a desktop with no terminal (a launcher): the browser window; from a script or CI: the usage error', async () => {
    const { spawn } = await import('node:child_process');
    const { CLI } = await import('../helpers/cli.js');
    // A desktop that does not exist (DISPLAY :99): the opener fails quietly and the address is printed.
    const child = spawn(process.execPath, [CLI], { env: { ...process.env, CI: '', DISPLAY: ':99', HAOS_RESCUE_GUI_FIRST_PAGE_MS: '3000' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(out).toMatch(/Address: http:\/\/127\.0\.0\.1:\d+\/\?token=/);
    expect(out).toMatch(/Stopped: no page was opened\./);
    expect(code).toBe(0);
    const { spawnSync } = await import('node:child_process');
    const script = spawnSync(process.execPath, [CLI], { env: { ...process.env, CI: 'true', DISPLAY: ':99' }, encoding: 'utf8' });
    expect(script.status).toBe(64);
  });
});

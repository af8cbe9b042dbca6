// safe-mode through the CLI on the sample card: the empty `safe-mode` file Home Assistant's own "restart in
// safe mode" leaves in the config folder is created (and with --off removed) through the journal;
// e2fsck -fn stays clean, a dry run and a second run write nothing, --no-replay is refused.

import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SAMPLE, readSampleImage } from '../../fixtures/index.js';
import { assertCardClean } from '../helpers/card.js';
import { cli } from '../helpers/cli.js';
import { rawRequest, startGui } from '../helpers/gui.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('safe-mode-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');
const MARKER = '/supervisor/homeassistant/safe-mode';

/** debugfs on the card's data filesystem. */
function debugfs(image: string, cmd: string): string {
  const data = `${image}.data`;
  writeFileSync(data, readFileSync(image).subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes));
  return execFileSync('debugfs', ['-R', cmd, data], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
}

describe('safe-mode', () => {
  const card = join(work, 'card.img');
  writeFileSync(card, readSampleImage());

  it('--dry-run rehearses and writes nothing; --no-replay is refused', () => {
    const before = sha(card);
    const r = cli(['safe-mode', card, '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.text).toMatch(/Dry run: nothing was written/);
    expect(cli(['safe-mode', card, '--no-replay']).code).toBe(64);
    expect(sha(card)).toBe(before);
  });

  it('creates the empty marker through the journal; e2fsck -fn clean; a second run changes nothing', () => {
    const r = cli(['safe-mode', card, '--originals', join(work, 'orig1')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.text).toMatch(/Safe mode set/);
    // An image file: said as one, and started from a card it is written to (it said "Put the card back").
    expect(r.text).toMatch(/read back from the image file \S+ \(not a card\)\./);
    expect(r.text).toMatch(/^Next: write the image file to a card .*, put that card into the box and start it: Home Assistant starts without custom integrations, once\./m);
    assertCardClean(card);
    const stat = debugfs(card, `stat ${MARKER}`);
    expect(stat).toMatch(/Type: regular\s+Mode:\s+0644/);
    expect(stat).toMatch(/Size: 0\b/);
    expect(cli(['ls', card, '/supervisor/homeassistant']).text).toContain('safe-mode');
    const again = sha(card);
    const second = cli(['safe-mode', card, '--json']);
    expect(JSON.parse(second.text)).toMatchObject({ on: true, changed: false });
    expect(sha(card)).toBe(again);
  });

  it('--off removes it; e2fsck -fn clean; the free inode count is back', () => {
    const r = cli(['safe-mode', card, '--off', '--originals', join(work, 'orig2')]);
    expect(r.code, r.stderr).toBe(0);
    assertCardClean(card);
    expect(debugfs(card, 'ls /supervisor/homeassistant')).not.toContain('safe-mode');
    const fresh = join(work, 'fresh.img');
    writeFileSync(fresh, readSampleImage());
    const free = (img: string): string => /Free inodes:\s+(\d+)/.exec(debugfs(img, 'stats'))![1]!;
    expect(free(card)).toBe(free(fresh));
  });
});

// Home Assistant's start takes the mark with os.path.exists (a link is followed) and then os.remove: a link to
// nothing is no mark, and a folder of that name one it cannot remove. Both were said as "already set".
describe('a safe-mode name that is not the mark', () => {
  const data = (name: string): string => {
    const img = join(work, name);
    writeFileSync(img, readSampleImage().subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes));
    return img;
  };

  it('a folder: refused, on and off, nothing written', () => {
    const img = data('folder.img');
    execFileSync('debugfs', ['-w', '-R', `mkdir ${MARKER}`, img], { stdio: 'ignore' });
    const before = sha(img);
    for (const args of [[], ['--off']]) {
      const r = cli(['safe-mode', img, ...args]);
      expect(r.code).toBe(64);
      expect(r.stderr).toContain(`error: ${MARKER} is a folder: Home Assistant's start takes it for the safe-mode mark and then fails to remove it`);
    }
    expect(sha(img)).toBe(before);
  });

  it('--off on a mark that holds bytes: refused, saying what it holds and how to remove it (it said only "not an empty file with one name")', () => {
    const img = data('full-mark.img');
    const local = join(work, 'mark.txt');
    writeFileSync(local, 'left by hand\n');
    execFileSync('debugfs', ['-w', '-R', `write ${local} ${MARKER}`, img], { stdio: 'ignore' });
    const before = sha(img);
    const r = cli(['safe-mode', img, '--off']);
    expect(r.code, r.stderr).toBe(69);
    expect(r.stderr).toContain('error: safe-mode is not the empty file Home Assistant leaves as its mark: it holds 13 bytes');
    expect(r.stderr).toMatch(/^hint: look at it first; Home Assistant takes any file of that name as the mark, so remove it as any other file/m);
    expect(sha(img)).toBe(before);
  });

  it('a symbolic link to nothing: refused to set (not "already set"); off says it is not set', () => {
    const img = data('dangling.img');
    execFileSync('debugfs', ['-w', '-R', `symlink ${MARKER} /nowhere`, img], { stdio: 'ignore' });
    const on = cli(['safe-mode', img]);
    expect(on.code).toBe(64);
    expect(on.stderr).toContain(`error: ${MARKER} is a symbolic link to something that is not there: Home Assistant does not take it for the safe-mode mark`);
    const off = cli(['safe-mode', img, '--off', '--json']);
    expect(off.code, off.stderr).toBe(0);
    expect(JSON.parse(off.text)).toMatchObject({ on: false, changed: false });
  });

  it('a symbolic link to a file: it is the mark (set), and off removes the link as the start does, not its file', () => {
    const img = data('link.img');
    execFileSync('debugfs', ['-w', '-R', `write /dev/null /supervisor/homeassistant/mark`, img], { stdio: 'ignore' });
    execFileSync('debugfs', ['-w', '-R', `symlink ${MARKER} /supervisor/homeassistant/mark`, img], { stdio: 'ignore' });
    const on = cli(['safe-mode', img, '--json']);
    expect(on.code, on.stderr).toBe(0);
    expect(JSON.parse(on.text)).toMatchObject({ on: true, changed: false });
    const off = cli(['safe-mode', img, '--off', '--json']);
    expect(off.code, off.stderr).toBe(0);
    expect(JSON.parse(off.text)).toMatchObject({ on: false, changed: true });
    expect(cli(['ls', img, MARKER]).code).toBe(66);
    expect(cli(['ls', img, '/supervisor/homeassistant/mark']).code).toBe(0);
    execFileSync('e2fsck', ['-fn', img], { stdio: 'ignore' });
  });

  // The window read the mark with a bare "exists": a link to nothing was "set" and taking it back was planned.
  it('in the window: said as the command says it, and refused as the command refuses it', async () => {
    const dangling = data('window-dangling.img');
    execFileSync('debugfs', ['-w', '-R', `symlink ${MARKER} /nowhere`, dangling], { stdio: 'ignore' });
    const folder = data('window-folder.img');
    execFileSync('debugfs', ['-w', '-R', `mkdir ${MARKER}`, folder], { stdio: 'ignore' });
    for (const [img, on, code] of [[dangling, false, 'SAFE_MODE_DANGLING_LINK'], [folder, true, 'SAFE_MODE_FOLDER']] as const) {
      const before = sha(img);
      const gui = await startGui([img], { HOME: join(work, 'home') });
      try {
        const get = { 'X-Rescue-Token': gui.token };
        const post = { ...get, Origin: gui.base, 'Content-Type': 'application/json' };
        expect(JSON.parse((await rawRequest(gui.port, 'GET', '/api/safe-mode', get)).body)).toMatchObject({ on });
        const plan = JSON.parse((await rawRequest(gui.port, 'POST', '/api/plan', post, JSON.stringify({ action: { kind: 'safe-mode', on: !on } }))).body);
        expect(plan.error?.code, JSON.stringify(plan)).toBe(code);
      } finally {
        gui.child.kill();
        await gui.exited;
      }
      expect(sha(img)).toBe(before);
    }
  });
});


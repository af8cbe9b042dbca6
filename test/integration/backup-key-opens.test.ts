// The key screen says which of the card's encrypted backups its stored key opens. The sample card holds two
// encrypted backups made with passwords of their own (upstream fixtures, SecureTar v2 and v3); a backup made
// here with the card's key (`backup create`, encrypted by default) and put onto the card is the one it opens.
// Checked in the command line (text and --json), the window's /api/key and the guided flow.

import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSampleImage } from '../../fixtures/index.js';
import { cli, cliJson } from '../helpers/cli.js';
import { rawRequest, startGui } from '../helpers/gui.js';
import { tempDir } from '../helpers/images.js';
import { Terminal, hasTmux } from '../helpers/terminal.js';

const work = tempDir('backup-key-opens-');
const term = new Terminal();
afterAll(() => {
  term.close();
  rmSync(work, { recursive: true, force: true });
});
const card = join(work, 'card.img');
const plain = join(work, 'plain.img');
const NONE = /^It opens none of the 2 encrypted backups on this card: they were made with another key \(another installation\) or with a password typed when they were made: that one restores them\.$/m;
const SOME = /^It opens "Made here" \(\d{4}-\d\d-\d\d\)\. It does not open "backup_example_sec_v3" \(2026-02-24\), "Encrypt test" \(2025-02-03\): made with another key/m;

beforeAll(() => {
  writeFileSync(plain, readSampleImage());
  writeFileSync(card, readSampleImage());
  const made = join(work, 'made-here.tar');
  const create = cli(['backup', 'create', card, '--out', made, '--name', 'Made here']);
  expect(create.code, create.stderr).toBe(0);
  const put = cli(['put', card, made, '/supervisor/backup/made-here.tar', '--no-originals']);
  expect(put.code, put.stderr).toBe(0);
}, 120_000);

describe('a card that stores no key', () => {
  it('says so, and why, once (it said "No backup encryption key is stored. no backup encryption key is stored (…)")', () => {
    const none = join(work, 'none.img');
    writeFileSync(none, readSampleImage());
    const store = join(work, 'backup-store.json');
    writeFileSync(store, JSON.stringify({ version: 1, minor_version: 6, key: 'backup', data: { backups: [], config: { create_backup: { password: null } } } }));
    const put = cli(['put', none, store, '/supervisor/homeassistant/.storage/backup', '--no-originals']);
    expect(put.code, put.stderr).toBe(0);
    const r = cli(['backup', 'key', none]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.text).toMatch(/^No backup encryption key is stored \(\.storage\/backup has none\): Home Assistant does not encrypt its automatic backups\.$/m);
    expect(r.text.match(/no backup encryption key is stored/gi)).toHaveLength(1);
  });
});

describe('which encrypted backups the stored key opens', () => {
  it('none of the sample\'s two (made with passwords of their own): said, with where the password comes from', () => {
    const r = cli(['backup', 'key', plain]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.text).toMatch(NONE);
  });

  it('the one made with the card\'s key, and not the two others, named (text and --json)', () => {
    const r = cli(['backup', 'key', card]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.text).toMatch(SOME);
    const json = cliJson<{ opens: { encrypted: number; checked: number; opens: Array<{ name: string }>; other: Array<{ name: string }> } }>(['backup', 'key', card]);
    expect(json.opens).toMatchObject({ encrypted: 3, checked: 3, opens: [{ name: 'Made here' }] });
    expect(json.opens.other.map((b) => b.name).sort()).toEqual(['Encrypt test', 'backup_example_sec_v3']);
  });

  it('the window\'s key screen gets the same words', async () => {
    const gui = await startGui([card]);
    try {
      const answer = await rawRequest(gui.port, 'GET', '/api/key', { 'X-Rescue-Token': gui.token });
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body).opens).toMatch(SOME);
    } finally {
      gui.child.kill();
      await gui.exited;
    }
  });

  it.skipIf(!hasTmux)(`the guided flow's key step says it too${hasTmux ? '' : ' (skipped: tmux is not installed)'}`, async () => {
    term.start('key', work, join(work, 'home'));
    await term.openPath('key', card);
    await term.waitFor('key', /What do you want to do\?/);
    for (let i = 0; i < 5; i++) term.keys('key', 'Down');
    term.keys('key', 'Enter'); // Show the backup encryption key
    const shown = (await term.waitFor('key', /It opens "Made here"[\s\S]*What do you want to do\?/, 30_000)).replace(/\n/g, '');
    expect(shown).toMatch(/Backup encryption key: [A-Z0-9-]+/);
    term.keys('key', 'Up');
    term.keys('key', 'Enter');
    await term.waitFor('key', /EXIT=0/);
  }, 60_000);
});

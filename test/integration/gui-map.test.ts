// A --map given on the browser window's command line belongs to the card named with it, however the window
// names that card later: started with a relative path, the same card opened again by its absolute path is
// still read with the map (its lost sectors "not rescued"), and another card opened in between is not.

import { copyFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sampleWithBadSectors } from '../helpers/failing-sample.js';
import { rawRequest, startGui } from '../helpers/gui.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('gui-map-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

const hex = (n: number): string => `0x${n.toString(16)}`;

describe('the browser window and a --map given at start', () => {
  it('the card named by a relative path, opened again by its absolute path, keeps its map', async () => {
    const card = join(work, 'card.img');
    const [first, count] = await sampleWithBadSectors(card);
    copyFileSync(card, join(work, 'other.img'));
    const size = statSync(card).size;
    const lost = { pos: first * 512, size: count * 512 };
    writeFileSync(
      join(work, 'given.map'),
      `# Mapfile\n# current_pos  current_status  current_pass\n0x00000000  +  1\n#  pos  size  status\n` +
        `0x00000000  ${hex(lost.pos)}  +\n${hex(lost.pos)}  ${hex(lost.size)}  -\n${hex(lost.pos + lost.size)}  ${hex(size - lost.pos - lost.size)}  +\n`,
    );
    const gui = await startGui(['card.img', '--map', 'given.map'], {}, work);
    try {
      const headers = { 'X-Rescue-Token': gui.token, Origin: gui.base, 'Content-Type': 'application/json' };
      const users = async () => JSON.parse((await rawRequest(gui.port, 'GET', '/api/users', headers)).body) as { error?: { code: string }; users?: unknown[] };
      const open = async (path: string) => (await rawRequest(gui.port, 'POST', '/api/open', headers, JSON.stringify({ path }))).status;
      expect((await users()).error?.code).toBe('NOT_RESCUED');
      expect(await open(join(work, 'other.img'))).toBe(200);
      expect((await users()).users?.length).toBeGreaterThan(0);
      expect(await open(card)).toBe(200);
      expect((await users()).error?.code).toBe('NOT_RESCUED');
    } finally {
      gui.child.kill('SIGTERM');
      await gui.exited;
    }
  }, 60_000);
});

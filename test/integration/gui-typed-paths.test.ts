// Paths typed or pasted into the browser window: Windows' "Copy as path" puts double quotes around them, and
// ~ is the home folder. "/x/"/x/card.vhdx" does not exist" was said for a quoted path, and "~/backups is not
// a full path". A relative path is refused alike for the disk and for what is saved (the disk's was taken
// from the folder haos-rescue was started in). A folder given where a file is saved ("…/Downloads/") gets
// the default name in it: an export made a hidden file named ".tar.gz" there.

import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSampleImage } from '../../fixtures/index.js';
import { rawRequest, startGui } from '../helpers/gui.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('gui-typed-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const day = new Date().toLocaleDateString('sv-SE'); // YYYY-MM-DD, local, as the window dates names

describe('paths typed in the browser window', () => {
  it('quotes and ~ are taken off; a relative path is refused; a folder given for a file gets the default name in it', async () => {
    const image = join(work, 'my card.img');
    writeFileSync(image, readSampleImage());
    const gui = await startGui([], { HOME: work }, work);
    const headers = { 'X-Rescue-Token': gui.token, Origin: gui.base, 'Content-Type': 'application/json' };
    const post = async (path: string, body: object) => {
      const r = await rawRequest(gui.port, 'POST', path, headers, JSON.stringify(body));
      return { status: r.status, body: JSON.parse(r.body) as { error?: { code: string; message: string } } };
    };
    try {
      const relative = await post('/api/open', { path: 'my card.img' });
      expect(relative.status).toBe(400);
      expect(relative.body.error).toMatchObject({ code: 'RELATIVE_PATH', message: 'my card.img is not a full path' });
      expect((await post('/api/open', { path: `  "${image}" ` })).status).toBe(200);
      expect((await post('/api/open', { path: '~/my card.img' })).status).toBe(200);

      const copies = await post('/api/extract', { folder: '"~/backups"' });
      expect(copies.status, JSON.stringify(copies.body)).toBe(200);
      expect(readdirSync(join(work, 'backups')).length).toBeGreaterThan(0);

      const folder = join(work, 'out');
      mkdirSync(folder);
      expect((await post('/api/export', { kind: 'tar.gz', out: `${folder}/` })).status).toBe(200);
      expect((await post('/api/export', { kind: 'tar.gz', out: folder })).status).toBe(200);
      expect((await post('/api/create', { out: folder })).status).toBe(200);
      expect(readdirSync(folder).sort()).toEqual([`home-assistant-config-${day}-2.tar.gz`, `home-assistant-config-${day}.tar.gz`, `home-assistant-rescued-${day}.tar`]);
      expect(existsSync(join(folder, '.tar.gz'))).toBe(false);
    } finally {
      gui.child.kill('SIGTERM');
      await gui.exited;
    }
  });
});

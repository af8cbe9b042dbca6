// `gui` as it is started: a card named by a relative path is opened by its full path (the window's own
// field takes full paths only: once the card had gone and come back, "Open" refused the name it had filled
// in), and --json, which has no meaning for a window, is refused (the address was printed as text).

import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSampleImage } from '../../fixtures/index.js';
import { cli } from '../helpers/cli.js';
import { rawRequest, startGui } from '../helpers/gui.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('gui-start-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('gui start', () => {
  it('a relative path is opened by its full path', async () => {
    writeFileSync(join(work, 'card.img'), readSampleImage());
    const gui = await startGui(['card.img'], { HOME: join(work, 'home'), HAOS_RESCUE_GUI_GRACE_MS: '1000' }, work);
    try {
      const state = await rawRequest(gui.port, 'GET', '/api/state', { 'X-Rescue-Token': gui.token });
      expect(state.status, state.body).toBe(200);
      expect(JSON.parse(state.body).card.path).toBe(join(work, 'card.img'));
    } finally {
      gui.child.kill('SIGTERM');
      await gui.exited;
    }
  });

  it('--json is refused (exit 64), no window started', () => {
    const r = cli(['gui', join(work, 'card.img'), '--no-open', '--json']);
    expect(r.code).toBe(64);
    expect(r.stderr).toBe('error: gui opens a window and prints only its address: --json has no meaning for it\nhint: leave --json out\n');
  });
});

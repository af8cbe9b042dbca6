// The layers below the command line say what to do in words; the command line adds its own option, or the
// command to run on the source this command read (remedies.ts). Real commands on the sample card.

import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSampleImage } from '../../fixtures/index.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('hint-remedies-');
const image = join(work, 'my card.img');
writeFileSync(image, readSampleImage());
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('hints on the command line', () => {
  it('an option: export into a folder that is not empty', () => {
    const out = join(work, 'full');
    mkdirSync(out);
    writeFileSync(join(out, 'keep.txt'), 'x');
    const r = cli(['export', image, '--out', out]);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain(`error: ${out} is not empty\nhint: name a new or empty folder, or write into this one anyway (add --force)\n`);
  });

  it('an option after "nothing was written": rm of a folder', () => {
    const r = cli(['rm', image, '/supervisor/homeassistant', '--dry-run']);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('hint: remove it with everything in it, if that is meant; nothing was written (add --recursive)\n');
  });

  it('a command, with the source this command read', () => {
    const r = cli(['backup', 'extract', image, '--slug', 'nope', '--out', join(work, 'b')]);
    expect(r.code).toBe(66);
    expect(r.stderr).toMatch(/hint: slugs on the card: [0-9a-f]{8}(, [0-9a-f]{8})* \(haos-rescue backup list '.*\/my card\.img'\)\n/);
  });
});

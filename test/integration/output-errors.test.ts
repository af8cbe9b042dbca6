// When the computer's side fails (the output disk is full, or read-only), export and backup extract stop
// with a message about the output (exit 74 / 77), never as an internal bug, and the card is untouched.
// Uses a tiny tmpfs as the full disk (needs root and mount; skipped with the reason otherwise).

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSampleImage } from '../../fixtures/index.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('output-errors-');
const image = join(work, 'sample.img');
writeFileSync(image, readSampleImage());
const small = join(work, 'small');
mkdirSync(small);
const mounted = process.getuid?.() === 0 && spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', small]).status === 0;
afterAll(() => {
  if (mounted) spawnSync('umount', [small]);
  rmSync(work, { recursive: true, force: true });
});
const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');

describe.skipIf(!mounted)(`a full output disk${mounted ? '' : ' (skipped: needs root to mount a small tmpfs)'}`, () => {
  it.each([['folder', 'config'], ['.tar', 'config.tar'], ['.tar.gz', 'config.tar.gz']])('export to a %s stops with exit 74 OUTPUT_FULL', (kind, name) => {
    const before = sha(image);
    const r = cli(['export', image, '--what', 'all', '--out', join(small, name), '--verbose']);
    expect(r.code, r.stderr).toBe(74);
    expect(r.stderr).toMatch(/error: no space left where the copy goes/);
    expect(r.stderr).toMatch(/code: OUTPUT_FULL/);
    expect(sha(image)).toBe(before);
    // An archive is removed with its partial file; a folder keeps what was copied, for the user to see.
    if (kind !== 'folder') expect(readdirSync(small)).toEqual([]);
    rmSync(join(small, name), { recursive: true, force: true });
  });

  it('backup extract is refused before copying anything when the space is short', () => {
    const r = cli(['backup', 'extract', image, '--out', join(small, 'backups')]);
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toMatch(/bytes free, the backups need/);
  });
});

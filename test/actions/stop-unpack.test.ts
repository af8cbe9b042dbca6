// A stop asked for while a backup is unpacked (Ctrl-C, the window's Stop) ends it as a stop, not as damage of
// the backup: the stop came through the decompression stream, whose errors all read as "damaged", and the
// half-written file was kept as .damaged (364 MiB by hand); it is removed now, and every file left is whole.
// Its own file: the stop flag is process-wide, as Ctrl-C is.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { requestStop } from '../../src/actions/critical.js';
import { unpackBackup, withBackupFile } from '../../src/actions/backup/index.js';
import { CLI } from '../helpers/cli.js';
import { mkfs, prng, tempDir } from '../helpers/images.js';

const work = tempDir('stop-unpack-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

it('a stop during an unpack removes the unfinished file and is no damage', async () => {
  const stage = join(work, 'stage');
  const config = join(stage, 'supervisor/homeassistant');
  mkdirSync(config, { recursive: true });
  writeFileSync(join(config, '.HA_VERSION'), '2025.5.3');
  writeFileSync(join(config, 'configuration.yaml'), 'default_config:\n');
  const big = prng(31, 24 * 1024 * 1024);
  writeFileSync(join(config, 'zz-big.bin'), big);
  const card = join(work, 'card.img');
  mkfs(card, stage, { sizeMiB: 96 });
  const backup = join(work, 'made.tar');
  execFileSync(process.execPath, [CLI, 'backup', 'create', card, '--no-encrypt', '--out', backup]);
  const out = join(work, 'out');
  const data = join(out, 'homeassistant', 'data');
  // The stop is asked once the big file has begun to be written (the copy reads, so timers run meanwhile). The
  // file can be removed between two looks (the stop's own clean-up runs on the thread pool): one look, no throw.
  const watch = setInterval(() => {
    if ((statSync(join(data, 'zz-big.bin'), { throwIfNoEntry: false })?.size ?? 0) > 0) requestStop();
  }, 1);
  const unpack = withBackupFile(backup, (t) => unpackBackup(t, { outDir: out, key: null }));
  try {
    await expect(unpack).rejects.toSatisfy((err: Error) => err.name === 'StopRequested' || (err as { code?: string }).code === 'STOPPED');
  } finally {
    clearInterval(watch);
  }
  const left = existsSync(data) ? readdirSync(data) : [];
  expect(left.filter((n) => n.endsWith('.damaged'))).toEqual([]);
  if (left.includes('zz-big.bin')) expect(readFileSync(join(data, 'zz-big.bin')).equals(big)).toBe(true);
});

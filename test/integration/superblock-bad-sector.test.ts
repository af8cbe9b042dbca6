// A real failing card (FUSE) whose data filesystem's superblock lies on a bad sector, the most rewritten place
// of the filesystem: it is read from its backup copy (as `e2fsck -b` would), with a warning; users, backups
// and files read as on the healthy card; a write is refused (SUPERBLOCK_DAMAGED, with the e2fsck command) and
// nothing is written. The card's filesystem: the sample's tree, made again by mkfs.ext4 large enough to have a
// backup superblock (160 MiB of 4 KiB blocks: two groups). The bad sectors lie in the first 64 KiB too, which
// the check for a virtual machine's disk file reads: a file that cannot be read there is taken as a raw image.
// Needs root, /dev/fuse and python3-fusepy (skipped with the reason otherwise).

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SAMPLE, readSampleImage } from '../../fixtures/index.js';
import { cli, cliJson } from '../helpers/cli.js';
import { failingCardUnavailable, withFailingCard } from '../helpers/failing-card.js';
import { tempDir } from '../helpers/images.js';

const reason = failingCardUnavailable();
const work = tempDir('sb-bad-sector-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

/** The sample's data tree in a fresh 160 MiB hassos-data filesystem (a bare filesystem image). */
function twoGroupCard(): string {
  const data = join(work, 'sample-data.img');
  writeFileSync(data, readSampleImage().subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes));
  const stage = join(work, 'stage');
  spawnSync('mkdir', ['-p', stage]);
  for (const top of ['supervisor', 'docker']) {
    const r = spawnSync('debugfs', ['-R', `rdump /${top} ${stage}`, data], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  }
  const card = join(work, 'card.img');
  const r = spawnSync('mkfs.ext4', ['-q', '-F', '-b', '4096', '-L', 'hassos-data', '-d', stage, card, '160M'], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return card;
}

describe.skipIf(reason !== null)(`a failing card whose superblock is on a bad sector${reason ? ` (skipped: ${reason})` : ''}`, () => {
  it('reads from the backup superblock with a warning, as the healthy card; a write is refused and nothing written', async () => {
    const image = twoGroupCard();
    const healthy = { users: cliJson<unknown>(['auth', 'list', image]), backups: cliJson<unknown>(['backup', 'list', image]) };
    const before = sha(image);
    // Sectors 2 and 3: bytes 1024-2047, the primary superblock.
    await withFailingCard({ image, bad: [[2, 2]], failDelayMs: 1 }, async (card) => {
      const info = cliJson<{ warnings: string[]; homeAssistant: { users: number } }>(['info', card.path]);
      expect(info.warnings.join('\n')).toMatch(/primary superblock unusable \(read of 1024 bytes failed .*\); using the backup at byte 134217728/);
      expect(info.homeAssistant.users).toBe(2);
      expect(cliJson<unknown>(['auth', 'list', card.path])).toEqual(healthy.users);
      expect(cliJson<unknown>(['backup', 'list', card.path])).toEqual(healthy.backups);
      const reset = cli(['auth', 'reset', card.path, '--username', 'vm-user', '--password', 'Correct-Horse-9', '--yes']);
      expect(reset.code, reset.stderr).toBe(77);
      expect(reset.stderr).toMatch(/error: the filesystem's main superblock is unusable .*backup copy at byte 134217728/);
      expect(reset.stderr).toMatch(/e2fsck -b 32768 -B 4096 first; nothing was written/);
    });
    expect(sha(image)).toBe(before);
  }, 120_000);
});

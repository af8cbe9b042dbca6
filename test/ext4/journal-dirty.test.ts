// Dirty data filesystems made on purpose (scripts/fixtures/make-dirty.mjs): the journal holds a changed
// auth_provider, a new directory entry and a revoked block; in dirty-wrap.img the log wraps around the
// journal's end. Reads show the journal's content without writing; applying the replay in place leaves
// what `e2fsck -E journal_only` leaves.

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withFileDevice } from '../../src/device/file-device.js';
import { applyJournalReplay } from '../../src/ext4/journal/apply.js';
import { makeDirty } from '../../scripts/fixtures/make-dirty.mjs';
import { cli, cliJson } from '../helpers/cli.js';
import { tempDir } from '../helpers/images.js';
import { debugfsManifest } from '../helpers/manifest.js';

const work = tempDir('dirty-');
let facts: ReturnType<typeof makeDirty>;
beforeAll(() => {
  facts = makeDirty(work);
}, 60_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');
const e2fsck = (args: string[], img: string) => spawnSync('e2fsck', [...args, img], { encoding: 'utf8' });

describe.each(['dirty.img', 'dirty-wrap.img'])('%s', (name) => {
  const img = (): string => join(work, name);

  it('reads show the journal\'s state and leave the image byte-identical', () => {
    const before = sha(img());
    expect(cli(['cat', img(), facts.authPath]).text).toBe(facts.newAuth);
    const backups = cliJson<Array<{ name: string; size: number }>>(['ls', img(), '/supervisor/backup']);
    expect(backups.find((b) => `/supervisor/backup/${b.name}` === facts.newFilePath)?.size).toBe(facts.newFileSize);
    expect(cli(['cat', img(), facts.newFilePath]).stdout.length).toBe(facts.newFileSize);
    const info = cliJson(['info', img()]);
    expect(info.data).toMatchObject({ needsRecovery: true, journalReplayed: true, journal: { firstTransaction: 1, endTransaction: 5, transactions: 4, revokedBlocksSkipped: 1 } });
    expect(sha(img())).toBe(before);
  });

  it('--no-replay shows the card as it is: the old file, no new entry', () => {
    expect(cli(['cat', img(), facts.authPath, '--no-replay']).text).toBe(facts.oldAuth);
    expect(cli(['cat', img(), facts.newFilePath, '--no-replay']).code).toBe(66);
  });

  it('applying the replay in place gives e2fsck -E journal_only\'s tree, and e2fsck -fn is clean', async () => {
    const ours = join(work, `${name}.applied`);
    const theirs = join(work, `${name}.e2fsck`);
    copyFileSync(img(), ours);
    copyFileSync(img(), theirs);
    const result = await withFileDevice(ours, { writable: true }, (dev) => applyJournalReplay(dev));
    expect(result.applied).toBe(true);
    expect(result.report).toMatchObject({ transactions: 4, revokeHits: 1, problems: [], error: null });
    expect(e2fsck(['-fy', '-E', 'journal_only'], theirs).status).toBe(0);
    const check = e2fsck(['-fn'], ours);
    expect(check.stdout + check.stderr).not.toMatch(/recover|journal|Fix\?|error/i);
    expect(check.status).toBe(0);
    expect(debugfsManifest(ours)).toEqual(debugfsManifest(theirs));
    const revoked = (p: string): Buffer => readFileSync(p).subarray(facts.revokedBlock * 4096, (facts.revokedBlock + 1) * 4096);
    expect(revoked(ours).equals(revoked(img()))).toBe(true);
    const dump = execFileSync('dumpe2fs', ['-h', ours], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    expect(dump).not.toMatch(/needs_recovery/);
    expect(dump).toMatch(/^Journal start:\s+0$/m);
    // A second apply finds nothing to do and writes nothing.
    const after = sha(ours);
    expect((await withFileDevice(ours, { writable: true }, (dev) => applyJournalReplay(dev))).applied).toBe(false);
    expect(sha(ours)).toBe(after);
  });
});

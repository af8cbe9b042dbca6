// Dirty data filesystems made on purpose (scripts/fixtures/make-dirty.mjs): the journal holds a changed
// auth_provider, a new directory entry and a revoked block; in dirty-wrap.img the log wraps around the
// journal's end. Reads show the journal's content without writing; applying the replay in place leaves
// what `e2fsck -E journal_only` leaves.

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FaultyDevice, faultyDevice } from '../../src/device/faulty-device.js';
import { withFileDevice } from '../../src/device/file-device.js';
import { withSource } from '../../src/actions/source.js';
import { AppError } from '../../src/errors.js';
import { applyJournalReplay } from '../../src/ext4/journal/apply.js';
import { makeDirty } from '../../scripts/fixtures/make-dirty.mjs';
import { cli, cliJson } from '../helpers/cli.js';
import { tempDir } from '../helpers/images.js';
import { debugfsManifest } from '../helpers/manifest.js';
import { replayAfterCut } from '../helpers/replay.js';

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

describe('damaged journals', () => {
  // Journal blocks of dirty.img flipped at random: the replay must end in a report or one of our errors,
  // never a crash or a hang. The file read is one of the two real versions, or, when a damaged block was
  // skipped (as e2fsck skips it) and the rest replayed, a mix that comes with a warning naming the journal.
  it('300 random corruptions of the log: no crash, no hang, no write', async () => {
    const base = readFileSync(join(work, 'dirty.img'));
    const blocks = execFileSync('debugfs', ['-R', 'blocks <8>', join(work, 'dirty.img')], { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString().split(/\s+/).filter(Boolean).map(Number).slice(0, 24);
    let x = 12345;
    const next = (): number => (x = (Math.imul(x, 1103515245) + 12345) >>> 0);
    const img = join(work, 'fuzz.img');
    const outcomes = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const bytes = Buffer.from(base);
      for (let k = 0, n = 1 + (next() % 6); k < n; k++) {
        const block = blocks[next() % blocks.length]!;
        const at = block * 4096 + (next() % (k === 0 ? 64 : 4096));
        bytes[at] = bytes[at]! ^ (1 << (next() % 8));
      }
      writeFileSync(img, bytes);
      const started = Date.now();
      let code = 0;
      let text = '';
      let warnings: string[] = [];
      try {
        await withSource(img, {}, async (src) => {
          warnings = src.warnings;
          text = (await src.volume.readFile(await src.volume.lookup(facts.authPath))).toString();
        });
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        code = err.exitCode;
      }
      expect(Date.now() - started).toBeLessThan(10_000);
      const version = text === facts.newAuth ? 'new' : text === facts.oldAuth ? 'old' : 'mixed';
      if (code !== 0) expect([65, 66, 69, 74]).toContain(code);
      else if (version === 'mixed') expect(warnings.join('\n')).toMatch(/^journal/m);
      outcomes.add(code === 0 ? version : `exit ${code}`);
      expect(readFileSync(img).equals(bytes)).toBe(true);
    }
    expect(outcomes.has('new')).toBe(true);
    expect(outcomes.size).toBeGreaterThan(1);
  }, 120_000);
});

describe('power cut while the replay is applied onto the card', () => {
  it('after any write, e2fsck -E journal_only then -fn is clean and shows the journal\'s state', async () => {
    const pristine = join(work, 'dirty.img');
    let probe: FaultyDevice | null = null;
    const copy = join(work, 'apply-probe.img');
    copyFileSync(pristine, copy);
    await withFileDevice(copy, { writable: true }, (dev) => applyJournalReplay((probe = faultyDevice(dev, {}))));
    const steps = (probe as FaultyDevice | null)?.writeCount ?? 0;
    expect(steps).toBeGreaterThan(5);
    for (let n = 0; n <= steps; n++) {
      const img = join(work, `apply-cut-${n}.img`);
      copyFileSync(pristine, img);
      await withFileDevice(img, { writable: true }, (dev) => applyJournalReplay(faultyDevice(dev, { dropWritesAfter: n })));
      expect(replayAfterCut(img, `cut after write ${n}`)).toBeLessThan(4);
      const check = e2fsck(['-fn'], img);
      expect(check.status, `cut after write ${n}: ${check.stdout}`).toBe(0);
      expect(execFileSync('debugfs', ['-R', `cat ${facts.authPath}`, img], { stdio: ['ignore', 'pipe', 'ignore'] }).toString()).toBe(facts.newAuth);
      rmSync(img);
    }
  });
});

// A journal the box's kernel aborted (a failed write of the card: jbd2 keeps -EIO in its superblock's
// s_errno): the kernel marks such a filesystem as having errors at its next mount, and e2fsck clears it.
// `info` says so and warns that the card may be failing; a write is refused (exit 77) and changes nothing;
// after `e2fsck -fy` on a copy both are as on a healthy card. The errno is written into the sample's
// journal superblock with its checksum made right, as jbd2_journal_update_sb_errno leaves it.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kernelErrorSummary } from '../../src/actions/info.js';
import { sampleWithAbortedJournal } from '../helpers/card.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('journal-abort-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const img = join(work, 'aborted.img');
sampleWithAbortedJournal(img);
const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');
const small = join(work, 'small.txt');
writeFileSync(small, 'hello\n');

describe('a journal the box\'s kernel aborted', () => {
  it('info names the error and warns that the card may be failing', () => {
    const r = cli(['info', img]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.text).toContain("Journal:          stopped by the box's kernel after an error: a read or write of the card failed (EIO; the box's next start clears it, or e2fsck)\n");
    expect(r.stderr).toMatch(/warning: the box's kernel stopped the journal after an error \(EIO: .*\): .*changes to the card are refused until its filesystem has been checked \(the box checks it at its next start\)/);
    expect(r.stderr).toContain('warning: the card may be failing; if this is the card itself, copy it to an image first');
    const data = JSON.parse(cli(['info', img, '--json']).text).data;
    expect(data.journalAbort).toEqual({ errno: 5, name: 'EIO', meaning: 'a read or write of the card failed' });
    // The "Errors" line of the guided flow's summary and the window's card.
    expect(kernelErrorSummary(data)).toBe("the box's system stopped the journal after an error: a read or write of the card failed");
  });

  it('a write is refused (exit 77 JOURNAL_ABORTED) and changes nothing', () => {
    const before = sha(img);
    const r = cli(['put', img, small, '/supervisor/homeassistant/new.yaml', '--yes', '--no-originals', '--verbose']);
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toMatch(/code: JOURNAL_ABORTED/);
    expect(r.stderr).toMatch(/hint: the card it was copied from may be failing: keep a copy of this image file; then on a Linux computer, e2fsck -f \S+\.img repairs the image file; .*; nothing was written/);
    expect(sha(img)).toBe(before);
  });

  it('after e2fsck -fy (which clears it) the card reads and writes as a healthy one', () => {
    const fixed = join(work, 'fixed.img');
    copyFileSync(img, fixed);
    expect(spawnSync('e2fsck', ['-fy', fixed]).status).toBeLessThan(4);
    const r = cli(['info', fixed, '--json']);
    expect(JSON.parse(r.text).data.journalAbort).toBeNull();
    expect(cli(['put', fixed, small, '/supervisor/homeassistant/new.yaml', '--yes', '--no-originals']).code).toBe(0);
    expect(spawnSync('e2fsck', ['-fn', fixed]).status).toBe(0);
  });
});

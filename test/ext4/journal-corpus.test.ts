// Journal replay against e2fsck: for each needs_recovery image of the e2fsprogs corpus, the tree we show
// with the journal replayed in memory equals the tree after `e2fsck -E journal_only` (replayed.sha256), and
// with --no-replay equals the image as it is (unreplayed.sha256). The image itself is never written.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CowDevice } from '../../src/device/cow-device.js';
import { withFileDevice } from '../../src/device/file-device.js';
import { UnsupportedError } from '../../src/errors.js';
import { replayJournal } from '../../src/ext4/journal/replay.js';
import { Ext4Volume } from '../../src/ext4/volume.js';
import { E2FS_CORPUS, corpusImagePath, corpusImages, hasCorpora } from '../helpers/corpus.js';
import { readerManifest } from '../helpers/manifest.js';

/** The reference rows, without comments. */
function reference(test: string, which: 'replayed' | 'unreplayed'): string[] {
  return readFileSync(join(E2FS_CORPUS, test, `${which}.sha256`), 'utf8')
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .sort();
}

const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');
const recovery = corpusImages().filter((i) => i.needsRecovery);
const external = (t: string): boolean => recovery.find((i) => i.test === t)?.journal === 'external';

/**
 * f_journal keeps its ext3 journal as the visible file /journal (inode 12). After replaying, e2fsck also
 * moves such a journal to the hidden inode 8, which is a repair, not a replay: we show the file as it is.
 */
const VISIBLE_JOURNAL: Record<string, string> = { f_journal: 'journal\t' };

/** Fast-commit replay is not implemented: the full commits are replayed and the rest is said, not applied. */
const FAST_COMMIT = new Set(['j_recover_fast_commit']);

describe.skipIf(!hasCorpora)('journal replay matches e2fsck -E journal_only', () => {
  it('has the 21 needs_recovery images', () => expect(recovery).toHaveLength(21));

  it.each(recovery.map((i) => [i.test]))('%s', async (test) => {
    const image = corpusImagePath(test);
    const before = sha(image);
    await withFileDevice(image, {}, async (dev) => {
      const onDisk = await Ext4Volume.open(dev);
      expect(await readerManifest(onDisk, { withInode: true, tolerant: true })).toEqual(reference(test, 'unreplayed'));
      const overlay = new CowDevice(dev);
      if (external(test)) {
        await expect(replayJournal(onDisk, overlay)).rejects.toBeInstanceOf(UnsupportedError);
        return;
      }
      const state = await replayJournal(onDisk, overlay);
      const replayedVolume = state.replayed ? await Ext4Volume.open(overlay) : onDisk;
      const ours = await readerManifest(replayedVolume, { withInode: true });
      if (FAST_COMMIT.has(test)) {
        expect(state.report?.fastCommitIgnored).toBe(true);
        expect(ours).not.toEqual(reference(test, 'replayed'));
      } else {
        const visible = VISIBLE_JOURNAL[test];
        expect(visible ? ours.filter((l) => !l.startsWith(visible)) : ours).toEqual(reference(test, 'replayed'));
        if (visible) expect(ours.filter((l) => l.startsWith(visible))).toHaveLength(1);
      }
    });
    expect(sha(image)).toBe(before);
  });
});

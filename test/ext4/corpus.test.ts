// The e2fsprogs test images (shared/corpora/e2fsprogs): on every VALID image the reader agrees with
// debugfs rdump; on every image, valid or damaged, walking and reading every file ends in our own errors
// (never a crash or hang) and leaves the image byte-identical.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { withFileDevice } from '../../src/device/file-device.js';
import { AppError } from '../../src/errors.js';
import type { BlockDevice } from '../../src/device/block-device.js';
import { CowDevice } from '../../src/device/cow-device.js';
import { replayJournal } from '../../src/ext4/journal/replay.js';
import { Ext4Volume } from '../../src/ext4/volume.js';
import { walk } from '../../src/ext4/walk.js';
import { corpusImagePath, corpusImages, hasCorpora } from '../helpers/corpus.js';
import { debugfsManifest, readerManifest } from '../helpers/manifest.js';

const images = corpusImages();

/** What every read command sees: the journal replayed into an overlay when the filesystem needs it. */
async function openReplayed(dev: BlockDevice): Promise<Ext4Volume> {
  const onDisk = await Ext4Volume.open(dev);
  const overlay = new CowDevice(dev);
  const state = await replayJournal(onDisk, overlay);
  return state.replayed ? Ext4Volume.open(overlay) : onDisk;
}
const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

// Images debugfs itself cannot open, or that are not a filesystem: nothing to compare against.
const NOT_COMPARABLE = new Set(['j_ext_dumpe2fs']);

describe.skipIf(!hasCorpora)('e2fsprogs corpus (needs ../shared/corpora)', () => {
  // Images that need journal replay are compared with e2fsck's replay in the journal tests.
  const valid = images.filter((i) => i.verdict === 'VALID' && !i.needsRecovery && !NOT_COMPARABLE.has(i.test));

  it('has the images the manifest lists', () => {
    expect(images.length).toBeGreaterThanOrEqual(230);
    expect(valid.length).toBeGreaterThanOrEqual(35);
  });

  it.each(valid.map((i) => [i.test]))('VALID %s: tree matches debugfs rdump', async (test) => {
    const image = corpusImagePath(test);
    const ours = await withFileDevice(image, {}, async (dev) => readerManifest(await Ext4Volume.open(dev)));
    expect(ours).toEqual(debugfsManifest(image));
  });

  it.each(images.map((i) => [i.test]))('%s: walk and read everything, journal replayed, without a crash or a write', async (test) => {
    const image = corpusImagePath(test);
    const before = sha(image);
    const started = Date.now();
    const failures: string[] = [];
    await withFileDevice(image, {}, async (dev) => {
      let vol: Ext4Volume;
      try {
        vol = await openReplayed(dev);
      } catch (err) {
        expect(err).toBeInstanceOf(AppError);
        expect([65, 66, 69, 74]).toContain((err as AppError).exitCode);
        return;
      }
      const onError = (_p: Buffer, err: AppError): void => void failures.push(err.code);
      for await (const e of walk(vol, await vol.readInode(2).catch((err) => { onError(Buffer.alloc(0), err); throw err; }), { onError })) {
        try {
          if (e.inode.kind === 'file') for await (const _ of vol.stream(e.inode));
          else if (e.inode.kind === 'symlink') await vol.readLink(e.inode);
        } catch (err) {
          if (!(err instanceof AppError)) throw err;
          expect([64, 65, 66, 69, 74]).toContain(err.exitCode);
          failures.push(err.code);
        }
      }
    }).catch((err) => {
      if (!(err instanceof AppError)) throw err;
      expect([65, 66, 69, 74]).toContain(err.exitCode);
    });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(sha(image)).toBe(before);
  });
});

// Checksums the kernel and debugfs check on every read, on the images e2fsprogs made for them: the damaged
// structure is refused for its own file, as `debugfs -R "cat PATH"` refuses it.
describe.skipIf(!hasCorpora)('checksums, as debugfs checks them (needs ../shared/corpora)', () => {
  it.each([
    ['f_extent_leaf_bad_csum', '/a', 'BAD_EXTENT_CHECKSUM', 'Extent block checksum does not match'],
    ['f_extent_int_bad_csum', '/a', 'BAD_EXTENT_CHECKSUM', 'Extent block checksum does not match'],
    ['f_bad_inode_csum', null, 'BAD_INODE_CHECKSUM', 'Inode checksum does not match'],
    ['f_dir_bad_csum', null, 'BAD_DIR_CHECKSUM', 'Directory block checksum does not match'],
    ['f_htree_leaf_csum', '/x', 'BAD_DIR_CHECKSUM', 'Directory block checksum does not match'],
  ])('%s: %s gives %s where debugfs says "%s"', async (test, path, code, debugfsSays) => {
    const image = corpusImagePath(test);
    await withFileDevice(image, {}, async (dev) => {
      const vol = await Ext4Volume.open(dev);
      const errors: Array<[string, string]> = [];
      const paths: string[] = [];
      for await (const e of walk(vol, await vol.readInode(2), { onError: (p, err) => void errors.push([`/${p}`, err.code]) })) {
        if (e.inode.kind !== 'file') continue;
        try {
          for await (const _ of vol.stream(e.inode));
          paths.push(`/${e.path}`);
        } catch (err) {
          if (!(err instanceof AppError)) throw err;
          errors.push([`/${e.path}`, err.code]);
        }
      }
      expect(errors.length, 'something is refused').toBeGreaterThan(0);
      for (const [p, c] of errors) {
        expect(c, p).toBe(code);
        const said = spawnSync('debugfs', ['-R', `${code === 'BAD_DIR_CHECKSUM' ? 'ls' : 'cat'} "${p}"`, image], { encoding: 'utf8' }).stderr;
        expect(said, `debugfs on ${p}`).toContain(debugfsSays);
      }
      if (path !== null) expect(errors.map(([p]) => p)).toEqual([path]);
    });
  });
});

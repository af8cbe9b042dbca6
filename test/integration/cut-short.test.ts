// An image of the card cut short (a copy that stopped, a download that did not finish): the partition table
// says the data partition runs on past the end of the file. What lies in the file reads as usual; a read of the
// missing part fails saying that the image is shorter than its table says (before: "beyond the end of
// partition 8" with the hint for a failing card, found by a fuzz campaign), and a write is refused
// before anything is read for it (a change there would never make a working card), nothing written.

import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SAMPLE, readSampleImage } from '../../fixtures/index.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('cut-short-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

// 3 MiB of the 20 MiB data partition: its superblock, group descriptors and first inode tables are there.
const img = join(work, 'cut.img');
writeFileSync(img, readSampleImage().subarray(0, SAMPLE.dataOffsetBytes + 3 * 1024 * 1024));
const HINT = /^hint: the image or disk is shorter than its partition table says; was it copied completely\?$/m;

describe('an image cut short inside the data partition', () => {
  it('info reads it and warns that it looks truncated', () => {
    const r = cli(['info', img]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/partition 8 \(hassos-data\) ends at byte \d+, beyond the device end at \d+: the image looks truncated/);
    // Its files are past the end: not read, which is not the same as not there (it said "no configuration found").
    expect(r.text).toMatch(/^Home Assistant: +its files could not be read here \(see the warnings\); they may still be on the card$/m);
    expect(JSON.parse(cli(['info', img, '--json']).text).homeAssistant.unreadable).toBe(true);
  });

  it('a read of the missing part says the image is shorter than its partition table (exit 74)', () => {
    const r = cli(['ls', img, '/supervisor/homeassistant']);
    expect(r.code, r.stderr).toBe(74);
    // The image named once ("of partition 8 of image X is beyond the end of image X").
    expect(r.stderr).toMatch(/at byte \d+ of partition 8 is beyond the end of image \S*cut\.img: only 3145728 of its 20971520 bytes exist/);
    expect(r.stderr).toMatch(HINT);
  });

  it('cut 64 KiB into the data partition (its first inodes missing): the opening says the image is cut short, not a failing card\'s read "beyond the end of slice"', () => {
    const short = join(work, 'cut-64k.img');
    writeFileSync(short, readSampleImage().subarray(0, SAMPLE.dataOffsetBytes + 64 * 1024));
    const r = cli(['ls', short]);
    expect(r.code, r.stderr).toBe(74);
    expect(r.stderr).toMatch(/of the partition at byte 11534336 is beyond the end of image .*: only 65536 of its 20971520 bytes exist$/m);
    expect(r.stderr).toMatch(HINT);
    expect(r.stderr).not.toMatch(/slice|failed the read/);
  });

  it('a write is refused the same way and changes nothing', () => {
    const before = createHash('sha256').update(readFileSync(img)).digest('hex');
    const small = join(work, 'x.txt');
    writeFileSync(small, 'x\n');
    // put reads its target folder first (the missing part: exit 74, as above); check-at-start reads nothing more.
    expect([74, 77]).toContain(cli(['put', img, small, '/supervisor/homeassistant/x.txt', '--yes', '--no-originals']).code);
    const r = cli(['check-at-start', img]);
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toMatch(/^error: the image ends inside the data partition: only 3145728 of its 20971520 bytes are there$/m);
    expect(r.stderr).toMatch(/^hint: let the copy that stopped finish, or copy the whole card again, and change the complete copy; nothing was written$/m);
    expect(cli(['info', img, '--json']).text).toContain('"code": "IMAGE_CUT_SHORT"');
    expect(createHash('sha256').update(readFileSync(img)).digest('hex')).toBe(before);
  });
});

// What a change was written to, as the window and the guided flow say it: a change to an image file is not on
// any card (they said "Read back from the card" and "put the card back", and owners put back the unchanged
// card); a virtual machine's disk file is started with its machine.

import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SAMPLE, buildFixtures, readSampleImage } from '../../fixtures/index.js';
import { withSource } from '../../src/actions/source.js';
import { CARD, mediumOf } from '../../src/actions/write/medium.js';
import { authWriteLines, safeModeDone } from '../../src/actions/gui/plans.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('medium-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const hasQemuImg = spawnSync('qemu-img', ['--version']).status === 0;

describe('mediumOf', () => {
  it('an image file: named, "not a card", and written to a card to start the box', async () => {
    const img = join(work, 'copy.img');
    writeFileSync(img, readSampleImage());
    const m = await withSource(img, { replay: true }, async (s) => mediumOf(s));
    expect(m).toMatchObject({ kind: 'image', the: 'the image file copy.img (not a card)' });
    expect(m.startIt).toMatch(/^write the image file to a card .*, put that card into the box and start it$/);
    expect(safeModeDone(true, m)).toMatch(/^Done, on the image file copy\.img \(not a card\)\. Next: write the image file to a card/);
    expect(authWriteLines({ notes: [], journalReplayedOntoCard: null, originalsDir: null } as never, 'new password for x', m).at(-1)).toBe('Done: new password for x. Read back from the image file copy.img (not a card) and verified.');
  });

  // "write the image file to a card (Raspberry Pi Imager…)" was said for it too: done, the card lost its system.
  it('an image of the data partition alone: copied back onto that partition, never onto the whole card', async () => {
    const img = join(work, 'data.img');
    writeFileSync(img, readSampleImage().subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes));
    const m = await withSource(img, { replay: true }, async (s) => mediumOf(s));
    expect(m).toMatchObject({ kind: 'image', the: 'the image file data.img (a copy of the data partition alone, not a card)' });
    expect(m.startIt).toMatch(/^copy the image file back onto the data partition of the card it came from \(hassos-data, partition 8 on most boards; on Linux: sudo dd if=IMAGE of=\/dev\/sdX8 bs=4M conv=fsync\), never onto the whole card/);
    expect(m.startIt).not.toMatch(/Imager: |balenaEtcher/);
  });

  it.skipIf(!hasQemuImg)('a virtual machine disk file: started with its machine', async () => {
    const raw = join(work, 'vm.img');
    writeFileSync(raw, readSampleImage());
    const qcow2 = join(work, 'vm.qcow2');
    expect(spawnSync('qemu-img', ['convert', '-O', 'qcow2', raw, qcow2]).status).toBe(0);
    expect(await withSource(qcow2, { replay: true }, async (s) => mediumOf(s))).toEqual({ kind: 'vm-disk', the: "the virtual machine's disk file", startIt: 'start the virtual machine', system: 'the virtual machine' });
  });

  // A Supervised install runs Debian on a computer: "write the image file to a card (Raspberry Pi Imager)" and
  // "put the card into the box" were said for its disk.
  it('a Supervised install\'s disk: an image of it goes back onto that disk, into the computer; a partition alone onto its partition', async () => {
    const fixtures = join(work, 'fixtures');
    buildFixtures(fixtures);
    const root = join(fixtures, 'supervised-root.img');
    const part = await withSource(root, { replay: true }, async (s) => mediumOf(s));
    expect(part).toMatchObject({ kind: 'image', the: 'the image file supervised-root.img (a copy of one partition, not a disk)', system: 'the computer' });
    expect(part.startIt).toMatch(/^copy the image file back onto the partition of the disk it came from .*never onto the whole disk, put that disk back into the computer that runs Home Assistant and start it$/);
    // The same root filesystem behind a partition table: a whole disk's image.
    const disk = join(work, 'supervised-disk.img');
    writeFileSync(disk, Buffer.alloc(40 * 1024 * 1024));
    expect(spawnSync('sgdisk', ['-n', '1:2048:0', disk]).status).toBe(0);
    const fd = openSync(disk, 'r+');
    writeSync(fd, readFileSync(root), 0, undefined, 1024 * 1024);
    closeSync(fd);
    const whole = await withSource(disk, { replay: true }, async (s) => mediumOf(s));
    expect(whole).toMatchObject({ kind: 'image', the: 'the image file supervised-disk.img (not a disk)', system: 'the computer' });
    expect(whole.startIt).toMatch(/^write the image file back onto the disk it came from .*, put that disk back into the computer that runs Home Assistant and start it$/);
    expect(whole.startIt).not.toMatch(/Raspberry Pi Imager|card|box/);
  }, 120_000);

  it('the card itself (a disk device): put back into the box', () => {
    expect(safeModeDone(true, CARD)).toBe('Done, on the card. Next: put the card back into the box and start it; remove or update the integration that broke the start, then restart.');
  });
});

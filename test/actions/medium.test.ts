// What a change was written to, as the window and the guided flow say it: a change to an image file is not on
// any card (they said "Read back from the card" and "put the card back", and owners put back the unchanged
// card); a virtual machine's disk file is started with its machine.

import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SAMPLE, readSampleImage } from '../../fixtures/index.js';
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
    expect(await withSource(qcow2, { replay: true }, async (s) => mediumOf(s))).toEqual({ kind: 'vm-disk', the: "the virtual machine's disk file", startIt: 'start the virtual machine' });
  });

  it('the card itself (a disk device): put back into the box', () => {
    expect(safeModeDone(true, CARD)).toBe('Done, on the card. Next: put the card back into the box and start it; remove or update the integration that broke the start, then restart.');
  });
});

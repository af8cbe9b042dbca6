// Images whose end is missing: an image file cut short (an interrupted copy of the image and its map, a disk
// that filled up) continued by `image` was grown with zeros that its map still called rescued, and read back
// as the card's bytes; a bare filesystem whose last sector was not rescued could not be read at all (the
// place of a backup GPT header was read, and its failure ended the search).

import { readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SAMPLE, readSampleImage } from '../../fixtures/index.js';
import { formatMapfile } from '../../src/device/rescue/mapfile.js';
import { RegionMap } from '../../src/device/rescue/region-map.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('image-cut-short-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const MIB = 1024 * 1024;

describe('an image file cut short', () => {
  it('continued by image: what its map called copied past the cut is copied again, and the image is the card', () => {
    const card = join(work, 'card.img');
    writeFileSync(card, readSampleImage());
    const out = join(work, 'copy.img');
    expect(cli(['image', card, '--out', out]).code).toBe(0);
    truncateSync(out, 6 * MIB);
    const r = cli(['image', card, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.text).toContain('  the image file was cut short at 6 MiB, before bytes its map said were copied: they were copied again\n');
    expect(readFileSync(out).equals(readFileSync(card))).toBe(true);
  });
});

describe('a bare filesystem whose last sector was not rescued', () => {
  it('is read (the place of a backup GPT header is not needed), its files whole', () => {
    const data = readSampleImage().subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes);
    const img = join(work, 'data.img');
    writeFileSync(img, Buffer.concat([data.subarray(0, data.length - 512), Buffer.alloc(512)]));
    const map = new RegionMap(data.length, '+');
    map.set(data.length - 512, 512, '-');
    const now = new Date();
    writeFileSync(`${img}.map`, formatMapfile({ currentPos: 0, currentStatus: '+', currentPass: 1, map }, { commandLine: 'test', startTime: now, currentTime: now, finished: true, version: 'test' }));
    const info = cli(['info', img]);
    expect(info.code, info.stderr).toBe(0);
    expect(info.text).toMatch(/^Partition table: +none \(bare filesystem\)$/m);
    expect(info.text).toMatch(/all but 512 bytes of \d+ MiB rescued/);
    const config = cli(['cat', img, '/supervisor/homeassistant/configuration.yaml']);
    expect(config.code, config.stderr).toBe(0);
    expect(config.text).toMatch(/default_config|homeassistant:/);
  });
});

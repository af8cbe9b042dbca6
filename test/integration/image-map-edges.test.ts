// Images read with their map, at its edges. An image file cut short (an interrupted copy of the image and its
// map, a disk that filled up) continued by `image` was grown with zeros that its map still called rescued,
// and read back as the card's bytes; a bare filesystem whose last sector was not rescued could not be read at
// all (the place of a backup GPT header was read, and its failure ended the search). Written to: a file put on
// a copy read with its map took free blocks the card never gave, was read back as not rescued, and the write
// was said to have failed (exit 65, "do not run the command again") though it was whole. A file not rescued
// removed with copies on, and a backup whose header was not rescued named by its slug, were said misleadingly.

import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SAMPLE, readSampleImage } from '../../fixtures/index.js';
import { formatMapfile, parseMapfile } from '../../src/device/rescue/mapfile.js';
import { RegionMap } from '../../src/device/rescue/region-map.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('image-map-edges-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const MIB = 1024 * 1024;

/** A map of `size` bytes, all rescued but `lost` ([pos, length] pairs). */
function writeMap(path: string, size: number, lost: Array<[number, number]>): void {
  const map = new RegionMap(size, '+');
  for (const [pos, length] of lost) map.set(pos, length, '-');
  const now = new Date();
  writeFileSync(path, formatMapfile({ currentPos: 0, currentStatus: '+', currentPass: 1, map }, { commandLine: 'test', startTime: now, currentTime: now, finished: true, version: 'test' }));
}

/** The sample card at `name` (and its data partition alone beside it, for debugfs and e2fsck). */
function sampleCard(name: string): { img: string; data: string; bytes: Buffer; dataOf: () => string } {
  const img = join(work, name);
  const bytes = readSampleImage();
  writeFileSync(img, bytes);
  const data = `${img}.data`;
  const dataOf = (): string => {
    writeFileSync(data, readFileSync(img).subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes));
    return data;
  };
  dataOf();
  return { img, data, bytes, dataOf };
}

/** The card byte where block 0 of `path` lies. */
function firstBlockAt(data: string, path: string): number {
  return SAMPLE.dataOffsetBytes + 4096 * Number(execFileSync('debugfs', ['-R', `bmap ${path} 0`, data], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
}

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
    writeMap(`${img}.map`, data.length, [[data.length - 512, 512]]);
    const info = cli(['info', img]);
    expect(info.code, info.stderr).toBe(0);
    expect(info.text).toMatch(/^Partition table: +none \(bare filesystem\)$/m);
    expect(info.text).toMatch(/all but 512 bytes of \d+ MiB rescued/);
    const config = cli(['cat', img, '/supervisor/homeassistant/configuration.yaml']);
    expect(config.code, config.stderr).toBe(0);
    expect(config.text).toMatch(/default_config|homeassistant:/);
  });
});

describe('a change written to an image read with its map', () => {
  it('may take free blocks not rescued: they are the image\'s own then, marked rescued in its map (saved, ddrescuelog reads it)', () => {
    const { img, bytes, dataOf } = sampleCard('written.img');
    // The first free blocks of the data filesystem, not rescued.
    const free = Number(/^ {2}Free blocks: (\d+)-/m.exec(execFileSync('dumpe2fs', [dataOf()], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))![1]);
    const lost = { pos: SAMPLE.dataOffsetBytes + free * 4096, size: MIB };
    writeMap(`${img}.map`, bytes.length, [[lost.pos, lost.size]]);
    const local = join(work, 'r300k.bin');
    writeFileSync(local, Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251)));
    const r = cli(['put', img, local, '/supervisor/homeassistant/new.bin', '--no-originals']);
    expect(r.code, r.stderr).toBe(0);
    expect(cli(['cat', img, '/supervisor/homeassistant/new.bin']).stdout.equals(readFileSync(local))).toBe(true);
    // Its blocks are in the part not rescued, now marked rescued; the rest of that part stays as it was.
    const saved = parseMapfile(readFileSync(`${img}.map`, 'latin1'), bytes.length);
    expect(saved.map.all(lost.pos, 300_000, '+')).toBe(true);
    expect(saved.map.totals()['-']).toBeGreaterThan(0);
    expect(saved.map.totals()['-']).toBeLessThan(lost.size - 300_000 + 4096);
    if (spawnSync('ddrescuelog', ['--version']).status === 0) expect(spawnSync('ddrescuelog', ['-t', `${img}.map`]).status).toBe(0);
    expect(spawnSync('e2fsck', ['-fn', dataOf()]).status).toBe(0);
  });
});

describe('rm of a file the image does not hold (not rescued)', () => {
  it('says its copy cannot be made from the card, not that this computer\'s folder failed; --no-originals goes on', () => {
    const { img, data, bytes } = sampleCard('rm-lost.img');
    const FILE = '/supervisor/homeassistant/automations.yaml';
    writeMap(`${img}.map`, bytes.length, [[firstBlockAt(data, FILE), 4096]]);
    const before = readFileSync(img);
    const r = cli(['rm', img, FILE, '--originals', join(work, 'rm-lost-originals'), '--verbose']);
    expect(r.code, r.stderr).toBe(65);
    expect(r.stderr).toMatch(/^error: cannot save the original files: the card could not give their bytes \(bytes \d+-\d+ of .* were not rescued from the card\)$/m);
    expect(r.stderr).toMatch(/^hint: what the card cannot give is lost either way: leave the copies out to go on; nothing was written to the card/m);
    expect(r.stderr).toMatch(/--no-originals/);
    expect(readFileSync(img).equals(before)).toBe(true);
    expect(cli(['rm', img, FILE, '--no-originals']).code).toBe(0);
    expect(cli(['ls', img, '/supervisor/homeassistant']).text).not.toMatch(/automations\.yaml/);
  });
});

describe('a backup whose header was not rescued', () => {
  it('named by its slug: said not found with the backup files whose slug could not be read, to name by file', () => {
    const { img, data, bytes } = sampleCard('backup-lost.img');
    writeMap(`${img}.map`, bytes.length, [[firstBlockAt(data, '/supervisor/backup/backup_example.tar'), 512]]);
    const r = cli(['backup', 'ls', img, '7fed74c8']);
    expect(r.code).toBe(66);
    expect(r.stderr).toMatch(/^hint: slugs on the card: [0-9a-f]{8}, [0-9a-f]{8}; the slug of one backup file could not be read \(backup_example\.tar\): name it by its file name/m);
  });
});

// What cannot be read was said as "bytes 16236544-16240639 of image X were not rescued from the card", naming
// no file: an owner could not tell the login file from a photo. The file or folder is named first now.
describe('a file or folder whose bytes were not rescued', () => {
  it('cat, ls, auth list and info name it, keeping exit 65 and the hint', () => {
    const { img, data, bytes } = sampleCard('named.img');
    const STORAGE = '/supervisor/homeassistant/.storage';
    const AUTOMATIONS = '/supervisor/homeassistant/automations.yaml';
    writeMap(`${img}.map`, bytes.length, [[firstBlockAt(data, STORAGE), 4096], [firstBlockAt(data, AUTOMATIONS), 4096]]);
    const cat = cli(['cat', img, AUTOMATIONS]);
    expect(cat.code).toBe(65);
    expect(cat.stderr).toMatch(new RegExp(`^error: ${AUTOMATIONS} cannot be read: bytes \\d+-\\d+ of image \\S+ were not rescued from the card$`, 'm'));
    expect(cat.stderr).toMatch(/^hint: that part of the card was not copied into the image/m);
    const ls = cli(['ls', img, STORAGE]);
    expect(ls.code).toBe(65);
    expect(ls.stderr).toMatch(new RegExp(`^error: ${STORAGE} cannot be read: bytes`, 'm'));
    const auth = cli(['auth', 'list', img]);
    expect(auth.code).toBe(65);
    expect(auth.stderr).toMatch(new RegExp(`^error: ${STORAGE}/auth\\S* cannot be read: bytes`, 'm'));
    const info = cli(['info', img]);
    expect(info.stderr).toMatch(new RegExp(`^warning: ${STORAGE}/auth cannot be read: bytes \\d+-\\d+ of image \\S+ were not rescued from the card$`, 'm'));
  });
});

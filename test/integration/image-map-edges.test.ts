// Images read with their map, at its edges. An image file cut short (an interrupted copy of the image and its
// map, a disk that filled up) continued by `image` was grown with zeros that its map still called rescued,
// and read back as the card's bytes; a bare filesystem whose last sector was not rescued could not be read at
// all (the place of a backup GPT header was read, and its failure ended the search). Written to: a file put on
// a copy read with its map took free blocks the card never gave, was read back as not rescued, and the write
// was said to have failed (exit 65, "do not run the command again") though it was whole. A file not rescued
// removed with copies on, and a backup whose header was not rescued named by its slug, were said misleadingly.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
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
const statSize = (path: string): number => statSync(path).size;

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

describe('an image of a card copied again with image (to another disk)', () => {
  it('its map beside it is read: what it never rescued stays unreadable in the copy\'s map (it was copied as zeros and called rescued)', () => {
    const { img, data } = sampleCard('first.img');
    const lostAt = firstBlockAt(data, '/supervisor/homeassistant/configuration.yaml');
    writeMap(`${img}.map`, SAMPLE.imageBytes, [[lostAt, 4096]]);
    const copy = join(work, 'second.img');
    const r = cli(['image', img, '--out', copy, '--files-hit']);
    expect(r.code, r.stderr).toBe(65);
    expect(r.text).toMatch(/^ +\/supervisor\/homeassistant\/configuration\.yaml: \d+ byte\(s\) of its blocks were not rescued$/m);
    expect(r.stderr).toMatch(/^warning: \S+first\.img was read with its rescue map \S+first\.img\.map: what that map says was never rescued/m);
    expect(r.stderr).toMatch(/^error: 4 KiB of the card are not in \S+first\.img \(its map says so\) and could not be copied$/m);
    const map = parseMapfile(readFileSync(`${copy}.map`, 'utf8'), SAMPLE.imageBytes).map;
    expect(map.totals()['-']).toBe(4096);
    expect(map.statusAt(lostAt)).toBe('-');
    const read = cli(['cat', copy, '/supervisor/homeassistant/configuration.yaml']);
    expect(read.code).toBe(65);
    expect(read.stderr).toMatch(/were not rescued from the card/);
  });
});

describe('image continued with the map of a larger disk', () => {
  it('the map is named in the error (its line alone was said), and nothing is written', () => {
    const card = join(work, 'small-card.img');
    writeFileSync(card, readSampleImage());
    const out = join(work, 'other.img');
    writeFileSync(out, Buffer.alloc(1024));
    writeMap(`${out}.map`, SAMPLE.imageBytes * 2, []);
    const before = readFileSync(`${out}.map`);
    const r = cli(['image', card, '--out', out]);
    expect(r.code, r.stderr).toBe(65);
    expect(r.stderr).toMatch(/^error: the map \S+other\.img\.map cannot be continued: mapfile line \d+: block 0x0+ \+ 0x\w+ ends past the end of the device \(33554432 bytes\)/m);
    expect(readFileSync(`${out}.map`).equals(before)).toBe(true);
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

// One block not rescued inside a backup's archive: the archive was read in 1 MiB pieces, and the piece with
// the bad block cost every file before it ("0 files ... the files before the damage were written"); an
// unreadable header of a later archive cost the whole backup, the whole archives before it included.
describe('a backup with one block not rescued', () => {
  const stage = join(work, 'salvage-stage');
  const backup = join(stage, 'supervisor', 'backup', 'big.tar');
  const files = join(work, 'salvage-files');
  const py = `
import io, json, gzip, os, random, sys, tarfile
rnd = random.Random(7)
files = sys.argv[2]
os.makedirs(files, exist_ok=True)
b = io.BytesIO()
with tarfile.open(fileobj=b, mode="w", format=tarfile.PAX_FORMAT) as t:
    for k in range(40):
        d = rnd.randbytes(16384)
        open(os.path.join(files, "f%02d.bin" % k), "wb").write(d)
        i = tarfile.TarInfo("data/f%02d.bin" % k); i.size = len(d); i.mtime = 1700000000; t.addfile(i, io.BytesIO(d))
inner = gzip.compress(b.getvalue(), 1)
small = io.BytesIO()
with tarfile.open(fileobj=small, mode="w") as t:
    i = tarfile.TarInfo("notes.txt"); i.size = 3; t.addfile(i, io.BytesIO(b"hi\\n"))
meta = {"slug": "5a1a5a1a", "version": 2, "name": "big", "date": "2025-06-01T12:00:00+00:00", "type": "partial", "supervisor_version": "2026.03.1", "extra": {},
        "homeassistant": {"version": "2025.5.3", "exclude_database": False, "size": 0.0}, "compressed": True, "protected": False, "folders": ["share"], "addons": [], "repositories": []}
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    for n, d in [("homeassistant.tar.gz", inner), ("share.tar.gz", gzip.compress(small.getvalue())), ("./backup.json", json.dumps(meta).encode())]:
        i = tarfile.TarInfo(n); i.size = len(d); t.addfile(i, io.BytesIO(d))
`;
  const card = join(work, 'salvage.img');
  const setUp = (): { start: number; members: Array<{ name: string; offset: number; size: number }> } => {
    mkdirSync(join(stage, 'supervisor', 'homeassistant'), { recursive: true });
    mkdirSync(join(stage, 'supervisor', 'backup'), { recursive: true });
    execFileSync('python3', ['-c', py, backup, files]);
    execFileSync('mkfs.ext4', ['-q', '-F', '-L', 'hassos-data', '-b', '4096', '-d', stage, card, '16M'], { stdio: 'ignore' });
    const start = 4096 * Number(execFileSync('debugfs', ['-R', 'bmap /supervisor/backup/big.tar 0', card], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    const listing = execFileSync('python3', ['-c', 'import sys,tarfile,json;print(json.dumps([{"name":m.name,"offset":m.offset_data,"size":m.size} for m in tarfile.open(sys.argv[1])]))', backup], { encoding: 'utf8' });
    return { start, members: JSON.parse(listing) };
  };

  it('extract writes the files before the bad block and keeps the one it cuts as .damaged', () => {
    const { start, members } = setUp();
    const ha = members.find((m) => m.name === 'homeassistant.tar.gz')!;
    const bad = Math.floor((start + ha.offset + ha.size * 0.75) / 4096) * 4096;
    writeMap(`${card}.map`, statSize(card), [[bad, 4096]]);
    const out = join(work, 'salvage-out');
    const r = cli(['backup', 'extract', card, '--slug', '5a1a5a1a', '--decrypt', '--out', out]);
    expect(r.code, r.stderr).toBe(65);
    const cut = /damaged: homeassistant\/data\/(f\d\d\.bin) \([\d.]+ KiB kept as \.damaged\)/.exec(r.text);
    expect(cut, r.text).not.toBeNull();
    const kept = readFileSync(join(out, 'homeassistant', 'data', `${cut![1]}.damaged`));
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.equals(readFileSync(join(files, cut![1]!)).subarray(0, kept.length))).toBe(true);
    const written = readdirSync(join(out, 'homeassistant', 'data')).filter((n) => n.endsWith('.bin'));
    // Each 16 KiB file of random bytes takes 16 KiB of the archive: about three quarters lie before the block.
    expect(written.length).toBeGreaterThanOrEqual(25);
    for (const n of written) expect(readFileSync(join(out, 'homeassistant', 'data', n)).equals(readFileSync(join(files, n))), n).toBe(true);
    expect(readFileSync(join(out, 'share', 'notes.txt'), 'utf8')).toBe('hi\n');
    // cat gives the bytes before the block, then the error (the 1 MiB piece holding it gave none).
    const c = cli(['cat', card, '/supervisor/backup/big.tar']);
    expect(c.code).toBe(65);
    expect(c.stdout.equals(readFileSync(backup).subarray(0, bad - start))).toBe(true);
  });

  it('a later archive whose header is unreadable: the archives before it are still extracted', () => {
    const { start, members } = setUp();
    const share = members.find((m) => m.name === 'share.tar.gz')!;
    writeMap(`${card}.map`, statSize(card), [[Math.floor((start + share.offset - 512) / 4096) * 4096, 4096]]);
    const out = join(work, 'salvage-header-out');
    const r = cli(['backup', 'extract', card, '--slug', 'big.tar', '--decrypt', '--out', out]);
    expect(r.code, r.stderr).toBe(65);
    expect(readdirSync(join(out, 'homeassistant', 'data')).filter((n) => n.endsWith('.bin'))).toHaveLength(40);
    expect(r.text + r.stderr).toMatch(/the archives before the damage were read/);
  });
});

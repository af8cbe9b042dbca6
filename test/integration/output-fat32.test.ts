// Copying to a USB stick formatted FAT32 (as most come): it holds files of at most 4 GiB - 1 byte. A card
// image, a history database or a backup bigger than that is refused or left out before a byte of it is
// read (on a failing card, 4 GiB read for nothing may be the card's last), and the rest is copied. The
// stick is a real FAT32 file system, mounted by fusefat (the kernel here has no vfat). Needs root,
// /dev/fuse and fusefat (.ci/run installs it); skipped with the reason otherwise.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE, readSampleImage } from '../../fixtures/index.js';
import { cli, cliJson } from '../helpers/cli.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('output-fat32-');
const stick = join(work, 'stick');
let mounted = false;

function setUp(): string | null {
  if (process.getuid?.() !== 0) return 'needs root';
  for (const tool of ['fusefat', 'mkfs.vfat', 'fusermount']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
  }
  if (!existsSync('/dev/fuse')) return 'no /dev/fuse';
  const img = join(work, 'stick.img');
  execFileSync('truncate', ['-s', '64M', img]);
  execFileSync('mkfs.vfat', ['-F', '32', img], { stdio: 'ignore' });
  mkdirSync(stick);
  const m = spawnSync('fusefat', ['-o', 'rw+', img, stick], { encoding: 'utf8' });
  if (m.status !== 0) return `fusefat failed: ${m.stderr.trim()}`;
  mounted = true;
  return null;
}

const skip = setUp();
afterAll(() => {
  if (mounted) spawnSync('fusermount', ['-u', stick]);
  rmSync(work, { recursive: true, force: true });
});

const GiB = 1024 ** 3;
const debugfs = (img: string, request: string): void => void execFileSync('debugfs', ['-w', '-R', request, img], { stdio: 'ignore' });

/** The sample's data partition with a 4.25 GiB history database and a 4.5 GiB backup (both sparse: holes). */
function card(): string {
  const data = join(work, 'data.img');
  writeFileSync(data, readSampleImage().subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes));
  const big = join(work, 'big');
  execFileSync('debugfs', ['-R', 'dump /supervisor/backup/backup_example.tar ' + big, data], { stdio: 'ignore' });
  execFileSync('truncate', ['-s', String(4.5 * GiB), big]); // a tar may end in any number of zero blocks
  debugfs(data, `write ${big} /supervisor/backup/big.tar`);
  execFileSync('truncate', ['-s', '0', big]);
  execFileSync('truncate', ['-s', String(4.25 * GiB), big]);
  debugfs(data, 'rm /supervisor/homeassistant/home-assistant_v2.db');
  debugfs(data, `write ${big} /supervisor/homeassistant/home-assistant_v2.db`);
  // A file that ends in a hole: fusefat cannot set a size (ftruncate: EPERM), so its zeros are written.
  writeFileSync(big, 'the first bytes\n');
  execFileSync('truncate', ['-s', String(3 * 1024 * 1024), big]);
  debugfs(data, `write ${big} /supervisor/homeassistant/tail-hole.bin`);
  rmSync(big);
  return data;
}

describe.skipIf(skip !== null)(`output on a FAT32 stick${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let data = '';
  beforeAll(() => {
    data = card();
  });

  it('export: the 4.25 GiB database is listed as not copied, everything else is; exit 77 with what to do', () => {
    const out = join(stick, 'config');
    const r = cli(['export', data, '--out', out]);
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toMatch(/^error: 1 file\(s\) were not copied: bigger than the disk of --out holds in one file$/m);
    expect(r.stderr).toMatch(/^hint: everything else was exported; for those, choose a folder on a disk formatted NTFS, exFAT, APFS or ext4/m);
    expect(r.text.toString()).toMatch(/home-assistant_v2\.db: it is 4\.\d+ GiB; this folder is on a FAT32 disk, which holds files of at most 4 GiB/);
    expect(readdirSync(out)).not.toContain('home-assistant_v2.db');
    for (const name of ['configuration.yaml', 'home-assistant_v2.db-wal', 'tail-hole.bin']) {
      const bytes = execFileSync('debugfs', ['-R', `cat /supervisor/homeassistant/${name}`, data], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 26 });
      expect(readFileSync(join(out, name)).equals(bytes), name).toBe(true);
    }
  });

  it('backup extract: the 4.5 GiB backup is not read, the others are copied; exit 77', () => {
    const out = join(stick, 'backups');
    const r = cli(['backup', 'extract', data, '--out', out]);
    expect(r.code, r.stderr).toBe(77);
    expect(r.text.toString()).toMatch(/could not copy \/supervisor\/backup\/big\.tar: it is 4\.5 GiB; \S+ is on a FAT32 disk, which holds files of at most 4 GiB: not copied/);
    expect(r.stderr).toMatch(/^error: 1 backup\(s\) were not copied: bigger than the disk of --out holds in one file$/m);
    expect(readdirSync(out).sort()).toEqual(['backup_example.tar', 'backup_example_enc.tar', 'backup_example_sec_v3.tar']);
    const j = cliJson<{ failed: Array<{ path: string; tooBig?: boolean }> }>(['backup', 'extract', data, '--out', join(stick, 'again'), '--slug', '93b462f8']);
    expect(j.failed).toEqual([]);
  });

  it('image: a card over 4 GiB is refused before anything is read or created', () => {
    const source = join(work, 'card-5g.img');
    writeFileSync(source, readSampleImage());
    execFileSync('truncate', ['-s', String(5 * GiB), source]);
    const r = cli(['image', source, '--out', join(stick, 'card.img')]);
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toMatch(/^error: the image of this card is 5 GiB; \S+card\.img is on a FAT32 disk, which holds files of at most 4 GiB$/m);
    expect(r.stderr).toMatch(/nothing was read from the card$/m);
    expect(readdirSync(stick).filter((n) => n.startsWith('card'))).toEqual([]);
  });
});

// A card pulled while the box's kernel was shortening a file (the recorder's database, say) keeps that file
// on the orphan list: the superblock names the newest (s_last_orphan), each inode's dtime the next, and the
// kernel finishes them at its next mount. Removing such a file must take it off the list, as the kernel's
// ext4_orphan_del does: before, `rm` freed the inode and left the list naming it, and the next mount logged
// "EXT4-fs error: bad orphan inode" and marked the filesystem as having errors. With orphan_file the entry
// is a slot of a special file: it is cleared and the block's checksum made again, as ext4_orphan_file_del does.

import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SAMPLE, readSampleImage } from '../../fixtures/index.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/images.js';
import { kernelCanMount, withKernelMount } from '../helpers/kernel.js';
import { crc32cUpdate } from '../../src/ext4/checksum.js';

const work = tempDir('orphan-list-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const P = '/supervisor/homeassistant';
const DB = `${P}/home-assistant_v2.db`;

const debugfs = (img: string, request: string, write = false): string =>
  execFileSync('debugfs', [...(write ? ['-w'] : []), '-R', request, img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
const inodeOf = (img: string, path: string): number => Number(/Inode:\s+(\d+)/.exec(debugfs(img, `stat ${path}`))![1]);
const dtimeOf = (img: string, ino: number): number => Number(/dtime:\s*0x([0-9a-f]+)/i.exec(debugfs(img, `stat <${ino}>`))?.[1] ?? '0');
const lastOrphan = (img: string): number => Number(/First orphan inode:\s+(\d+)/.exec(execFileSync('dumpe2fs', ['-h', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))?.[1] ?? 0);

function sample(name: string): string {
  const img = join(work, `${name}.img`);
  writeFileSync(img, readSampleImage().subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes));
  return img;
}

describe('rm of a file on the orphan list', () => {
  it('the newest orphan: the superblock then names the next one (none)', () => {
    const img = sample('head');
    const db = inodeOf(img, DB);
    debugfs(img, `ssv last_orphan ${db}`, true);
    expect(lastOrphan(img)).toBe(db);
    const r = cli(['rm', img, DB, '--yes', '--no-originals']);
    expect(r.code, r.stderr).toBe(0);
    expect(lastOrphan(img)).toBe(0);
    expect(spawnSync('e2fsck', ['-fn', img]).status).toBe(0);
  });

  // The kernel as the oracle: it works through the orphan list at mount and records an error in the
  // superblock ("bad orphan inode", EFSCORRUPTED) for an entry that is no longer in use.
  it.skipIf(!kernelCanMount())('the kernel mounts the card afterwards without recording an error', () => {
    const img = sample('kernel');
    const db = inodeOf(img, DB);
    debugfs(img, `ssv last_orphan ${db}`, true);
    expect(cli(['rm', img, DB, '--yes', '--no-originals']).code).toBe(0);
    withKernelMount(img, (dir) => expect(readFileSync(join(dir, 'supervisor/homeassistant/configuration.yaml')).length).toBeGreaterThan(0));
    const header = execFileSync('dumpe2fs', ['-h', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(header).toMatch(/^Filesystem state:\s+clean$/m);
    expect(header).not.toMatch(/FS Error count/);
  });

  it('further down the list: the orphan before it then points past it', () => {
    const img = sample('middle');
    const [config, db] = [inodeOf(img, `${P}/configuration.yaml`), inodeOf(img, DB)];
    debugfs(img, `ssv last_orphan ${config}`, true);
    debugfs(img, `sif <${config}> dtime ${db}`, true);
    const r = cli(['rm', img, DB, '--yes', '--no-originals']);
    expect(r.code, r.stderr).toBe(0);
    expect(lastOrphan(img)).toBe(config);
    expect(dtimeOf(img, config)).toBe(0);
    expect(spawnSync('e2fsck', ['-fn', img]).status).toBe(0);
  });

  it('the orphan before it damaged (its checksum wrong): refused rather than sealed, exit 65, nothing written', () => {
    const img = sample('damaged-prev');
    const [config, db] = [inodeOf(img, `${P}/configuration.yaml`), inodeOf(img, DB)];
    debugfs(img, `ssv last_orphan ${config}`, true);
    debugfs(img, `sif <${config}> dtime ${db}`, true);
    debugfs(img, `sif <${config}> checksum 0x1234`, true);
    const before = readFileSync(img);
    const r = cli(['rm', img, DB, '--yes', '--no-originals', '--verbose']);
    expect(r.code, r.stderr).toBe(65);
    expect(r.stderr).toMatch(new RegExp(`inode ${config} is damaged: its checksum does not match its contents`));
    expect(readFileSync(img).equals(before)).toBe(true);
  });

  it('two files of the list removed at once (one transaction): both leave it', () => {
    const img = sample('both');
    const [config, db] = [inodeOf(img, `${P}/configuration.yaml`), inodeOf(img, DB)];
    debugfs(img, `ssv last_orphan ${db}`, true);
    debugfs(img, `sif <${db}> dtime ${config}`, true);
    const r = cli(['rm', img, DB, `${P}/configuration.yaml`, '--yes', '--no-originals']);
    expect(r.code, r.stderr).toBe(0);
    expect(lastOrphan(img)).toBe(0);
    expect(spawnSync('e2fsck', ['-fn', img]).status).toBe(0);
  });

  // orphan_file (mke2fs 1.47; cards reformatted by recent HAOS): the entry is a slot of a block of a special
  // file, each block ending in a magic number and a checksum over the file's inode number and generation,
  // the block's number and its slots. The test writes the entry as the kernel's ext4_orphan_file_add leaves
  // it, with the checksum computed here from that definition; the kernel then mounts the card (it refuses an
  // orphan file block whose checksum is wrong) and finishes the orphan, and e2fsck reads it too.
  function orphanFileCard(name: string, sealed: boolean, slots = [40]): { img: string; db: number; block: number } {
    const img = join(work, `${name}.img`);
    const stage = join(work, `stage-${name}`);
    rmSync(stage, { recursive: true, force: true });
    execFileSync('mkdir', ['-p', join(stage, 'supervisor/homeassistant')]);
    writeFileSync(join(stage, 'supervisor/homeassistant/home-assistant_v2.db'), Buffer.alloc(64 * 1024, 3));
    writeFileSync(join(stage, 'supervisor/homeassistant/configuration.yaml'), 'default_config:\n');
    execFileSync('mkfs.ext4', ['-q', '-F', '-b', '4096', '-L', 'hassos-data', '-O', 'orphan_file', '-d', stage, img, '64M']);
    const db = inodeOf(img, DB);
    const stats = debugfs(img, 'stats');
    const orphanFile = Number(/Orphan file inode:\s+(\d+)/.exec(stats)![1]);
    const uuid = Buffer.from(/Filesystem UUID:\s+(\S+)/.exec(stats)![1]!.replace(/-/g, ''), 'hex');
    const generation = Number(/Generation:\s+(\d+)/.exec(debugfs(img, `stat <${orphanFile}>`))![1]);
    const block = Number(debugfs(img, `bmap <${orphanFile}> 1`).trim());
    const bytes = readFileSync(img);
    const raw = bytes.subarray(block * 4096, (block + 1) * 4096);
    expect(raw.readUInt32LE(4088), 'the orphan block magic').toBe(0x0b10ca04);
    for (const at of slots) raw.writeUInt32LE(db, at);
    if (sealed) {
      const le = (n: number, size: number): Buffer => {
        const b = Buffer.alloc(size);
        b.writeUIntLE(n, 0, Math.min(size, 6));
        return b;
      };
      let crc = crc32cUpdate(0xffffffff, uuid);
      for (const part of [le(orphanFile, 4), le(generation, 4), le(block, 8)]) crc = crc32cUpdate(crc, part);
      raw.writeUInt32LE(crc32cUpdate(crc, raw, 0, 4088) >>> 0, 4092);
    }
    writeFileSync(img, bytes);
    debugfs(img, 'feature orphan_present', true);
    return { img, db, block };
  }

  it.skipIf(!kernelCanMount())('the orphan file as the test writes it is one the kernel accepts and finishes (the fixture\'s own oracle)', () => {
    const { img } = orphanFileCard('orphan-file-kernel', true);
    withKernelMount(img, (dir) => expect(readFileSync(join(dir, 'supervisor/homeassistant/configuration.yaml'), 'utf8')).toBe('default_config:\n'));
    const header = execFileSync('dumpe2fs', ['-h', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(header).not.toMatch(/FS Error count/);
  });

  it('an entry of the orphan file (orphan_file): its slot cleared and the block\'s checksum made again; e2fsck clean', () => {
    const { img, block } = orphanFileCard('orphan-file', true);
    const r = cli(['rm', img, DB, '--yes', '--no-originals']);
    expect(r.code, r.stderr).toBe(0);
    const raw = readFileSync(img).subarray(block * 4096, (block + 1) * 4096);
    expect(raw.subarray(0, 4088).every((b) => b === 0), 'every slot of the block is empty').toBe(true);
    expect(raw.readUInt32LE(4088)).toBe(0x0b10ca04);
    const fsck = spawnSync('e2fsck', ['-fn', img], { encoding: 'utf8' });
    expect(fsck.status, fsck.stdout).toBe(0);
    expect(execFileSync('dumpe2fs', ['-h', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })).not.toMatch(/orphan_present/);
  });

  it.skipIf(!kernelCanMount())('after the removal the kernel mounts the card (orphan file) without recording an error', () => {
    const { img } = orphanFileCard('orphan-file-after', true);
    expect(cli(['rm', img, DB, '--yes', '--no-originals']).code).toBe(0);
    withKernelMount(img, (dir) => expect(readFileSync(join(dir, 'supervisor/homeassistant/configuration.yaml'), 'utf8')).toBe('default_config:\n'));
    const header = execFileSync('dumpe2fs', ['-h', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(header).toMatch(/^Filesystem state:\s+clean$/m);
    expect(header).not.toMatch(/FS Error count/);
    expect(spawnSync('e2fsck', ['-fn', img]).status).toBe(0);
  });

  it('the inode listed in every slot of a block (a crafted orphan file): each slot cleared, in one pass', () => {
    const every = Array.from({ length: (4096 - 8) / 4 }, (_, i) => i * 4);
    const { img, block } = orphanFileCard('orphan-file-every', true, every);
    const r = cli(['rm', img, DB, '--yes', '--no-originals']);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(img).subarray(block * 4096, block * 4096 + 4088).every((b) => b === 0)).toBe(true);
    expect(spawnSync('e2fsck', ['-fn', img]).status).toBe(0);
  });

  it('an orphan file block that does not match its checksum: refused, exit 65, nothing written', () => {
    const { img } = orphanFileCard('orphan-file-damaged', false);
    const before = readFileSync(img);
    const r = cli(['rm', img, DB, '--yes', '--no-originals', '--verbose']);
    expect(r.code, r.stderr).toBe(65);
    expect(r.stderr).toMatch(/code: ORPHAN_FILE_DAMAGED/);
    expect(r.stderr).toMatch(/the orphan file \(inode \d+\) is damaged: its block \d+ does not match its checksum; the kernel does not mount the card either/);
    expect(readFileSync(img).equals(before)).toBe(true);
  });
});

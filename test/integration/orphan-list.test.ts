// A card pulled while the box's kernel was shortening a file (the recorder's database, say) keeps that file
// on the orphan list: the superblock names the newest (s_last_orphan), each inode's dtime the next, and the
// kernel finishes them at its next mount. Removing such a file must take it off the list, as the kernel's
// ext4_orphan_del does: before, `rm` freed the inode and left the list naming it, and the next mount logged
// "EXT4-fs error: bad orphan inode" and marked the filesystem as having errors. With orphan_file the entry
// is in a file of its own, which this tool does not edit: such a removal is refused.

import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SAMPLE, readSampleImage } from '../../fixtures/index.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/images.js';
import { kernelCanMount, withKernelMount } from '../helpers/kernel.js';

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

  it('an entry of the orphan file (orphan_file): refused, exit 77, nothing written', () => {
    const img = join(work, 'orphan-file.img');
    const stage = join(work, 'stage');
    rmSync(stage, { recursive: true, force: true });
    execFileSync('mkdir', ['-p', join(stage, 'supervisor/homeassistant')]);
    writeFileSync(join(stage, 'supervisor/homeassistant/home-assistant_v2.db'), Buffer.alloc(64 * 1024, 3));
    execFileSync('mkfs.ext4', ['-q', '-F', '-b', '4096', '-L', 'hassos-data', '-O', 'orphan_file', '-d', stage, img, '64M']);
    const db = inodeOf(img, DB);
    const orphanFile = Number(/Orphan file inode:\s+(\d+)/.exec(debugfs(img, 'stats'))![1]);
    const block = Number(debugfs(img, `bmap <${orphanFile}> 0`).trim());
    const bytes = readFileSync(img);
    bytes.writeUInt32LE(db, block * 4096);
    writeFileSync(img, bytes);
    debugfs(img, 'feature orphan_present', true);
    const before = readFileSync(img);
    const r = cli(['rm', img, DB, '--yes', '--no-originals', '--verbose']);
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toMatch(/code: ORPHAN_IN_USE/);
    expect(r.stderr).toMatch(/hint: start the box once \(it finishes that\), or run e2fsck on a copy of the card; nothing was written/);
    expect(readFileSync(img).equals(before)).toBe(true);
  });
});

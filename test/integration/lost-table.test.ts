// A card whose partition table was erased or replaced while the data filesystem, hundreds of MiB in, was left
// as it was: what the real tools do to a card (sgdisk --zap-all as `diskpart clean`; a new empty GPT as
// Windows' "Initialize disk"; a new MBR with one FAT partition made by mkfs.vfat as SD Card Formatter or a
// quick format). The data is found by searching the disk, said so, and read exactly as on the card before
// (users, backups, the configuration byte for byte); a write is refused (the card cannot start a box as it
// is) unless the offset is named, and then lands e2fsck-clean. A disk with no data anywhere is still "not found".

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SAMPLE, readSampleImage } from '../../fixtures/index.js';
import { assertCardClean, cardPasswordIs } from '../helpers/card.js';
import { cli, cliJson } from '../helpers/cli.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('lost-table-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');
const run = (cmd: string, args: string[], input?: string): void => {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
};
const original = join(work, 'card.img');
writeFileSync(original, readSampleImage());
const dataBytes = (image: string): Buffer => readFileSync(image).subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes);

const DAMAGE: Array<[string, (image: string) => void]> = [
  ['the partition tables erased (sgdisk --zap-all, as diskpart clean)', (img) => run('sgdisk', ['--zap-all', img])],
  ['a new empty GPT (as "Initialize disk")', (img) => run('sgdisk', ['-o', img])],
  ['a new MBR with one FAT partition over the whole card, formatted (as SD Card Formatter)', (img) => {
    run('sgdisk', ['--zap-all', img]);
    run('sfdisk', ['-q', img], 'label: dos\nstart=2048, type=c\n');
    run('mkfs.vfat', ['--offset', '2048', img]);
  }],
  ['the hassos-data entry moved 1 MiB on (sgdisk -d 8 -n 8:24576:0)', (img) => {
    run('sgdisk', ['-d', '8', img]);
    run('sgdisk', ['-n', '8:24576:0', '-c', '8:hassos-data', img]);
  }],
];

let exports = 0;
/** What a user sees of a card: users, backups, and the configuration exported as a tar (listed). */
function readings(image: string) {
  const users = cliJson<unknown>(['auth', 'list', image]);
  const backups = cliJson<unknown>(['backup', 'list', image]);
  const out = join(work, `export-${++exports}.tar`);
  const exported = cli(['export', image, '--out', out]);
  expect(exported.code, exported.stderr).toBe(0);
  const listing = spawnSync('tar', ['-tvf', out], { encoding: 'utf8' }).stdout;
  const contents = createHash('sha256');
  for (const name of spawnSync('tar', ['-tf', out], { encoding: 'utf8' }).stdout.split('\n').filter((n) => n && !n.endsWith('/'))) {
    // maxBuffer: the recorder's -wal is over spawnSync's 1 MiB default, and a cut-off read varies with load.
    contents.update(name).update(spawnSync('tar', ['-xOf', out, name], { maxBuffer: 1 << 28 }).stdout);
  }
  return { users, backups, listing, contents: contents.digest('hex') };
}

describe('a card whose partition table was erased or replaced', () => {
  const before = readings(original);

  it.each(DAMAGE)('%s: found by searching, said so, read as before', (name, damage) => {
    const image = join(work, 'damaged.img');
    writeFileSync(image, readSampleImage());
    damage(image);
    // The premise: the tool changed the start of the card, not the data filesystem.
    expect(dataBytes(image).equals(dataBytes(original))).toBe(true);
    const info = cliJson<{ data: { offset: number; foundBySearch: boolean }; warnings: string[] }>(['info', image]);
    expect(info.data).toMatchObject({ offset: SAMPLE.dataOffsetBytes, foundBySearch: true });
    expect(info.warnings.join('\n')).toMatch(/no partition lists the Home Assistant data: it was found by searching the disk, at byte 11534336/);
    expect(readings(image)).toEqual(before);
    const plain = cli(['info', image]);
    expect(plain.stderr).toMatch(/warning: no partition lists the Home Assistant data/);
    // A table that still names hassos-data is not said as erased: the entry is what changed.
    if (name.includes('moved')) expect(plain.stderr).toMatch(/Partition 8 is named hassos-data but starts at byte 12582912, 1 MiB after the filesystem: its entry in the partition table was changed/);
    else expect(plain.stderr).not.toMatch(/named hassos-data/);
  });

  it('a write is refused and changes nothing; with the offset named it is made, e2fsck-clean', () => {
    const image = join(work, 'write.img');
    writeFileSync(image, readSampleImage());
    run('sgdisk', ['--zap-all', image]);
    const unchanged = sha(image);
    const refused = cli(['auth', 'reset', image, '--username', 'vm-user', '--password', 'Correct-Horse-9', '--yes']);
    expect(refused.code).toBe(77);
    expect(refused.stderr).toMatch(/error: no partition lists the data filesystem .*does not start a Home Assistant box/);
    expect(refused.stderr).toMatch(/name the filesystem's byte offset, 11534336; nothing was written \(add --offset BYTES\)/);
    expect(sha(image)).toBe(unchanged);
    const named = cli(['auth', 'reset', image, '--offset', String(SAMPLE.dataOffsetBytes), '--username', 'vm-user', '--password', 'Correct-Horse-9', '--yes']);
    expect(named.code, named.stderr).toBe(0);
    assertCardClean(image);
    expect(cardPasswordIs(image, 'vm-user', 'Correct-Horse-9')).toBe(true);
  });

  it('the table intact but the data partition zeroed: said so (DATA_PARTITION_EMPTY), with the way on', () => {
    const image = join(work, 'zeroed.img');
    const bytes = readSampleImage();
    bytes.fill(0, SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes);
    writeFileSync(image, bytes);
    const r = cli(['info', image]);
    expect(r.code).toBe(66);
    expect(r.stderr).toMatch(/error: partition 8 \(hassos-data\) of image .*zeroed\.img is Home Assistant's data partition, but it holds no ext4 filesystem any more: it was overwritten or formatted\nhint: .*copy the card to an image file/);
  });

  it('a formatted disk with no data filesystem anywhere is still DATA_NOT_FOUND', () => {
    const image = join(work, 'blank.img');
    writeFileSync(image, Buffer.alloc(40 * 1024 * 1024));
    run('sfdisk', ['-q', image], 'label: dos\nstart=2048, type=c\n');
    run('mkfs.vfat', ['--offset', '2048', image]);
    const r = cli(['info', image]);
    expect(r.code).toBe(66);
    expect(r.stderr).toMatch(/no Home Assistant data filesystem found/);
  });
});

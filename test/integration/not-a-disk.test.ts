// A source that is not a disk image: the sample card packed by the real tools (xz, gzip, zstd, bzip2, zip), a
// Home Assistant backup file, an empty file, one partition given instead of the disk (the sample's boot
// partition; squashfs, EROFS, FAT, exFAT as their tools make them). Each is said plainly, with what to do
// (unpack it and the exact command, `backup ls` on the backup, the whole disk's name), exit 66, and the file
// is left as it was; a text file still gets the general "nothing found" answer.

import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SAMPLE, readSampleImage } from '../../fixtures/index.js';
import { cli } from '../helpers/cli.js';
import { HA_CORPUS, hasCorpora } from '../helpers/corpus.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('not-a-disk-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const sample = join(work, 'card.img');
writeFileSync(sample, readSampleImage());

const PACKERS: Array<{ tool: string; args: (file: string) => string[]; out: string; what: RegExp; unpack: string }> = [
  { tool: 'xz', args: (f) => ['-k', '-1', '-T2', f], out: 'card.img.xz', what: /xz-compressed/, unpack: 'xz -dk' },
  { tool: 'gzip', args: (f) => ['-k', '-1', f], out: 'card.img.gz', what: /gzip-compressed/, unpack: 'gunzip -k' },
  { tool: 'zstd', args: (f) => ['-q', '-1', f], out: 'card.img.zst', what: /zstd-compressed/, unpack: 'zstd -d' },
  { tool: 'bzip2', args: (f) => ['-k', '-1', f], out: 'card.img.bz2', what: /bzip2-compressed/, unpack: 'bunzip2 -k' },
  { tool: 'zip', args: (f) => ['-q', '-j', '-1', `${f}.zip`, f], out: 'card.img.zip', what: /zip archive/, unpack: 'unzip' },
];
const has = (tool: string): boolean => !spawnSync(tool, ['--help'], { stdio: 'ignore' }).error;

describe('a source that is not a disk image', () => {
  for (const p of PACKERS) {
    it.skipIf(!has(p.tool))(`the card packed by ${p.tool}: said so, with the command that unpacks it${has(p.tool) ? '' : ` (skipped: no ${p.tool})`}`, () => {
      expect(spawnSync(p.tool, p.args(sample), { cwd: work }).status).toBe(0);
      const packed = join(work, p.out);
      const before = readFileSync(packed);
      const r = cli(['info', packed]);
      expect(r.code, r.stderr).toBe(66);
      expect(r.stderr).toMatch(new RegExp(`error: image .*${p.out.replace('.', '\\.')} is not a disk image: it is an? ${p.what.source}`));
      expect(r.stderr).toContain(`\`${p.unpack} ${packed}\``);
      expect(r.stderr).not.toMatch(/--offset/);
      expect(readFileSync(packed).equals(before)).toBe(true);
      rmSync(packed);
    });
  }

  it.skipIf(!hasCorpora)('a Home Assistant backup file: the hint names `backup ls` on it', () => {
    const backup = join(work, 'Automatic backup.tar');
    copyFileSync(join(HA_CORPUS, 'securetar_fixtures/backup_truncated.tar'), backup);
    const info = cli(['info', backup]);
    expect(info.code, info.stderr).toBe(66);
    expect(info.stderr).toMatch(/is not a disk image: it is a tar archive \(a Home Assistant backup\?\)/);
    expect(info.stderr).toContain(`haos-rescue backup ls '${backup}'`);
    // What the hint says works.
    const ls = cli(['backup', 'ls', backup]);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.text).toMatch(/core_truncated/);
  });

  it('an empty file: EMPTY_SOURCE, not a truncated partition table', () => {
    const empty = join(work, 'empty.img');
    writeFileSync(empty, '');
    const r = cli(['info', empty]);
    expect(r.code).toBe(66);
    expect(r.stderr).toMatch(/error: image .*empty\.img is empty \(0 bytes\)\nhint: a copy of a card that stopped at once leaves an empty file/);
  });

  // A disk file of megabytes whose header says 0 bytes was "empty (0 bytes): a copy that stopped at once".
  it.skipIf(spawnSync('qemu-img', ['--version']).status !== 0)('a qcow2 whose header says its disk is 0 bytes: said as that, not as an empty file', () => {
    const disk = join(work, 'size0.qcow2');
    spawnSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', sample, disk]);
    const bytes = readFileSync(disk);
    bytes.writeBigUInt64BE(0n, 24); // the virtual size
    writeFileSync(disk, bytes);
    const r = cli(['info', disk]);
    expect(r.code).toBe(66);
    expect(r.stderr).toMatch(/^error: qcow2 .*size0\.qcow2 is \d+(\.\d)? MiB, but its header says the disk in it is 0 bytes: it was made empty, or its header is damaged$/m);
    expect(r.stderr).not.toMatch(/stopped at once/);
  });

  // One partition given instead of the whole disk: the sample's own boot partition, and what the real tools
  // make of the kinds of filesystem a card or a stick holds (HAOS's system partitions are squashfs or EROFS).
  const PARTITIONS: Array<{ name: string; tool: string; make: (file: string, stage: string) => string[]; says: RegExp }> = [
    { name: 'squashfs (a system partition of HAOS 12 and older)', tool: 'mksquashfs', make: (f, st) => ['mksquashfs', st, f, '-quiet', '-noappend'], says: /a system partition of Home Assistant OS \(squashfs\), not its data/ },
    { name: 'EROFS (a system partition of HAOS 13 and later)', tool: 'mkfs.erofs', make: (f, st) => ['mkfs.erofs', f, st], says: /a system partition of Home Assistant OS \(EROFS\), not its data/ },
    { name: 'FAT (a USB stick)', tool: 'mkfs.vfat', make: (f) => ['sh', '-c', `truncate -s 8M ${f} && mkfs.vfat -n MYSTICK ${f}`], says: /a FAT filesystem labelled MYSTICK, not Home Assistant data/ },
    { name: 'exFAT (a card formatted by a camera)', tool: 'mkfs.exfat', make: (f) => ['sh', '-c', `truncate -s 64M ${f} && mkfs.exfat ${f}`], says: /an exFAT filesystem, not Home Assistant data/ },
  ];

  it("the sample's boot partition given alone: said so, with the whole disk's name to give instead", () => {
    const boot = join(work, 'boot-partition.img');
    const p1 = SAMPLE.partitions[0]!;
    writeFileSync(boot, readFileSync(sample).subarray(p1.startLba * 512, (p1.startLba + p1.sectors) * 512));
    const r = cli(['info', boot]);
    expect(r.code).toBe(66);
    expect(r.stderr).toMatch(/error: no Home Assistant data on image .*boot-partition\.img: it is the boot partition of Home Assistant OS \(FAT, label hassos-boot\), not its data\nhint: give the whole disk, without the partition number: \/dev\/sdb rather than \/dev\/sdb1/);
  });

  for (const p of PARTITIONS) {
    it.skipIf(!has(p.tool))(`a partition of ${p.name}: named as such${has(p.tool) ? '' : ` (skipped: no ${p.tool})`}`, () => {
      const stage = join(work, 'stage');
      mkdirSync(stage, { recursive: true });
      writeFileSync(join(stage, 'hello.txt'), 'hello\n');
      const file = join(work, `${p.tool}.img`);
      const [cmd, ...args] = p.make(file, stage);
      const made = spawnSync(cmd!, args, { encoding: 'utf8' });
      expect(made.status, made.stderr).toBe(0);
      const r = cli(['info', file]);
      expect(r.code, r.stderr).toBe(66);
      expect(r.stderr).toMatch(p.says);
      expect(r.stderr).toMatch(/give the whole disk, without the partition number/);
    });
  }

  it('a file of text is still "no Home Assistant data found", with the offset remedy', () => {
    const text = join(work, 'notes.txt');
    writeFileSync(text, 'hello\n'.repeat(1000));
    const r = cli(['info', text]);
    expect(r.code).toBe(66);
    expect(r.stderr).toMatch(/no Home Assistant data filesystem found on image .*notes\.txt/);
    expect(r.stderr).toMatch(/add --offset BYTES/);
  });
});

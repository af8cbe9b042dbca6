// Discovery on every HAOS layout the fixtures build (haos-format.md §1-§2, §6), through the CLI as a
// user runs it: the right data filesystem is chosen, the reason names it, and reading changes no byte.

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILT_IMAGES, HA_VERSION, OLD_HA_VERSION, buildFixtures } from '../../fixtures/index.js';
import { cli, cliJson } from '../helpers/cli.js';
import { mkfs, tempDir } from '../helpers/images.js';

const out = tempDir('fixtures-');
beforeAll(() => buildFixtures(out), 120_000);
afterAll(() => rmSync(out, { recursive: true, force: true }));

const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');

describe('discovery on every layout', () => {
  it.each(Object.entries(BUILT_IMAGES))('%s', (file, expected) => {
    const image = join(out, file);
    const before = sha(image);
    const info = cliJson(['info', image]);
    expect(info.partitionTable).toBe(expected.table === 'hybrid' ? 'gpt' : expected.table);
    expect(info.data.partitionIndex).toBe(expected.dataPartitionNumber);
    expect(info.data.offset).toBe(expected.dataOffsetBytes);
    expect(info.data.label).toBe(expected.dataLabel);
    expect(info.homeAssistant.version).toBe(HA_VERSION);
    expect(info.homeAssistant.users).toBe(2);
    expect(info.homeAssistant.backups).toBeGreaterThanOrEqual(2);
    if (expected.table === 'hybrid') expect(info.hybridMbr).toBe(true);
    expect(sha(image)).toBe(before);
  });

  it('prefers the live hassos-data over a stale hassos-data-old and says so', () => {
    const info = cliJson(['info', join(out, 'haos-with-old.img')]);
    expect(info.data.reason).toMatch(/hassos-data/);
    expect(info.otherCandidates.map((c: { label: string }) => c.label)).toContain('hassos-data-old');
    const text = cli(['info', join(out, 'haos-with-old.img')]).text;
    expect(text).toMatch(/also seen: partition 8 "hassos-data-old"/);
  });

  it('--partition picks the stale copy when asked', () => {
    const r = cli(['cat', join(out, 'haos-with-old.img'), '/supervisor/homeassistant/.HA_VERSION', '--partition', '8']);
    expect(r.code).toBe(0);
    expect(r.text.trim()).toBe(OLD_HA_VERSION);
  });

  it('a change to the stale copy is refused: the box mounts the one labelled hassos-data (it was written and said done)', () => {
    const image = join(out, 'with-old-write.img');
    writeFileSync(image, readFileSync(join(out, 'haos-with-old.img')));
    const before = sha(image);
    const r = cli(['safe-mode', image, '--partition', '8', '--no-originals']);
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toMatch(/labelled hassos-data-old: a stale copy left behind when the data moved to another disk; the box uses the one labelled hassos-data/);
    expect(r.stderr).toMatch(/connect the disk that holds the filesystem labelled hassos-data/);
    expect(sha(image)).toBe(before);
  });

  it('two filesystems labelled hassos-data with Home Assistant data: a change is refused until one is named (it went to the first, the stale one)', () => {
    const image = join(out, 'two-data.img');
    const bytes = readFileSync(join(out, 'haos-with-old.img'));
    const p8 = join(out, 'p8.ext4');
    writeFileSync(p8, bytes.subarray(11 * 1024 * 1024, 31 * 1024 * 1024));
    execFileSync('tune2fs', ['-L', 'hassos-data', p8], { stdio: 'ignore' });
    readFileSync(p8).copy(bytes, 11 * 1024 * 1024);
    writeFileSync(image, bytes);
    const before = sha(image);
    const r = cli(['safe-mode', image, '--no-originals']);
    expect(r.code, r.stderr).toBe(77);
    expect(r.stderr).toMatch(/partition 8 and partition 9 both hold a filesystem labelled hassos-data with Home Assistant data/);
    expect(r.stderr).toMatch(/add --partition N/);
    expect(sha(image)).toBe(before);
    expect(cli(['info', image]).text).toMatch(/comes later in the table \(which one the box uses cannot be told from here/);
    expect(cli(['cat', image, '/supervisor/homeassistant/.HA_VERSION']).stderr).toMatch(/^warning: 2 filesystems with Home Assistant data are labelled hassos-data: this reads partition 8 .*name the partition to read another/m);
    expect(cli(['safe-mode', image, '--partition', '9', '--no-originals']).code).toBe(0);
  });

  it('a GPT whose both copies fail their checks: the data is found by searching, said so (it stopped: "if you know the byte offset")', () => {
    const image = join(out, 'gpt-both-bad.img');
    const bytes = readFileSync(join(out, 'haos-gpt.img'));
    bytes[1024 + 56] = bytes[1024 + 56]! ^ 0x01; // a letter of partition 1's name, in the primary entries (LBA 2)
    bytes[bytes.length - 33 * 512 + 56] = bytes[bytes.length - 33 * 512 + 56]! ^ 0x01; // and in the backup's (before the backup header)
    writeFileSync(image, bytes);
    const r = cli(['info', image, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const info = JSON.parse(r.text);
    expect(info.data.offset).toBe(11 * 1024 * 1024);
    expect(info.homeAssistant.version).toBe(HA_VERSION);
    expect(JSON.stringify(info.warnings)).toMatch(/The partition table is damaged \(GPT/);
    expect(cli(['safe-mode', image, '--no-originals']).code, 'a card the box cannot start from is not changed').toBe(77);
  });

  it('--offset reads a filesystem at a byte offset', () => {
    const r = cli(['cat', join(out, 'haos-mbr.img'), '/supervisor/homeassistant/.HA_VERSION', '--offset', String(16 * 1024 * 1024)]);
    expect(r.code).toBe(0);
    expect(r.text.trim()).toBe(HA_VERSION);
  });

  it('a Supervised root is found through /etc/hassio.json', () => {
    const info = cliJson(['info', join(out, 'supervised-root.img')]);
    expect(info.data.kind).toBe('supervised');
    expect(info.homeAssistant.configPath).toBe('/var/lib/homeassistant/homeassistant');
  });

  it('a Supervised root without /etc/hassio.json is found by the installer\'s default data folders, and said so (it was "no Home Assistant data")', () => {
    const image = join(out, 'supervised-no-json.img');
    copyFileSync(join(out, 'supervised-root.img'), image);
    const removed = spawnSync('debugfs', ['-w', '-R', 'rm /etc/hassio.json', image], { encoding: 'utf8' });
    expect(removed.status, removed.stderr).toBe(0);
    const info = cliJson(['info', image]);
    expect(info.data.kind).toBe('supervised');
    expect(info.homeAssistant.configPath).toBe('/var/lib/homeassistant/homeassistant');
    expect(cli(['info', image]).text).toMatch(/Supervised install: no \/etc\/hassio\.json, the Supervisor's data found in \/var\/lib\/homeassistant/);
    expect(cliJson(['auth', 'list', image])).toEqual(cliJson(['auth', 'list', join(out, 'supervised-root.img')]));
  });

  it('an /etc/hassio.json holding null (or any non-object) is no Supervised root, not an internal error (found by fuzzing)', () => {
    const stage = join(out, 'hassio-null-stage');
    mkdirSync(join(stage, 'etc'), { recursive: true });
    for (const [i, text] of ['null', '42', '["/usr/share/hassio"]', '{"data":7}'].entries()) {
      writeFileSync(join(stage, 'etc', 'hassio.json'), text);
      const image = join(out, `hassio-odd-${i}.img`);
      mkfs(image, stage, { sizeMiB: 8, label: 'rootfs' });
      const r = cli(['info', image, '--verbose']);
      expect(r.stderr, text).not.toMatch(/internal error|Cannot read properties/);
      expect(r.code, text).toBe(0);
      expect(cliJson(['info', image]).data.kind, text).not.toBe('supervised');
    }
  });

  it('a partition number that does not exist is exit 66 listing the ones that do', () => {
    const r = cli(['info', join(out, 'haos-gpt.img'), '--partition', '12']);
    expect(r.code).toBe(66);
    expect(r.stderr).toMatch(/^error: .*12/m);
  });

  it('a partition that holds no ext4 is exit 66 with a hint', () => {
    const r = cli(['info', join(out, 'haos-gpt.img'), '--partition', '2']);
    expect(r.code).toBe(66);
    expect(r.stderr).toMatch(/^hint: /m);
  });
});

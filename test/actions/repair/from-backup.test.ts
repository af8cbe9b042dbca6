// The configuration files of a backup, compared with the card's (src/actions/repair/from-backup.ts): on the
// sample card and backups made from it by `backup create`. Which files are offered (the configuration
// folder's own, not the database, logs or .HA_VERSION), in which order, each said the same, different or
// missing on the card; a backup cut short offers the files read whole before the cut; a key that does not
// open it is said as such.

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSampleImage } from '../../../fixtures/index.js';
import { SecureTarKey, withBackupFile } from '../../../src/actions/backup/index.js';
import { configFilesInBackup } from '../../../src/actions/repair/index.js';
import { withSource } from '../../../src/actions/source.js';
import { AppError, CorruptError } from '../../../src/errors.js';
import { cli } from '../../helpers/cli.js';
import { tempDir } from '../../helpers/images.js';

const work = tempDir('from-backup-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const image = join(work, 'card.img');
const plain = join(work, 'plain.tar');
const keyed = join(work, 'keyed.tar');
const CONFIG = '/supervisor/homeassistant';

function run(args: string[]): void {
  const r = cli(args);
  expect(r.code, r.stderr).toBe(0);
}

beforeAll(() => {
  writeFileSync(image, readSampleImage());
  // The safe-mode marker too (a start in safe mode leaves it): not offered, it is no configuration file.
  run(['safe-mode', image, '--yes', '--no-originals']);
  // With the history database and the logs in it: those are not offered.
  run(['backup', 'create', image, '--out', plain, '--no-encrypt']);
  run(['backup', 'create', image, '--out', keyed, '--password', 'a password']);
  // Then the card changes: secrets.yaml edited, scenes.yaml deleted.
  writeFileSync(join(work, 'secrets.yaml'), 'broken: [\n');
  run(['put', image, join(work, 'secrets.yaml'), `${CONFIG}/secrets.yaml`, '--yes', '--no-originals']);
  run(['rm', image, `${CONFIG}/scenes.yaml`, '--yes', '--no-originals']);
}, 120_000);

const filesOf = (backup: string, key: SecureTarKey | null = null) =>
  withSource(image, {}, (src) => withBackupFile(backup, (target) => configFilesInBackup(src, target, key)));

describe('the configuration files of a backup', () => {
  it('the folder\'s own files, configuration.yaml first then the YAML ones, each compared with the card', async () => {
    const { files, damage } = await filesOf(plain);
    expect(damage).toBeNull();
    expect(files.map((f) => [f.name, f.onCard])).toEqual([
      ['configuration.yaml', 'same'],
      ['automations.yaml', 'same'],
      ['scenes.yaml', 'missing'],
      ['scripts.yaml', 'same'],
      ['secrets.yaml', 'differs'],
      ['.shopping_list.json', 'same'],
    ]);
    const secrets = files.find((f) => f.name === 'secrets.yaml')!;
    expect(secrets.bytes.equals(cli(['backup', 'cat', plain, 'homeassistant/secrets.yaml']).stdout)).toBe(true);
    expect(secrets.cardBytes).toBe('broken: [\n'.length);
  });

  it('the login file is offered only when the card\'s is damaged (a reset refused it, and the flow had no way on) or gone; a readable one is never', async () => {
    const damagedCard = join(work, 'damaged-login.img');
    writeFileSync(damagedCard, readFileSync(image));
    const login = `${CONFIG}/.storage/auth_provider.homeassistant`;
    const whole = cli(['cat', damagedCard, login]).stdout;
    writeFileSync(join(work, 'cut-login'), whole.subarray(0, whole.length >> 1));
    run(['put', damagedCard, join(work, 'cut-login'), login, '--yes', '--no-originals']);
    const reset = cli(['auth', 'reset', damagedCard, '-u', 'vm-user', '--password', 'x', '--dry-run']);
    expect(reset.code).toBe(65);
    expect(reset.stderr).toMatch(/^hint: put the login file back from one of the card's backups .*\(haos-rescue backup cat \S+ SLUG homeassistant\/data\/\.storage\/auth_provider\.homeassistant > auth_provider\.homeassistant, then haos-rescue put \S+damaged-login\.img auth_provider\.homeassistant \/supervisor\/homeassistant\/\.storage\/auth_provider\.homeassistant\)$/m);
    const offered = await withSource(damagedCard, {}, (src) => withBackupFile(plain, (target) => configFilesInBackup(src, target, null)));
    const file = offered.files.find((f) => f.name === '.storage/auth_provider.homeassistant');
    expect(file).toMatchObject({ onCard: 'differs', cardBytes: whole.length >> 1 });
    expect(file!.bytes.equals(whole)).toBe(true);
    // The CLI's way on, followed: the card's login file whole again, and the reset goes through.
    writeFileSync(join(work, 'login-from-backup'), cli(['backup', 'cat', plain, 'homeassistant/data/.storage/auth_provider.homeassistant']).stdout);
    run(['put', damagedCard, join(work, 'login-from-backup'), login, '--yes', '--no-originals']);
    run(['auth', 'reset', damagedCard, '-u', 'vm-user', '--password', 'x', '--no-originals']);
  });

  it('a version-1 backup (the configuration at the root of its archive, no data/): its files, compared the same way', async () => {
    const dir = join(work, 'v1');
    mkdirSync(join(dir, 'config'), { recursive: true });
    mkdirSync(join(dir, 'outer'));
    writeFileSync(join(dir, 'config', 'configuration.yaml'), cli(['cat', image, `${CONFIG}/configuration.yaml`]).stdout);
    writeFileSync(join(dir, 'config', 'secrets.yaml'), 'api: v1 secret\n');
    writeFileSync(join(dir, 'config', 'home-assistant.log'), 'a log\n');
    execFileSync('tar', ['-czf', join(dir, 'outer', 'homeassistant.tar.gz'), '-C', join(dir, 'config'), '.']);
    writeFileSync(join(dir, 'outer', 'backup.json'), JSON.stringify({ slug: 'v1v1v1v1', name: 'Old', date: '2021-03-01T00:00:00+00:00', type: 'full', homeassistant: { version: '2021.3.0' }, compressed: true, protected: false }));
    const v1 = join(dir, 'v1.tar');
    execFileSync('tar', ['-cf', v1, '-C', join(dir, 'outer'), './backup.json', './homeassistant.tar.gz']);
    const { files } = await filesOf(v1);
    expect(files.map((f) => [f.name, f.onCard])).toEqual([['configuration.yaml', 'same'], ['secrets.yaml', 'differs']]);
    expect(files[1]!.bytes.toString()).toBe('api: v1 secret\n');
  });

  it('an encrypted one: with its password; without, or with another, said as such', async () => {
    expect((await filesOf(keyed, new SecureTarKey('a password'))).files.map((f) => f.name)).toContain('secrets.yaml');
    await expect(filesOf(keyed)).rejects.toMatchObject({ code: 'PASSWORD_NEEDED' });
    await expect(filesOf(keyed, new SecureTarKey('another'))).rejects.toMatchObject({ code: 'WRONG_PASSWORD' });
  });

  it('cut short: the files read whole before the cut are offered with the damage said; cut before any, the damage itself', async () => {
    const bytes = readFileSync(plain);
    const inner = cli(['backup', 'ls', plain, '--json']);
    const size = (JSON.parse(inner.text) as { inners: Array<{ name: string; size: number }> }).inners.find((i) => i.name === 'homeassistant')!.size;
    expect(size).toBeGreaterThan(100_000);
    for (const [name, keep, some] of [['late.tar', Math.floor(size * 0.97), true], ['early.tar', 200, false]] as const) {
      const cut = join(work, name);
      writeFileSync(cut, bytes);
      // The homeassistant archive comes first (its data after its 512-byte header; backup.json last): cut inside it.
      truncateSync(cut, 512 + keep);
      const r = await filesOf(cut).catch((e: unknown) => e);
      if (some) {
        expect((r as { damage: unknown }).damage).toBeInstanceOf(CorruptError);
        expect((r as { files: unknown[] }).files.length).toBeGreaterThan(0);
      } else {
        expect(r).toBeInstanceOf(AppError);
        expect((r as Error).message).toMatch(/cut short|damaged|ends/);
      }
    }
  });

  it('a check at the archive\'s end that fails (gzip\'s CRC): no file is offered, any may hold the changed byte (one was put back as "verified")', async () => {
    const bytes = Buffer.from(readFileSync(plain));
    const inner = cli(['backup', 'ls', plain, '--json']);
    const size = (JSON.parse(inner.text) as { inners: Array<{ name: string; size: number }> }).inners.find((i) => i.name === 'homeassistant')!.size;
    // The gzip trailer's CRC-32 (the last 8 bytes are CRC-32 and ISIZE); the archive's data follows its 512-byte header.
    bytes[512 + size - 8] = bytes[512 + size - 8]! ^ 0x01;
    const flipped = join(work, 'crc.tar');
    writeFileSync(flipped, bytes);
    const r = await filesOf(flipped).catch((e: unknown) => e);
    expect(r).toMatchObject({ code: 'BACKUP_FILES_UNTRUSTED', exitCode: 65 });
    expect((r as Error).message).toMatch(/homeassistant\.tar\.gz of this backup is damaged: its check at the end does not match.*none of its files is put back/);
  });
});

// Damaged backups, as an interrupted copy or a worn card leaves them, against the same backup whole: nothing
// is written under a file's own name with bytes that differ, nothing whole is held back, and the damage is
// said (exit 65). The backups are made from the sample card by `backup create` (SecureTar v2 with the card's
// key, and unencrypted), their members found by Python's tarfile.

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE, readSampleImage } from '../../fixtures/index.js';
import { cli, cliJson } from '../helpers/cli.js';
import { HA_CORPUS } from '../helpers/corpus.js';
import { rawRequest, startGui } from '../helpers/gui.js';
import { kernelCanMount, withKernelMount } from '../helpers/kernel.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('backup-damage-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const data = join(work, 'data.img');
let key = '';
const made = { v2: join(work, 'v2.tar'), plain: join(work, 'plain.tar') };

/** Offset of the data, and size, of each member of a tar, in order. */
function members(tar: string): Array<{ name: string; header: number; offset: number; size: number }> {
  const py = 'import json,sys,tarfile\nprint(json.dumps([{"name":m.name,"header":m.offset,"offset":m.offset_data,"size":m.size} for m in tarfile.open(sys.argv[1]).getmembers()]))';
  return JSON.parse(execFileSync('python3', ['-c', py, tar]).toString()) as Array<{ name: string; header: number; offset: number; size: number }>;
}

/** Every file under `dir`, relative path → bytes. */
function files(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = statSync(p, { throwIfNoEntry: false });
      if (st?.isDirectory()) walk(p);
      else if (st?.isFile()) out.set(relative(dir, p), readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

function extract(backup: string, out: string, extra: string[] = []): { code: number; text: string; stderr: string } {
  rmSync(out, { recursive: true, force: true });
  return cli(['backup', 'extract', backup, '--decrypt', '--out', out, ...(backup.includes('plain') ? [] : ['--password', key]), ...extra]);
}

/** A copy of `from` with `edit` applied to its bytes. */
function damaged(from: string, name: string, edit: (b: Buffer) => Buffer): string {
  const path = join(work, name);
  writeFileSync(path, edit(Buffer.from(readFileSync(from))));
  return path;
}

const whole = { v2: join(work, 'whole-v2'), plain: join(work, 'whole-plain') };

beforeAll(() => {
  writeFileSync(data, readSampleImage().subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes));
  key = cliJson<{ key: string }>(['backup', 'key', data]).key;
  expect(cli(['backup', 'create', data, '--out', made.v2]).code).toBe(0);
  expect(cli(['backup', 'create', data, '--out', made.plain, '--no-encrypt']).code).toBe(0);
  for (const kind of ['v2', 'plain'] as const) expect(extract(made[kind], whole[kind]).code).toBe(0);
}, 120_000);

/** Each file extracted from the damaged backup under its own name is byte-identical to the whole one's. */
function noWrongBytes(out: string, kind: 'v2' | 'plain'): Map<string, Buffer> {
  const good = files(whole[kind]);
  const got = files(out);
  for (const [path, bytes] of got) {
    if (path.endsWith('.damaged')) continue;
    expect(good.get(path)?.equals(bytes), `${path} is written under its own name with the bytes of the whole backup`).toBe(true);
  }
  return got;
}

describe('a damaged backup file', () => {
  it('cut right after the first archive\'s header, or one byte into it: "cut short", exit 65 (it was complete and empty, exit 0)', () => {
    for (const kind of ['v2', 'plain'] as const) {
      const first = members(made[kind])[0]!;
      for (const at of [first.offset, first.offset + 1]) {
        const cut = damaged(made[kind], `cut-${kind}-${at}.tar`, (b) => b.subarray(0, at));
        const out = join(work, `out-cut-${kind}`);
        const r = extract(cut, out);
        expect(r.code, r.text + r.stderr).toBe(65);
        expect(r.text).toMatch(/homeassistant\.tar\.gz is cut short: the backup file ends after [01] of its \d+ bytes/);
        const listed = cli(['backup', 'ls', cut, 'homeassistant', ...(kind === 'v2' ? ['--password', key] : [])]);
        expect(listed.code).toBe(65);
        expect(listed.stderr).toMatch(/cut short/);
      }
    }
  });

  it('damaged after a whole archive (a header cut, or changed): the whole archive is still unpacked and listed, exit 65 (nothing was)', () => {
    const [first, second] = members(made.v2);
    const cutInHeader = damaged(made.v2, 'cut-in-header.tar', (b) => b.subarray(0, second!.header + 100));
    const flipped = damaged(made.v2, 'flipped-header.tar', (b) => {
      b[second!.header + 10] = b[second!.header + 10]! ^ 0xff;
      return b;
    });
    expect(first!.name).toBe('homeassistant.tar.gz');
    for (const backup of [cutInHeader, flipped]) {
      const out = join(work, 'out-header');
      const r = extract(backup, out);
      expect(r.code, r.text + r.stderr).toBe(65);
      expect(r.text).toMatch(/the archives before the damage were read, any after it are lost/);
      const got = noWrongBytes(out, 'v2');
      expect([...got.keys()].filter((p) => p.startsWith('homeassistant/')).sort()).toEqual([...files(whole.v2).keys()].filter((p) => p.startsWith('homeassistant/')).sort());
      const listed = cli(['backup', 'ls', backup]);
      // Listed, then said as damage with exit 65 (it was exit 0, with a "Damaged:" line).
      expect(listed.code).toBe(65);
      expect(listed.text).toMatch(/homeassistant\s+Home Assistant/);
      expect(listed.stderr).toMatch(/^error: the backup is damaged after the archives listed \(tar header at offset \d+ .*\): any after it are lost/m);
    }
  });

  it('one byte changed inside an archive nothing checks (v2, unencrypted): the file it lands in is kept as .damaged, never under its own name with other bytes', () => {
    for (const kind of ['v2', 'plain'] as const) {
      const first = members(made[kind])[0]!;
      const backup = damaged(made[kind], `mid-${kind}.tar`, (b) => {
        b[first.offset + Math.floor(first.size / 2)] = b[first.offset + Math.floor(first.size / 2)]! ^ 0xff;
        return b;
      });
      const out = join(work, `out-mid-${kind}`);
      const r = extract(backup, out);
      expect(r.code, r.text + r.stderr).toBe(65);
      const got = noWrongBytes(out, kind);
      expect([...got.keys()].some((p) => p.endsWith('.damaged')), r.text).toBe(true);
    }
  });

  it('a changed checksum (gzip) or last block (SecureTar v2) at the end: every file is unpacked whole (v2: the bytes before the garbled blocks), and the damage said (the last megabyte was lost)', () => {
    const plainEnd = members(made.plain)[0]!;
    const crc = damaged(made.plain, 'crc.tar', (b) => {
      b[plainEnd.offset + plainEnd.size - 8] = b[plainEnd.offset + plainEnd.size - 8]! ^ 0xff;
      return b;
    });
    const v2End = members(made.v2)[0]!;
    const lastBlock = damaged(made.v2, 'last-block.tar', (b) => {
      b[v2End.offset + v2End.size - 20] = b[v2End.offset + v2End.size - 20]! ^ 0x55;
      return b;
    });
    for (const [backup, kind, said] of [[crc, 'plain', /its check at the end does not match/], [lastBlock, 'v2', /bad padding/]] as const) {
      const out = join(work, `out-end-${kind}`);
      const r = extract(backup, out, ['--inner', 'homeassistant']);
      expect(r.code, r.text + r.stderr).toBe(65);
      expect(r.text).toMatch(said);
      const got = noWrongBytes(out, kind);
      const good = files(whole[kind]);
      const names = [...got.keys()].map((p) => p.replace(/\.damaged$/, ''));
      expect(names.sort()).toEqual([...good.keys()].filter((p) => p.startsWith('homeassistant/')).sort());
      // The stream's last two blocks are not used when the padding is bad (a file they ended was written under its
      // own name with changed last bytes, whenever the garbled block held deflate data); every byte before them is
      // (8 more were held back). The last file is whole, or kept as .damaged when its end was in those blocks
      // (the backup's bytes differ from run to run: its dates).
      const cut = [...got.keys()].filter((p) => p.endsWith('.damaged'));
      expect(cut.length).toBeLessThanOrEqual(kind === 'v2' ? 1 : 0);
      for (const p of cut) {
        const whole = good.get(p.replace(/\.damaged$/, ''))!;
        expect(whole.subarray(0, got.get(p)!.length).equals(got.get(p)!)).toBe(true);
      }
    }
  });

  it('bytes after the end of an archive\'s gzip stream (trailing garbage, as tarfile, which restores it, never reads): every file unpacked, exit 0 (the last megabyte was lost, exit 65)', () => {
    const py = [
      'import io,sys,tarfile',
      'src=tarfile.open(sys.argv[1]); dst=tarfile.open(sys.argv[2],"w",format=tarfile.PAX_FORMAT)',
      'for m in src.getmembers():',
      '  b=src.extractfile(m).read() if m.isfile() else None',
      '  if m.name=="homeassistant.tar.gz": b+=b"GARBAGE"*10; m.size=len(b)',
      '  dst.addfile(m, io.BytesIO(b) if b is not None else None)',
      'dst.close()',
    ].join('\n');
    const trailing = join(work, 'trailing-plain.tar');
    execFileSync('python3', ['-c', py, made.plain, trailing]);
    const out = join(work, 'out-trailing');
    const r = extract(trailing, out);
    expect(r.code, r.text + r.stderr).toBe(0);
    const got = noWrongBytes(out, 'plain');
    expect([...got.keys()].sort()).toEqual([...files(whole.plain).keys()].sort());
  });

  it('a changed SecureTar header of one archive: the others are unpacked and that one is said damaged (it read as a wrong key and nothing was unpacked); a wrong key still writes nothing', () => {
    const first = members(made.v2)[0]!;
    const backup = damaged(made.v2, 'magic.tar', (b) => {
      b[first.offset + 3] = 0x58; // inside "SecureTar"
      return b;
    });
    const out = join(work, 'out-magic');
    const r = extract(backup, out);
    expect(r.code, r.text + r.stderr).toBe(65);
    expect(r.text).toMatch(/damaged: homeassistant: it does not open with the key that opens the other archives: its start is damaged/);
    expect(readdirSync(out).sort()).toEqual(['addons_local', 'media', 'share', 'ssl']);
    rmSync(out, { recursive: true, force: true });
    const wrong = cli(['backup', 'extract', backup, '--decrypt', '--out', out, '--password', 'not the key']);
    expect(wrong.code).toBe(77);
    expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
  });

  it('a changed byte in the very first header: said as a damaged backup (it was "not a disk image: look inside it with backup ls", the command given)', () => {
    const backup = damaged(made.v2, 'first-header.tar', (b) => {
      b[0] = b[0]! ^ 0x01;
      return b;
    });
    const r = cli(['backup', 'ls', backup]);
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(/tar header at offset 0 has a bad checksum/);
    expect(r.stderr).toMatch(/it is damaged or cut short: download or copy it again/);
    expect(r.stderr).not.toMatch(/not a disk image/);
  });

  it.skipIf(!existsSync(join(HA_CORPUS, 'securetar_fixtures', 'backup_truncated.tar')))('listing an archive cut short shows the entries before the cut, then says it (exit 65; nothing was listed)', () => {
    const r = cli(['backup', 'ls', join(HA_CORPUS, 'securetar_fixtures', 'backup_truncated.tar'), 'core_truncated', '--password', 'hunter2']);
    expect(r.code).toBe(65);
    expect(r.text).toMatch(/core_truncated\/README\.md[\s\S]*core_truncated\/test_symlink -> test1[\s\S]*core_truncated\/large_file/);
    expect(r.stderr).toMatch(/cut short/);
  });

  it('a backup on the card without its backup.json (cut short) is opened for what it holds, as the same file copied off (it was "not a usable backup")', () => {
    const second = members(made.plain)[1]!;
    const cut = damaged(made.plain, 'card-cut.tar', (b) => b.subarray(0, second.header + 700));
    const card = join(work, 'card-with-cut.img');
    writeFileSync(card, readFileSync(data));
    execFileSync('debugfs', ['-w', '-R', `write ${cut} /supervisor/backup/cut.tar`, card], { stdio: 'ignore' });
    const listed = cli(['backup', 'ls', card, 'cut.tar']);
    expect(listed.code, listed.stderr).toBe(65);
    expect(listed.text).toMatch(/no usable backup\.json/);
    expect(listed.text).toMatch(/homeassistant\s+Home Assistant/);
    // Its homeassistant archive is whole (the cut is in a later one): read and checked to its end.
    const shown = cli(['backup', 'cat', card, 'cut.tar', 'homeassistant/data/configuration.yaml']);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout.equals(readFileSync(join(whole.plain, 'homeassistant', 'data', 'configuration.yaml')))).toBe(true);
    expect(existsSync(card)).toBe(true);
  });
});

describe('backup list', () => {
  const example = join(HA_CORPUS, 'supervisor_fixtures', 'backup_example.tar');
  // Its backup.json comes first: cut after it, the backup was listed like the whole one (same name and date).
  it.skipIf(!existsSync(example))('a backup cut short after its backup.json is listed as damaged (it was listed as whole), and copied off apart from the backups', () => {
    const cut = join(work, 'example-cut.tar');
    writeFileSync(cut, readFileSync(example).subarray(0, 5000));
    const card = join(work, 'card-with-cut-example.img');
    writeFileSync(card, readFileSync(data));
    execFileSync('debugfs', ['-w', '-R', `write ${cut} /supervisor/backup/example-cut.tar`, card], { stdio: 'ignore' });
    const r = cli(['backup', 'list', card]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.text).toMatch(/^Damaged \(Home Assistant cannot restore them; what comes before the damage can still be read with backup ls\):\n {2}\/supervisor\/backup\/example-cut\.tar \(4\.9 KiB\): tar header at offset 4608 runs past the end of the file \(5000 bytes\)$/m);
    const listed = cliJson<Array<{ file: string; slug?: string; damaged?: string }>>(['backup', 'list', card]);
    expect(listed.find((b) => b.file === 'example-cut.tar')).toMatchObject({ slug: expect.any(String), damaged: expect.stringMatching(/runs past the end of the file \(5000 bytes\)/) });
    expect(listed.filter((b) => b.damaged !== undefined).map((b) => b.file)).toEqual(['example-cut.tar']);
    // Copied off, it and an empty file are said apart from the backups (they were "5 backup(s) copied").
    const empty = join(work, 'empty.tar');
    writeFileSync(empty, '');
    execFileSync('debugfs', ['-w', '-R', `write ${empty} /supervisor/backup/empty.tar`, card], { stdio: 'ignore' });
    const copied = cli(['backup', 'extract', card, '--out', join(work, 'copied-with-cut')]);
    expect(copied.code, copied.stderr).toBe(0);
    expect(copied.text).toMatch(/^3 backup\(s\) copied to \S+\.\n2 file\(s\) copied as they are to \S+, which Home Assistant cannot restore:\n {2}empty\.tar: the file is empty .*\n {2}example-cut\.tar: tar header at offset 4608 runs past the end of the file \(5000 bytes\)$/m);
  });

  // backup.json alone (its archives lost): listed and copied as a whole backup, whose restore then failed.
  it('a backup without the archives its backup.json names is listed as damaged, naming them', () => {
    const only = join(work, 'only-json.tar');
    const meta = '{"slug": "abcd1234", "name": "only json", "date": "2026-01-01T00:00:00+00:00", "type": "full", "homeassistant": {"version": "2025.5.3"}, "folders": ["share", "addons/local"], "addons": [{"slug": "core_ssh", "name": "SSH", "version": "9"}], "protected": false}';
    execFileSync('python3', ['-c', 'import io, sys, tarfile\nm = sys.argv[2].encode()\nwith tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as o:\n    ti = tarfile.TarInfo("./backup.json"); ti.size = len(m); o.addfile(ti, io.BytesIO(m))\n    s = b"x"; ti = tarfile.TarInfo("./share.tar.gz"); ti.size = 1; o.addfile(ti, io.BytesIO(s))', only, meta]);
    const card = join(work, 'card-with-only-json.img');
    writeFileSync(card, readFileSync(data));
    execFileSync('debugfs', ['-w', '-R', `write ${only} /supervisor/backup/only-json.tar`, card], { stdio: 'ignore' });
    const listed = cliJson<Array<{ file: string; damaged?: string }>>(['backup', 'list', card]);
    expect(listed.find((b) => b.file === 'only-json.tar')?.damaged).toBe('backup.json names archives that are not in the file (homeassistant, addons_local, core_ssh): a restore of them fails');
    // The card's whole backups are not said to miss anything.
    expect(listed.filter((b) => b.damaged !== undefined).map((b) => b.file)).toEqual(['only-json.tar']);
  });
});

describe('backup create on a card with names it cannot keep', () => {
  it('a name that is not UTF-8 and a FIFO are said (the name was changed and the FIFO left out without a word)', async () => {
    const card = join(work, 'odd-names.img');
    writeFileSync(card, readFileSync(data));
    const payload = join(work, 'payload.yaml');
    writeFileSync(payload, 'x: 1\n');
    const commands = join(work, 'odd-names.debugfs');
    // Raw bytes: "caf" 0xE9 ".yaml", as a Latin-1 computer wrote it.
    writeFileSync(commands, Buffer.concat([Buffer.from(`write ${payload} /supervisor/homeassistant/caf`), Buffer.from([0xe9]), Buffer.from('.yaml\ncd /supervisor/homeassistant\nmknod pipe p\n')]));
    execFileSync('debugfs', ['-w', '-f', commands, card], { stdio: 'ignore' });
    const out = join(work, 'odd-names.tar');
    const r = cli(['backup', 'create', card, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.text).toMatch(/renamed: .*caf\\xe9\.yaml is stored as .*\(.*\); a restore gives it that name/);
    expect(r.text).toMatch(/not in the backup: .*pipe \(a device file, FIFO or socket\)/);
    const json = cli(['backup', 'create', card, '--out', join(work, 'odd-names-2.tar'), '--json']);
    const result = JSON.parse(json.text) as { renamed: unknown[]; special: string[] };
    expect(result.renamed).toHaveLength(1);
    expect(result.special).toEqual([expect.stringMatching(/pipe$/)]);
    // The window says the same (it said only where the backup went).
    const gui = await startGui([card]);
    try {
      const headers = { 'X-Rescue-Token': gui.token, Origin: gui.base, 'Content-Type': 'application/json' };
      const answer = await rawRequest(gui.port, 'POST', '/api/create', headers, JSON.stringify({ out: join(work, 'odd-names-3.tar') }));
      expect(answer.status, answer.body).toBe(200);
      const lines = (JSON.parse(answer.body) as { lines: string[] }).lines.join('\n');
      expect(lines).toMatch(/renamed: .*caf\\xe9\.yaml is stored as .*; a restore gives it that name/);
      expect(lines).toMatch(/not in the backup: .*pipe \(a device file, FIFO or socket\)/);
    } finally {
      gui.child.kill();
      await gui.exited;
    }
  }, 60_000);
});

describe('two backups on the card with one slug', () => {
  const pair = ['test_consolidate.tar', 'test_consolidate_unc.tar'].map((f) => join(HA_CORPUS, 'supervisor_fixtures', f));
  it.skipIf(!pair.every((f) => existsSync(f)))('backup ls by that slug asks which, by file name (it opened the first without a word); by file name it opens', () => {
    const card = join(work, 'same-slug.img');
    writeFileSync(card, readFileSync(data));
    execFileSync('debugfs', ['-w', '-R', `write ${pair[0]} /supervisor/backup/a_enc.tar`, card], { stdio: 'ignore' });
    execFileSync('debugfs', ['-w', '-R', `write ${pair[1]} /supervisor/backup/b_plain.tar`, card], { stdio: 'ignore' });
    const r = cli(['backup', 'ls', card, 'd9c48f8b']);
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/2 backups on the card have the slug d9c48f8b: a_enc\.tar, b_plain\.tar/);
    expect(r.stderr).toMatch(/name the one to open by its file name instead/);
    expect(cli(['backup', 'ls', card, 'b_plain.tar']).code).toBe(0);
  });
});

describe('a backup file whose name holds a newline', () => {
  it.skipIf(!kernelCanMount())('backup list keeps it on its row, as \\n (the table broke in two)', () => {
    const card = join(work, 'newline.img');
    writeFileSync(card, readFileSync(data));
    withKernelMount(card, (dir) => writeFileSync(join(dir, 'supervisor', 'backup', 'a\nb.tar'), readFileSync(made.plain)));
    const r = cli(['backup', 'list', card]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.text).toMatch(/^\S.* \/supervisor\/backup\/a\\nb\.tar$/m);
  });
});


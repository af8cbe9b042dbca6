import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readBackupArchive } from '../../src/ha/backup-archive.js';
import { describeBackup, parseBackupJson } from '../../src/ha/backup-meta.js';
import { walkTar, type ReadAt } from '../../src/ha/backup-tar.js';
import { HA_CORPUS } from '../helpers/corpus.js';
import { codeOf } from './helpers.js';

const TAR_DIRS = ['supervisor_fixtures', 'securetar_fixtures', 'librun_ha-backup-tool_test_data'];
const corpusTars = TAR_DIRS.flatMap((d) => {
  const dir = join(HA_CORPUS, d);
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.tar')).sort().map((f) => join(dir, f)) : [];
});
const have = (cmd: string, args: string[]): boolean => {
  try {
    execFileSync(cmd, args, { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
};
const hasTools = have('tar', ['--version']) && have('python3', ['--version']);

function bufferReader(buf: Buffer): { read: ReadAt; stats: { bytes: number } } {
  const stats = { bytes: 0 };
  const read: ReadAt = async (offset, length) => {
    const out = buf.subarray(offset, Math.min(buf.length, offset + length));
    stats.bytes += out.length;
    return out;
  };
  return { read, stats };
}
const describeBuf = (buf: Buffer, name: string) => describeBackup(bufferReader(buf).read, buf.length, name);

// What GNU tar + Python say about a backup: the member the Supervisor reads, and its fields as the Supervisor's
// schema sees them (v1_protected: any non-bool → True; v1_homeassistant: no version → None).
const PY = `
import json, sys
d = json.loads(sys.stdin.buffer.read())
p = d.get("protected", False)
ha = d.get("homeassistant")
print(json.dumps({
  "slug": d["slug"], "name": d["name"], "date": d["date"], "type": d["type"],
  "protected": p if isinstance(p, bool) else True,
  "homeAssistantVersion": (ha.get("version") if isinstance(ha, dict) else None),
  "addons": [a["slug"] for a in d.get("addons", [])],
  "folders": d.get("folders", []),
}))
`;
function expectation(file: string): { member: string | null; fields?: Record<string, unknown> } {
  const names = execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).split('\n');
  const member = ['./backup.json', './snapshot.json', 'backup.json'].find((n) => names.includes(n)) ?? null;
  if (!member) return { member };
  const out = execFileSync('bash', ['-c', 'tar -xOf "$1" "$2" | python3 -c "$3"', 'sh', file, member, PY], { encoding: 'utf8' });
  return { member, fields: JSON.parse(out) };
}

describe.skipIf(corpusTars.length === 0 || !hasTools)('describeBackup on every backup tar of the corpus', () => {
  for (const file of corpusTars) {
    const short = file.slice(HA_CORPUS.length + 1);
    it(`${short}: agrees with GNU tar + python json`, async () => {
      const buf = readFileSync(file);
      const want = expectation(file);
      const got = await describeBuf(buf, basename(file));
      expect(got.file).toBe(basename(file));
      expect(got.size).toBe(buf.length);
      if (want.member === null) {
        expect(got.error).toMatch(/no \.\/backup\.json/);
        expect(got.errorCode).toBe('NO_BACKUP_JSON');
        expect(got.slug).toBeUndefined();
        return;
      }
      expect(got.error).toBeUndefined();
      expect(got.member).toBe(want.member);
      const f = want.fields!;
      expect(got).toMatchObject({
        slug: f.slug,
        name: f.name,
        date: f.date,
        type: f.type,
        protected: f.protected,
        homeAssistantVersion: f.homeAssistantVersion,
        folders: f.folders,
      });
      expect(got.addons!.map((a) => a.slug)).toEqual(f.addons);
      if (want.member === 'backup.json') {
        expect(got.warnings?.join()).toMatch(/without '\.\/'.*Supervisor would not accept/);
      } else {
        expect(got.warnings).toBeUndefined();
      }
    });

    it(`${short}: a copy cut in the middle of the first member → TAR_TRUNCATED error entry`, async () => {
      const buf = readFileSync(file);
      const first = (await walkTar(bufferReader(buf).read, buf.length).next()).value!;
      const cut = buf.subarray(0, first.offset + Math.floor(first.size / 2));
      const got = await describeBuf(cut, basename(file));
      expect(got.errorCode).toBe('TAR_TRUNCATED');
      expect(got.error).toBeTruthy();
      expect(got.size).toBe(cut.length);
    });

    it(`${short}: a copy cut in the middle of the file never throws`, async () => {
      const buf = readFileSync(file);
      const got = await describeBuf(buf.subarray(0, buf.length >> 1), basename(file));
      expect(got.slug !== undefined || got.error !== undefined).toBe(true);
    });
  }

  it('known values of the Supervisor fixtures', async () => {
    const got = await describeBuf(readFileSync(join(HA_CORPUS, 'supervisor_fixtures/backup_example.tar')), 'backup_example.tar');
    expect(got).toMatchObject({
      slug: '7fed74c8',
      name: 'Example',
      type: 'partial',
      protected: false,
      compressed: true,
      homeAssistantVersion: null,
      supervisorVersion: '2024.11.5.dev2102',
      version: 2,
      addons: [{ slug: 'a0d7b954_example', name: 'Example', version: '9.0.1' }],
      member: './backup.json',
    });
    const enc = await describeBuf(readFileSync(join(HA_CORPUS, 'supervisor_fixtures/backup_example_enc.tar')), 'x.tar');
    expect(enc).toMatchObject({ slug: '93b462f8', protected: true, folders: ['ssl'] });
  });

  it('reads only headers and backup.json', async () => {
    const buf = readFileSync(join(HA_CORPUS, 'securetar_fixtures/backup_no_final_tag.tar'));
    const { read, stats } = bufferReader(buf);
    const got = await describeBackup(read, buf.length, 'backup_no_final_tag.tar');
    expect(got.errorCode).toBe('NO_BACKUP_JSON');
    expect(stats.bytes).toBeLessThan(8192);
  });

  it('a byte flipped in the backup.json header → TAR_BAD_HEADER error entry', async () => {
    const buf = Buffer.from(readFileSync(join(HA_CORPUS, 'supervisor_fixtures/backup_example.tar')));
    let headerOffset = -1;
    for await (const e of walkTar(bufferReader(buf).read, buf.length)) if (e.name === './backup.json') headerOffset = e.headerOffset;
    buf[headerOffset + 5]! ^= 0x40;
    const got = await describeBuf(buf, 'backup_example.tar');
    expect(got.errorCode).toBe('TAR_BAD_HEADER');
    expect(got.error).toContain(`offset ${headerOffset}`);
  });

  it('a gzip file and a non-.tar name are errors, not throws', async () => {
    const gz = readFileSync(join(HA_CORPUS, 'supervisor_fixtures/backup_local_ssh_running.tar.gz'));
    const got = await describeBuf(gz, 'backup_local_ssh_running.tar.gz');
    expect(got.error).toContain('the Supervisor only lists *.tar files');
    expect(got.error).toContain('gzip');
    expect(got.errorCode).toBe('NOT_A_TAR_NAME');

    const good = await describeBuf(readFileSync(join(HA_CORPUS, 'supervisor_fixtures/backup_example.tar')), 'backup_example.TAR');
    expect(good.slug).toBe('7fed74c8');
    expect(good.error).toBe('the Supervisor only lists *.tar files');
  });
});

// ---------- crafted archives ----------

function tarOf(members: Array<[string, Buffer | string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, content] of members) {
    const data = Buffer.from(content);
    const h = Buffer.alloc(512);
    h.write(name, 0, 100);
    h.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
    h.write('0', 156, 'latin1');
    h.write('ustar\x0000', 257, 'latin1');
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    parts.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}
const MIN = { slug: 'abcd1234', name: 'n', date: '2025-01-01T00:00:00+00:00', type: 'full' };
const json = (o: unknown): Buffer => Buffer.from(JSON.stringify(o));

describe('describeBackup on crafted tars', () => {
  it('legacy ./snapshot.json is read', async () => {
    const got = await describeBuf(tarOf([['./snapshot.json', json(MIN)]]), 'old.tar');
    expect(got).toMatchObject({ slug: 'abcd1234', member: './snapshot.json', version: 1, supervisorVersion: '2022.08.3' });
    expect(got.error).toBeUndefined();
  });

  it('of two ./backup.json the later is read, as Python\'s tarfile (the Supervisor\'s) finds it', async () => {
    const got = await describeBuf(
      tarOf([
        ['./backup.json', json({ ...MIN, slug: 'first' })],
        ['./backup.json', json({ ...MIN, slug: 'later' })],
      ]),
      'twice.tar',
    );
    expect(got).toMatchObject({ slug: 'later', member: './backup.json' });
  });

  it('so are one backup\'s archives read (backup ls, cat, extract --decrypt)', async () => {
    const buf = tarOf([
      ['./backup.json', json({ ...MIN, slug: 'first' })],
      ['./backup.json', json({ ...MIN, slug: 'later' })],
    ]);
    const archive = await readBackupArchive(bufferReader(buf).read, buf.length);
    expect(archive.meta).toMatchObject({ slug: 'later' });
  });

  it('./backup.json wins over an earlier bare backup.json', async () => {
    const got = await describeBuf(
      tarOf([
        ['backup.json', json({ ...MIN, slug: 'bare' })],
        ['./backup.json', json({ ...MIN, slug: 'real' })],
      ]),
      'b.tar',
    );
    expect(got).toMatchObject({ slug: 'real', member: './backup.json' });
    expect(got.warnings).toBeUndefined();
  });

  it('a backup.json nested 100,000 deep is an error entry, not a stack overflow; 1,024 levels (orjson\'s limit) still parse', async () => {
    const deep = (n: number, leaf = '0'): string => `${'['.repeat(n)}${leaf}${']'.repeat(n)}`;
    const text = (n: number) => Buffer.from(`{"slug":"abcd1234","name":"n","date":"2025-01-01T00:00:00+00:00","type":${deep(n, '"full"')}}`);
    const got = await describeBuf(tarOf([['./backup.json', text(100_000)]]), 'b.tar');
    expect(got.errorCode).toBe('BAD_BACKUP_JSON');
    expect(got.error).toContain('nests deeper than 1024 levels');
    // One level is the top object: the "extra" value may nest 1,023 more.
    const ok = Buffer.from(`{"slug":"abcd1234","name":"n","date":"2025-01-01T00:00:00+00:00","type":"full","extra":{"x":${deep(1022)}}}`);
    expect(parseBackupJson(ok).slug).toBe('abcd1234');
    const over = Buffer.from(`{"slug":"abcd1234","name":"n","date":"2025-01-01T00:00:00+00:00","type":"full","extra":{"x":${deep(1023)}}}`);
    expect(codeOf(() => parseBackupJson(over))).toBe('BAD_BACKUP_JSON');
  });

  it('an invalid backup.json is an error entry with the reason', async () => {
    const got = await describeBuf(tarOf([['./backup.json', json({ ...MIN, type: 'weird' })]]), 'b.tar');
    expect(got.errorCode).toBe('BAD_BACKUP_JSON');
    expect(got.error).toContain('"type"');
  });

  it('a huge backup.json is refused without reading it', async () => {
    const h = tarOf([['./backup.json', '']]);
    // patch the size to 2 MiB (the data is absent: the reader must not get that far)
    const sized = Buffer.from(h.subarray(0, 512));
    sized.write(`${(2 << 20).toString(8).padStart(11, '0')}\0`, 124, 'latin1');
    sized.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of sized) sum += b;
    sized.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    const file = Buffer.concat([sized, Buffer.alloc(2 << 20), Buffer.alloc(1024)]);
    const { read, stats } = bufferReader(file);
    const got = await describeBackup(read, file.length, 'big.tar');
    expect(got.errorCode).toBe('BAD_BACKUP_JSON');
    // Headers only (the walk reads every member's header, for damage after backup.json), never its 2 MiB.
    expect(stats.bytes).toBeLessThanOrEqual(3 * 512);
  });

  it('a backup cut short after its backup.json is described, and said damaged (it was listed as whole)', async () => {
    const whole = tarOf([['./backup.json', json(MIN)], ['./homeassistant.tar.gz', 'x'.repeat(5000)]]);
    const cut = whole.subarray(0, 512 * 4);
    const got = await describeBuf(cut, 'cut.tar');
    expect(got.slug).toBe(MIN.slug);
    expect(got.error).toBeUndefined();
    expect(got.damaged).toBe('tar member "./homeassistant.tar.gz" at offset 1024 has 5000 bytes of data but the file ends at 2048');
    expect((await describeBuf(whole, 'whole.tar')).damaged).toBeUndefined();
  });

  it('garbage never throws', async () => {
    const got = await describeBuf(Buffer.alloc(3000, 0x41), 'junk.tar');
    expect(got.errorCode).toBe('TAR_BAD_HEADER');
    // Said as empty (it was "no ./backup.json in the archive").
    const empty = await describeBuf(Buffer.alloc(0), 'empty.tar');
    expect(empty.errorCode).toBe('EMPTY_BACKUP');
    expect(empty.error).toMatch(/the file is empty \(0 bytes\)/);
  });

  it('I/O errors are thrown, not listed', async () => {
    const read: ReadAt = async () => {
      throw new Error('EIO');
    };
    await expect(describeBackup(read, 10240, 'x.tar')).rejects.toThrow('EIO');
  });
});

// ---------- parseBackupJson ----------

describe('parseBackupJson', () => {
  it('defaults per SCHEMA_BACKUP', () => {
    expect(parseBackupJson(json(MIN))).toEqual({
      ...MIN,
      protected: false,
      homeAssistantVersion: null,
      compressed: true,
      addons: [],
      folders: [],
      supervisorVersion: '2022.08.3',
      version: 1,
      extra: {},
    });
  });

  it('a Core backup.json (Core test_util sample)', () => {
    const meta = parseBackupJson(
      Buffer.from(
        '{"compressed":true,"date":"2024-11-22T11:48:48.727189+01:00","homeassistant":{"exclude_database":true,"version":"2024.12.0.dev0"},"name":"test","protected":true,"slug":"455645fe","type":"partial","version":2,"extra":{"instance_id":"abc"}}',
      ),
    );
    expect(meta).toMatchObject({ homeAssistantVersion: '2024.12.0.dev0', protected: true, version: 2, extra: { instance_id: 'abc' } });
  });

  it('required fields', () => {
    for (const key of ['slug', 'name', 'date', 'type'] as const) {
      const o: Record<string, unknown> = { ...MIN };
      delete o[key];
      expect(() => parseBackupJson(json(o))).toThrow(`"${key}" is missing`);
      expect(codeOf(() => parseBackupJson(json({ ...MIN, [key]: 5 })))).toBe('BAD_BACKUP_JSON');
    }
  });

  it('legacy protected: any non-bool → true', () => {
    expect(parseBackupJson(json({ ...MIN, protected: 'c2VjcmV0' })).protected).toBe(true);
    expect(parseBackupJson(json({ ...MIN, protected: null })).protected).toBe(true);
    expect(parseBackupJson(json({ ...MIN, protected: false })).protected).toBe(false);
  });

  it('homeassistant without version → null; non-object → invalid', () => {
    expect(parseBackupJson(json({ ...MIN, homeassistant: {} })).homeAssistantVersion).toBeNull();
    expect(parseBackupJson(json({ ...MIN, homeassistant: { size: 3 } })).homeAssistantVersion).toBeNull();
    expect(parseBackupJson(json({ ...MIN, homeassistant: { version: '2025.1.0' } })).homeAssistantVersion).toBe('2025.1.0');
    expect(codeOf(() => parseBackupJson(json({ ...MIN, homeassistant: 'x' })))).toBe('BAD_BACKUP_JSON');
  });

  it('folders: legacy "homeassistant" dropped, unknown or duplicate refused', () => {
    expect(parseBackupJson(json({ ...MIN, folders: ['homeassistant', 'ssl', 'addons/local'] })).folders).toEqual(['ssl', 'addons/local']);
    expect(() => parseBackupJson(json({ ...MIN, folders: ['etc'] }))).toThrow('"folders"');
    expect(() => parseBackupJson(json({ ...MIN, folders: ['ssl', 'ssl'] }))).toThrow('twice');
  });

  it('addons: version required, slugs unique, extra keys dropped', () => {
    const a = { slug: 's', name: 'S', version: '1.0', size: 0.5, junk: 1 };
    expect(parseBackupJson(json({ ...MIN, addons: [a] })).addons).toEqual([{ slug: 's', name: 'S', version: '1.0' }]);
    expect(() => parseBackupJson(json({ ...MIN, addons: [{ slug: 's', name: 'S' }] }))).toThrow('addons[0].version is missing');
    expect(() => parseBackupJson(json({ ...MIN, addons: [a, a] }))).toThrow('twice');
  });

  it('version, compressed, crypto, extra', () => {
    expect(parseBackupJson(json({ ...MIN, version: '2' })).version).toBe(2);
    expect(codeOf(() => parseBackupJson(json({ ...MIN, version: 3 })))).toBe('BAD_BACKUP_JSON');
    expect(parseBackupJson(json({ ...MIN, compressed: 'false' })).compressed).toBe(false);
    expect(codeOf(() => parseBackupJson(json({ ...MIN, compressed: 'maybe' })))).toBe('BAD_BACKUP_JSON');
    expect(parseBackupJson(json({ ...MIN, crypto: 'aes128' })).slug).toBe('abcd1234');
    expect(codeOf(() => parseBackupJson(json({ ...MIN, crypto: 'aes256' })))).toBe('BAD_BACKUP_JSON');
    expect(codeOf(() => parseBackupJson(json({ ...MIN, extra: [] })))).toBe('BAD_BACKUP_JSON');
  });

  it('not JSON, not an object, not UTF-8, BOM', () => {
    expect(() => parseBackupJson(Buffer.from('{"slug":'))).toThrow('not valid JSON');
    expect(() => parseBackupJson(Buffer.from('[]'))).toThrow('not a JSON object');
    expect(() => parseBackupJson(Buffer.from([0x7b, 0xff, 0x7d]))).toThrow('UTF-8');
    expect(parseBackupJson(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), json(MIN)])).slug).toBe('abcd1234');
  });
});

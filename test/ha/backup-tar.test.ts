import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findTarMember, walkTar, type ReadAt, type TarEntry } from '../../src/ha/backup-tar.js';
import { HA_CORPUS } from '../helpers/corpus.js';

const TAR_DIRS = ['supervisor_fixtures', 'securetar_fixtures', 'librun_ha-backup-tool_test_data'];
const corpusTars = TAR_DIRS.flatMap((d) => {
  const dir = join(HA_CORPUS, d);
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.tar')).sort().map((f) => join(dir, f)) : [];
});
const hasGnuTar = (() => {
  try {
    return execFileSync('tar', ['--version'], { encoding: 'utf8' }).includes('GNU tar');
  } catch {
    return false;
  }
})();

const work = mkdtempSync(join(tmpdir(), 'haos-rescue-backup-tar-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A reader over a Buffer that counts the bytes it hands out. */
function bufferReader(buf: Buffer): { read: ReadAt; stats: { bytes: number; calls: number } } {
  const stats = { bytes: 0, calls: 0 };
  const read: ReadAt = async (offset, length) => {
    stats.calls++;
    const out = buf.subarray(offset, Math.min(buf.length, offset + length));
    stats.bytes += out.length;
    return out;
  };
  return { read, stats };
}

/** A reader over a file on disk (for the big generated tar) that counts the bytes read. */
async function fileReader(path: string) {
  const fh = await open(path, 'r');
  const { size } = await fh.stat();
  const stats = { bytes: 0, calls: 0 };
  const read: ReadAt = async (offset, length) => {
    stats.calls++;
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, offset);
    stats.bytes += bytesRead;
    return buf.subarray(0, bytesRead);
  };
  return { read, stats, size, close: () => fh.close() };
}

async function entries(buf: Buffer, maxHeaders?: number): Promise<TarEntry[]> {
  const out: TarEntry[] = [];
  for await (const e of walkTar(bufferReader(buf).read, buf.length, maxHeaders ? { maxHeaders } : {})) out.push(e);
  return out;
}

async function codeOfAsync(p: Promise<unknown>): Promise<{ code: string; details: Record<string, unknown>; message: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as { code?: string; details?: Record<string, unknown>; message: string };
    return { code: e.code ?? `not an AppError: ${String(err)}`, details: e.details ?? {}, message: e.message };
  }
  throw new Error('expected an error');
}

const gnuList = (file: string): string[] => execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).split('\n').filter(Boolean);
const gnuExtract = (file: string, member: string): Buffer =>
  execFileSync('tar', ['-xOf', file, member], { maxBuffer: 64 << 20 });
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

// ---------- hand-made headers ----------

interface HeaderSpec {
  name: string;
  size?: number;
  type?: string;
  prefix?: string;
  magic?: 'ustar' | 'gnu' | 'v7';
  /** Raw 12-byte size field (overrides size). */
  sizeField?: Buffer;
  /** Store the signed checksum instead of the unsigned one. */
  signedChecksum?: boolean;
}

function header(spec: HeaderSpec): Buffer {
  const h = Buffer.alloc(512);
  h.write(spec.name, 0, 100, 'utf8');
  h.write('0000644\0', 100, 'latin1');
  h.write('0000000\0', 108, 'latin1');
  h.write('0000000\0', 116, 'latin1');
  if (spec.sizeField) spec.sizeField.copy(h, 124);
  else h.write(`${(spec.size ?? 0).toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  h.write('14724545632\0', 136, 'latin1');
  h.write(spec.type ?? '0', 156, 'latin1');
  if (spec.magic !== 'v7') {
    if (spec.magic === 'gnu') h.write('ustar  \0', 257, 'latin1');
    else h.write('ustar\x0000', 257, 'latin1');
  }
  if (spec.prefix) h.write(spec.prefix, 345, 155, 'utf8');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += spec.signedChecksum && b > 127 ? b - 256 : b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}

const pad = (data: Buffer): Buffer => Buffer.concat([data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
const member = (spec: HeaderSpec, data: Buffer = Buffer.alloc(0)): Buffer =>
  Buffer.concat([header({ ...spec, size: spec.size ?? data.length }), pad(data)]);
const END = Buffer.alloc(1024);

function paxRecords(records: Record<string, string>): Buffer {
  let out = '';
  for (const [k, v] of Object.entries(records)) {
    const body = ` ${k}=${v}\n`;
    let len = Buffer.byteLength(body) + 1;
    while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
    out += `${len}${body}`;
  }
  return Buffer.from(out, 'utf8');
}

// ---------- the corpus ----------

describe.skipIf(corpusTars.length === 0 || !hasGnuTar)('walkTar on every backup tar of the corpus', () => {
  it('found the corpus tars', () => {
    expect(corpusTars.length).toBeGreaterThanOrEqual(14);
  });

  for (const file of corpusTars) {
    const short = file.slice(HA_CORPUS.length + 1);

    it(`${short}: same member names as GNU tar, data at the right offsets`, async () => {
      const buf = readFileSync(file);
      const list = await entries(buf);
      expect(list.map((e) => e.name)).toEqual(gnuList(file));
      for (const e of list.filter((x) => x.type === '0' || x.type === '\0')) {
        expect(sha(buf.subarray(e.offset, e.offset + e.size)), e.name).toBe(sha(gnuExtract(file, e.name)));
      }
    });

    it(`${short}: findTarMember matches names exactly and reads only headers`, async () => {
      const buf = readFileSync(file);
      const names = gnuList(file);
      const { read, stats } = bufferReader(buf);
      const found = await findTarMember(read, buf.length, ['./backup.json']);
      if (names.includes('./backup.json')) {
        expect(found?.name).toBe('./backup.json');
        expect(buf.subarray(found!.offset, found!.offset + found!.size)).toEqual(gnuExtract(file, './backup.json'));
      } else {
        expect(found).toBeNull();
      }
      const bare = await findTarMember(bufferReader(buf).read, buf.length, ['backup.json']);
      expect(bare?.name ?? null).toBe(names.includes('backup.json') ? 'backup.json' : null);
      // headers only: a 512-byte header per member (+ a PAX header and its payload), never member data
      expect(stats.bytes).toBeLessThanOrEqual(512 * 3 * (names.length + 1));
      expect(stats.bytes).toBeLessThan(buf.length);
    });

    it(`${short}: cut in the middle of the first member → TAR_TRUNCATED`, async () => {
      const buf = readFileSync(file);
      const [first] = await entries(buf);
      expect(first!.size).toBeGreaterThan(1);
      const cut = buf.subarray(0, first!.offset + Math.floor(first!.size / 2));
      const err = await codeOfAsync(findTarMember(bufferReader(cut).read, cut.length, ['./backup.json', 'no-such']));
      expect(err.code).toBe('TAR_TRUNCATED');
    });

    it(`${short}: cut in the middle of a header → TAR_TRUNCATED`, async () => {
      const buf = readFileSync(file);
      const list = await entries(buf);
      const last = list[list.length - 1]!;
      const next = last.offset + Math.ceil(last.size / 512) * 512;
      const cut = buf.subarray(0, next + 100);
      const err = await codeOfAsync(findTarMember(bufferReader(cut).read, cut.length, ['no-such']));
      expect(err.code).toBe('TAR_TRUNCATED');
    });

    it(`${short}: a byte flipped in a header → TAR_BAD_HEADER with the offset`, async () => {
      const buf = readFileSync(file);
      const list = await entries(buf);
      const target = list[list.length - 1]!;
      const damaged = Buffer.from(buf);
      damaged[target.headerOffset + 2]! ^= 0x01;
      const err = await codeOfAsync(findTarMember(bufferReader(damaged).read, damaged.length, ['no-such']));
      expect(err.code).toBe('TAR_BAD_HEADER');
      expect(err.details.offset).toBe(target.headerOffset);
      expect(err.message).toContain(`offset ${target.headerOffset}`);
    });
  }

  it('maxHeaders → TAR_TOO_MANY_MEMBERS', async () => {
    const file = corpusTars.find((f) => f.endsWith('test_unprotected.tar'))!;
    const buf = readFileSync(file);
    const err = await codeOfAsync(findTarMember(bufferReader(buf).read, buf.length, ['no-such'], { maxHeaders: 1 }));
    expect(err.code).toBe('TAR_TOO_MANY_MEMBERS');
  });
});

// ---------- tars written by GNU tar ----------

describe.skipIf(!hasGnuTar)('tars made by GNU tar', () => {
  it('64 MiB member before ./backup.json: the walk reads < 64 KiB', async () => {
    const dir = join(work, 'big');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'big.bin'), '');
    truncateSync(join(dir, 'big.bin'), 64 << 20);
    writeFileSync(join(dir, 'backup.json'), '{"slug":"abc"}');
    const tarPath = join(work, 'big.tar');
    execFileSync('tar', ['-C', dir, '--format=pax', '-cf', tarPath, 'big.bin', './backup.json']);
    const r = await fileReader(tarPath);
    try {
      const found = await findTarMember(r.read, r.size, ['./backup.json']);
      expect(found).toMatchObject({ name: './backup.json', size: 14 });
      expect(r.stats.bytes).toBeLessThan(64 * 1024);
      const data = await r.read(found!.offset, found!.size);
      expect(data.toString()).toBe('{"slug":"abc"}');
    } finally {
      await r.close();
      rmSync(tarPath);
    }
  });

  for (const format of ['pax', 'gnu', 'ustar'] as const) {
    it(`--format=${format}: long names (prefix / 'L' / PAX path)`, async () => {
      const dir = join(work, `long-${format}`);
      const deep = `${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(60)}`;
      mkdirSync(join(dir, deep), { recursive: true });
      const leaf = format === 'ustar' ? 'backup.json' : `${'ü'.repeat(40)}-backup.json`;
      writeFileSync(join(dir, deep, leaf), 'hello');
      const tarPath = join(work, `long-${format}.tar`);
      execFileSync('tar', ['-C', dir, `--format=${format}`, '-cf', tarPath, `./${deep}/${leaf}`]);
      const buf = readFileSync(tarPath);
      const list = await entries(buf);
      expect(list.map((e) => e.name)).toEqual(gnuList(tarPath));
      const want = `./${deep}/${leaf}`;
      const found = await findTarMember(bufferReader(buf).read, buf.length, [want]);
      expect(found).not.toBeNull();
      expect(buf.subarray(found!.offset, found!.offset + found!.size).toString()).toBe('hello');
      if (format === 'pax') expect(buf.indexOf(`path=${want}`)).toBeGreaterThan(0);
    });
  }
});

// ---------- hand-crafted headers ----------

describe('hand-crafted tars', () => {
  it('PAX size= and path= apply to the next member only; g headers are skipped', async () => {
    const tar = Buffer.concat([
      member({ name: 'pax_global_header', type: 'g' }, paxRecords({ path: 'global-ignored', comment: 'x' })),
      member({ name: './PaxHeaders/x', type: 'x' }, paxRecords({ path: './backup.json', size: '3', mtime: '1.5' })),
      member({ name: 'short', size: 999 }, Buffer.from('abc')).subarray(0, 1024),
      member({ name: 'after' }, Buffer.from('zz')),
      END,
    ]);
    const list = await entries(tar);
    expect(list.map((e) => [e.name, e.size])).toEqual([
      ['./backup.json', 3],
      ['after', 2],
    ]);
    expect(tar.subarray(list[0]!.offset, list[0]!.offset + 3).toString()).toBe('abc');
  });

  it('base-256 size: a 9 GiB member is skipped by random access', async () => {
    const big = 9 * 2 ** 30;
    const sizeField = Buffer.alloc(12);
    sizeField[0] = 0x80;
    sizeField.writeUIntBE(big, 6, 6);
    const blocks = new Map<number, Buffer>([
      [0, header({ name: 'huge.bin', sizeField, magic: 'gnu' })],
      [512 + big, header({ name: './backup.json', size: 2 })],
      [1024 + big, pad(Buffer.from('{}'))],
    ]);
    const total = 1536 + big + 1024;
    let bytes = 0;
    const read: ReadAt = async (offset, length) => {
      bytes += length;
      return blocks.get(offset)?.subarray(0, length) ?? Buffer.alloc(length);
    };
    const found = await findTarMember(read, total, ['./backup.json']);
    expect(found).toEqual({ name: './backup.json', offset: 1024 + big, size: 2 });
    expect(bytes).toBe(1024);
    const all: TarEntry[] = [];
    for await (const e of walkTar(read, total)) all.push(e);
    expect(all.map((e) => [e.name, e.size, e.type])).toEqual([
      ['huge.bin', big, '0'],
      ['./backup.json', 2, '0'],
    ]);
    // the same header in a small file is truncated
    const err = await codeOfAsync(findTarMember(read, 4096, ['./backup.json']));
    expect(err.code).toBe('TAR_TRUNCATED');
  });

  it('negative base-256 size → TAR_BAD_HEADER', async () => {
    const tar = Buffer.concat([header({ name: 'neg', sizeField: Buffer.alloc(12, 0xff) }), END]);
    expect((await codeOfAsync(entries(tar))).code).toBe('TAR_BAD_HEADER');
  });

  it('octal sizes with leading spaces and trailing NUL/space', async () => {
    const tar = Buffer.concat([
      header({ name: 'a', sizeField: Buffer.from('      3 \0\0\0\0', 'latin1') }),
      pad(Buffer.from('xyz')),
      header({ name: 'b', sizeField: Buffer.from('\0\0\0\0\0\0\0\0\0\0\0\0', 'latin1') }),
      END,
    ]);
    expect((await entries(tar)).map((e) => [e.name, e.size])).toEqual([
      ['a', 3],
      ['b', 0],
    ]);
  });

  it('bad octal digits in size → TAR_BAD_HEADER', async () => {
    const tar = Buffer.concat([header({ name: 'a', sizeField: Buffer.from('0000000009x\0', 'latin1') }), END]);
    expect((await codeOfAsync(entries(tar))).code).toBe('TAR_BAD_HEADER');
  });

  it('signed checksum is accepted; a wrong one is not', async () => {
    const good = Buffer.concat([member({ name: 'ünïcode', signedChecksum: true }, Buffer.from('1')), END]);
    expect((await entries(good)).map((e) => e.name)).toEqual(['ünïcode']);
    const bad = Buffer.from(good);
    bad.write('0000001\0', 148, 'latin1');
    const err = await codeOfAsync(entries(bad));
    expect(err.code).toBe('TAR_BAD_HEADER');
    expect(err.details.offset).toBe(0);
  });

  it('ustar prefix is used only with the POSIX magic', async () => {
    const tar = Buffer.concat([
      member({ name: 'backup.json', prefix: '.' }, Buffer.from('1')),
      member({ name: 'x', prefix: 'ignored', magic: 'gnu' }),
      member({ name: 'v7', magic: 'v7' }),
      END,
    ]);
    expect((await entries(tar)).map((e) => e.name)).toEqual(['./backup.json', 'x', 'v7']);
  });

  it("GNU 'L' long name applies to the next member; 'K' is skipped", async () => {
    const long = `./${'n'.repeat(200)}.json`;
    const tar = Buffer.concat([
      member({ name: '././@LongLink', type: 'L', magic: 'gnu' }, Buffer.from(`${long}\0`)),
      member({ name: '././@LongLink', type: 'K', magic: 'gnu' }, Buffer.from('target\0')),
      member({ name: long.slice(0, 99), magic: 'gnu' }, Buffer.from('data')),
      END,
    ]);
    expect(await findTarMember(bufferReader(tar).read, tar.length, [long])).toEqual({ name: long, offset: 2560, size: 4 });
  });

  it('directories and links carry no data even with a size field', async () => {
    const tar = Buffer.concat([header({ name: 'dir/', type: '5', size: 1024 }), member({ name: 'f' }, Buffer.from('x')), END]);
    expect((await entries(tar)).map((e) => [e.name, e.size, e.offset])).toEqual([
      ['dir/', 0, 512],
      ['f', 1, 1024],
    ]);
  });

  it('ends at the first zero block, or exactly at end of file', async () => {
    const one = member({ name: 'a' }, Buffer.from('1'));
    expect((await entries(Buffer.concat([one, Buffer.alloc(512), member({ name: 'hidden' })]))).map((e) => e.name)).toEqual(['a']);
    expect((await entries(one)).map((e) => e.name)).toEqual(['a']);
    expect(await entries(Buffer.alloc(0))).toEqual([]);
  });

  it('member data without its padding at the end of file is truncated', async () => {
    const tar = Buffer.concat([header({ name: 'a', size: 100 }), Buffer.alloc(50)]);
    expect((await codeOfAsync(entries(tar))).code).toBe('TAR_TRUNCATED');
  });

  it('a short read is reported as truncation', async () => {
    const tar = member({ name: 'a' }, Buffer.from('1'));
    const err = await codeOfAsync(findTarMember(bufferReader(tar).read, tar.length + 4096, ['no-such']));
    expect(err.code).toBe('TAR_TRUNCATED');
  });

  it('malformed PAX record → TAR_BAD_HEADER', async () => {
    const tar = Buffer.concat([member({ name: 'p', type: 'x' }, Buffer.from('99 path=x\n')), member({ name: 'a' }), END]);
    expect((await codeOfAsync(entries(tar))).code).toBe('TAR_BAD_HEADER');
  });

  it('a gzip file is named as such', async () => {
    const gz = Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0]), Buffer.alloc(1020, 7)]);
    const err = await codeOfAsync(entries(gz));
    expect(err.code).toBe('TAR_BAD_HEADER');
    expect(err.message).toContain('gzip');
  });
});

// SecureTar on real backups (shared corpus, ha/MANIFEST.md): the Supervisor's v2 and v3 fixtures, a backup
// stored both encrypted and plain, a v1 backup made by another tool, upstream's damaged v3 fixtures and its
// legacy v1 fixture. Plaintexts are checked by what they contain (gunzipped, walked as tars, compared with
// tar_data/), not only by not failing.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants, gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { walkTar } from '../../src/ha/backup-tar.js';
import { decryptSecureTar, looksPlain, parseSecureTarHeader, SecureTarKey } from '../../src/ha/securetar/index.js';
import { HA_CORPUS } from '../helpers/corpus.js';

const SUP = join(HA_CORPUS, 'supervisor_fixtures');
const ST = join(HA_CORPUS, 'securetar_fixtures');
const LIBRUN = join(HA_CORPUS, 'librun_ha-backup-tool_test_data');
const hasCorpus = existsSync(join(ST, 'backup_truncated.tar')) && existsSync(join(SUP, 'backup_example_sec_v3.tar'));
const LARGE_FILE = hasCorpus ? readFileSync(join(ST, 'tar_data/large_file')) : Buffer.alloc(0);

/** The members of an uncompressed tar (through walkTar), name → bytes. */
async function members(tar: Buffer): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const read = async (offset: number, length: number): Promise<Buffer> => tar.subarray(offset, Math.min(tar.length, offset + length));
  for await (const m of walkTar(read, tar.length)) out.set(m.name, tar.subarray(m.offset, m.offset + m.size));
  return out;
}

const outerMembers = (path: string): Promise<Map<string, Buffer>> => members(readFileSync(path));

async function member(path: string, name: string): Promise<Buffer> {
  const m = (await outerMembers(path)).get(name);
  if (!m) throw new Error(`${path} has no member ${name}`);
  return m;
}

function source(buf: Buffer, piece = 4096): { it: AsyncIterable<Buffer>; stats: { pulled: number } } {
  const stats = { pulled: 0 };
  const it = (async function* () {
    for (let i = 0; i < buf.length; i += piece) {
      stats.pulled += Math.min(piece, buf.length - i);
      yield buf.subarray(i, i + piece);
    }
  })();
  return { it, stats };
}

async function drain(gen: AsyncGenerator<Buffer>): Promise<{ out: Buffer; err: (Error & { code?: string; exitCode?: number; details?: Record<string, unknown> }) | null }> {
  const parts: Buffer[] = [];
  try {
    for await (const p of gen) parts.push(Buffer.from(p));
    return { out: Buffer.concat(parts), err: null };
  } catch (err) {
    return { out: Buffer.concat(parts), err: err as Error };
  }
}

async function decrypt(inner: Buffer, key: SecureTarKey): Promise<Buffer> {
  const r = await drain(decryptSecureTar(source(inner).it, key));
  if (r.err) throw r.err;
  return r.out;
}

/** Strictly gunzipped (CRC and length checked by zlib), then walked. */
const gunzipTar = (gz: Buffer): Promise<Map<string, Buffer>> => members(gunzipSync(gz));

/** Decompresses as much of a cut gzip stream as there is (no trailer check). */
const gunzipPrefix = (gz: Buffer): Buffer => gunzipSync(gz, { finishFlush: constants.Z_SYNC_FLUSH });

/** Where large_file's data starts in the tar, from its header (the first 512-byte header naming it). */
function largeFileData(tar: Buffer): Buffer {
  for (let off = 0; off + 512 <= tar.length; off += 512) {
    if (tar.subarray(off, off + 100).toString('latin1').replace(/\0.*$/s, '').replace(/^\.\//, '') === 'large_file') return tar.subarray(off + 512);
  }
  throw new Error('no large_file header in the recovered part');
}

describe.skipIf(!hasCorpus)('SecureTar corpus (needs ../shared/corpora/ha)', () => {
  it('v2: backup_example_enc.tar (password "test") holds the (empty) ssl folder', async () => {
    const inner = await member(join(SUP, 'backup_example_enc.tar'), 'ssl.tar.gz');
    expect(parseSecureTarHeader(inner)).toEqual({ version: 2, headerSize: 48, plaintextSize: 199 });
    expect(looksPlain(inner)).toBe(false);
    const gz = await decrypt(inner, new SecureTarKey('test'));
    expect(gz.length).toBe(199);
    expect([...(await gunzipTar(gz)).keys()]).toEqual(['./']);
  });

  it('v3: backup_example_sec_v3.tar (password "supervisor") holds the example app with its addon.json', async () => {
    const inner = await member(join(SUP, 'backup_example_sec_v3.tar'), 'a0d7b954_example.tar.gz');
    const header = parseSecureTarHeader(inner);
    expect(header).toMatchObject({ version: 3, headerSize: 136 });
    const gz = await decrypt(inner, new SecureTarKey('supervisor'));
    expect(gz.length).toBe(header.plaintextSize);
    const files = await gunzipTar(gz);
    const addon = JSON.parse(files.get('./addon.json')!.toString('utf8')) as { version?: string };
    expect(addon.version).toBe('9.0.1');
  });

  it('test_consolidate.tar decrypts to the tar of its unencrypted twin', async () => {
    const enc = await member(join(SUP, 'test_consolidate.tar'), 'ssl.tar.gz');
    const plain = await member(join(SUP, 'test_consolidate_unc.tar'), 'ssl.tar.gz');
    expect(looksPlain(plain)).toBe(true);
    const gz = await decrypt(enc, new SecureTarKey('test'));
    // The gzip headers differ in their mtime; the tars inside are the same bytes.
    expect(gunzipSync(gz).equals(gunzipSync(plain))).toBe(true);
  });

  it('v1 written by ha-backup-tool (emergency-kit key): its split gzip trailer is put back, the tar is its test.txt', async () => {
    const inner = await member(join(LIBRUN, 'test_protected.tar'), 'test.tar.gz');
    expect(parseSecureTarHeader(inner)).toEqual({ version: 1, headerSize: 16, plaintextSize: null });
    const files = await gunzipTar(await decrypt(inner, new SecureTarKey('XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX')));
    const txt = [...files.entries()].find(([name]) => name.endsWith('test.txt'));
    expect(txt?.[1].equals(readFileSync(join(LIBRUN, 'test_unencrypt/test.txt')))).toBe(true);
  });

  it('legacy v1 (raw key 0123456789abcdef): three members, each a valid gzip of tar_data', async () => {
    const outer = await outerMembers(join(ST, 'backup_encrypted_gzipped_legacy_format.tar'));
    expect([...outer.keys()].sort()).toEqual(['core.tar.gz', 'core2.tar.gz', 'core3.tar.gz']);
    const key = SecureTarKey.fromRawKey(Buffer.from('0123456789abcdef', 'latin1'));
    for (const inner of outer.values()) {
      const files = await gunzipTar(await decrypt(inner, key));
      expect([...files.keys()].sort()).toEqual(['./', 'README.md', 'test1/', 'test1/script.sh', 'test_symlink']);
      expect(files.get('README.md')!.equals(readFileSync(join(ST, 'tar_data/README.md')))).toBe(true);
      expect(files.get('test1/script.sh')!.equals(readFileSync(join(ST, 'tar_data/test1/script.sh')))).toBe(true);
    }
  });

  it('truncated v3: BACKUP_DAMAGED "cut short" after the three whole messages, which hold the start of large_file', async () => {
    const inner = await member(join(ST, 'backup_truncated.tar'), 'core_truncated.tar.gz');
    expect(inner.equals(readFileSync(join(ST, 'core_truncated.tar.gz')))).toBe(true);
    const r = await drain(decryptSecureTar(source(inner).it, new SecureTarKey('hunter2')));
    expect(r.err?.code).toBe('BACKUP_DAMAGED');
    expect(r.err?.exitCode).toBe(65);
    expect(r.err?.details).toMatchObject({ version: 3, damage: 'cut short', deliveredBytes: 3 * 1024 * 1024 });
    expect(r.out.length).toBe(3 * 1024 * 1024);
    const data = largeFileData(gunzipPrefix(r.out));
    const n = Math.min(data.length, LARGE_FILE.length);
    expect(n).toBeGreaterThan(2 * 1024 * 1024);
    expect(data.subarray(0, n).equals(LARGE_FILE.subarray(0, n))).toBe(true);
  });

  it('v3 without a final tag: every message is delivered (all of large_file), then "missing final tag"', async () => {
    const inner = await member(join(ST, 'backup_no_final_tag.tar'), 'core_no_final_tag.tar.gz');
    const r = await drain(decryptSecureTar(source(inner).it, new SecureTarKey('hunter2')));
    expect(r.err?.details).toMatchObject({ version: 3, damage: 'missing final tag' });
    expect(r.out.length).toBe(parseSecureTarHeader(inner).plaintextSize);
    const files = await gunzipTar(r.out);
    expect([...files.keys()]).toEqual(['./', 'README.md', 'test_symlink', 'large_file', 'test1/', 'test1/script.sh']);
    expect(files.get('large_file')!.equals(LARGE_FILE)).toBe(true);
  });

  it('v3 with an early final tag: the first message, then "unexpected final tag"', async () => {
    const inner = await member(join(ST, 'backup_early_final_tag.tar'), 'core_early_final_tag.tar.gz');
    const r = await drain(decryptSecureTar(source(inner).it, new SecureTarKey('hunter2')));
    expect(r.err?.details).toMatchObject({ version: 3, damage: 'unexpected final tag', deliveredBytes: 1024 * 1024 });
    const data = largeFileData(gunzipPrefix(r.out));
    expect(data.length).toBeGreaterThan(0);
    expect(data.equals(LARGE_FILE.subarray(0, data.length))).toBe(true);
  });

  it('v3 header without a body: "ciphertext too short", nothing delivered', async () => {
    const inner = await member(join(ST, 'backup_empty.tar'), 'core_empty.tar.gz');
    expect(inner.length).toBe(136);
    const r = await drain(decryptSecureTar(source(inner).it, new SecureTarKey('hunter2')));
    expect(r.err?.details).toMatchObject({ version: 3, damage: 'ciphertext too short', deliveredBytes: 0 });
    expect(r.out.length).toBe(0);
  });

  it('a wrong password is refused for v1, v2 and v3 corpus members without yielding anything', async () => {
    const cases: [Buffer, string][] = [
      [await member(join(LIBRUN, 'test_protected.tar'), 'test.tar.gz'), 'XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXY'],
      [await member(join(SUP, 'backup_example_enc.tar'), 'ssl.tar.gz'), 'Test'],
      [await member(join(SUP, 'backup_example_sec_v3.tar'), 'a0d7b954_example.tar.gz'), 'hunter2'],
      [await member(join(ST, 'backup_truncated.tar'), 'core_truncated.tar.gz'), 'supervisor'],
    ];
    for (const [inner, password] of cases) {
      const src = source(inner, 1024);
      const r = await drain(decryptSecureTar(src.it, new SecureTarKey(password)));
      expect(r.err?.code).toBe('WRONG_PASSWORD');
      expect(r.err?.exitCode).toBe(77);
      expect(r.out.length).toBe(0);
      expect(src.stats.pulled).toBeLessThanOrEqual(1024);
    }
  });
});

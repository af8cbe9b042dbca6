// SecureTar against an independent implementation (test/helpers/securetar_ref.py: argon2-cffi, PyNaCl's
// libsodium, `openssl enc`): what we encrypt it decrypts, what it encrypts we decrypt, and both agree on the
// corpus members. Skipped, with the reason, where python3 lacks nacl or argon2 (Debian: python3-nacl,
// python3-argon2) or openssl is missing.

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { walkTar } from '../../src/ha/backup-tar.js';
import { decryptSecureTar, encryptSecureTar, SecureTarKey } from '../../src/ha/securetar/index.js';
import { HA_CORPUS } from '../helpers/corpus.js';

const REF = fileURLToPath(new URL('../helpers/securetar_ref.py', import.meta.url));
const MiB = 1024 * 1024;

/** The first python3 that has what the reference needs, or why there is none. */
const python = ((): { bin: string | null; why: string } => {
  const tried: string[] = [];
  for (const bin of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(bin, [REF, 'check'], { encoding: 'utf8' });
    if (r.status === 0) return { bin, why: '' };
    tried.push(`${bin}: ${(r.error?.message ?? r.stderr).trim().split('\n').pop()}`);
  }
  return { bin: null, why: tried.join('; ') };
})();

const work = mkdtempSync(join(tmpdir(), 'haos-rescue-securetar-ref-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let n = 0;

/** Runs the reference on `input`; returns its exit code and output file. */
function ref(args: string[], input: Buffer): { status: number | null; out: Buffer; stderr: string } {
  const inFile = join(work, `in-${++n}`);
  const outFile = join(work, `out-${n}`);
  writeFileSync(inFile, input);
  const r = spawnSync(python.bin!, [REF, ...args, inFile, outFile], { encoding: 'utf8' });
  return { status: r.status, out: existsSync(outFile) ? readFileSync(outFile) : Buffer.alloc(0), stderr: r.stderr };
}

async function* pieces(buf: Buffer, size = 65536): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

async function oursEncrypt(plain: Buffer, key: SecureTarKey, version: 2 | 3): Promise<Buffer> {
  const enc = await encryptSecureTar(pieces(plain), key, { version });
  const body: Buffer[] = [];
  for await (const b of enc.body) body.push(b);
  return Buffer.concat([enc.finalHeader(), ...body]);
}

async function oursDecrypt(member: Buffer, key: SecureTarKey): Promise<{ out: Buffer; code: string | null }> {
  const parts: Buffer[] = [];
  try {
    for await (const p of decryptSecureTar(pieces(member), key)) parts.push(Buffer.from(p));
    return { out: Buffer.concat(parts), code: null };
  } catch (err) {
    return { out: Buffer.concat(parts), code: (err as { code?: string }).code ?? String(err) };
  }
}

const gzipish = (size: number): Buffer => Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08]), randomBytes(size)]).subarray(0, size);
// Around and on the 1 MiB message boundary, odd lengths for the Poly1305 path, a multiple of 16 for AES.
const SIZES = [3, 1000, 4096, MiB, MiB + 9, 2 * MiB, Math.round(3.5 * MiB)];
const password = 'Päss wörd ✓';

describe.skipIf(python.bin === null)(`SecureTar against the reference implementation${python.bin === null ? ` (skipped: ${python.why})` : ''}`, () => {
  for (const version of [2, 3] as const) {
    it(`v${version}: the reference decrypts what we encrypt, at every size`, async () => {
      const key = new SecureTarKey(password);
      for (const size of SIZES) {
        const plain = gzipish(size);
        const r = ref(['decrypt', '--password', password], await oursEncrypt(plain, key, version));
        expect(r.status, `${size} bytes: ${r.stderr}`).toBe(0);
        expect(r.out.equals(plain), `${size} bytes`).toBe(true);
      }
    });

    it(`v${version}: we decrypt what the reference encrypts, at every size`, async () => {
      const key = new SecureTarKey(password);
      for (const size of SIZES) {
        const plain = gzipish(size);
        const r = ref(['encrypt', '--version', String(version), '--password', password], plain);
        expect(r.status, r.stderr).toBe(0);
        const ours = await oursDecrypt(r.out, key);
        expect(ours.code, `${size} bytes`).toBeNull();
        expect(ours.out.equals(plain), `${size} bytes`).toBe(true);
      }
    });
  }

  it('v3: an empty plaintext both ways', async () => {
    const r = ref(['decrypt', '--password', password], await oursEncrypt(Buffer.alloc(0), new SecureTarKey(password), 3));
    expect(r.status, r.stderr).toBe(0);
    expect(r.out.length).toBe(0);
    const e = ref(['encrypt', '--version', '3', '--password', password], Buffer.alloc(0));
    expect(e.out.length).toBe(136 + 17);
    expect(await oursDecrypt(e.out, new SecureTarKey(password))).toEqual({ out: Buffer.alloc(0), code: null });
  });

  it('v1: we decrypt what the reference encrypts, with a password and with a raw key', async () => {
    const plain = gzipish(MiB + 5);
    const byPassword = ref(['encrypt', '--version', '1', '--password', password], plain);
    expect((await oursDecrypt(byPassword.out, new SecureTarKey(password))).out.equals(plain)).toBe(true);
    const raw = randomBytes(16);
    const byKey = ref(['encrypt', '--version', '1', '--raw-key', raw.toString('hex')], plain);
    expect((await oursDecrypt(byKey.out, SecureTarKey.fromRawKey(raw))).out.equals(plain)).toBe(true);
    expect((await oursDecrypt(byKey.out, new SecureTarKey(password))).code).toBe('WRONG_PASSWORD');
  });

  it('both refuse the other one\'s archives for a wrong password, and tampered v3 data', async () => {
    const plain = gzipish(2 * MiB + 3);
    for (const version of [2, 3] as const) {
      const theirs = ref(['encrypt', '--version', String(version), '--password', password], plain).out;
      expect((await oursDecrypt(theirs, new SecureTarKey('nope'))).code).toBe('WRONG_PASSWORD');
      const ours = await oursEncrypt(plain, new SecureTarKey(password), version);
      expect(ref(['decrypt', '--password', 'nope'], ours).status).toBe(3);
    }
    const ours = await oursEncrypt(plain, new SecureTarKey(password), 3);
    ours[136 + MiB + 17 + 5]! ^= 0x10;
    expect(ref(['decrypt', '--password', password], ours).status).toBe(4);
    const back = await oursDecrypt(ours, new SecureTarKey(password));
    expect(back.code).toBe('BACKUP_DAMAGED');
    expect(back.out.equals(plain.subarray(0, MiB))).toBe(true);
  });

  it.skipIf(!existsSync(join(HA_CORPUS, 'supervisor_fixtures')))('both give the same plaintext for the corpus members', async () => {
    const cases: [string, string, string][] = [
      ['supervisor_fixtures/backup_example_enc.tar', 'ssl.tar.gz', 'test'],
      ['supervisor_fixtures/backup_example_sec_v3.tar', 'a0d7b954_example.tar.gz', 'supervisor'],
      ['supervisor_fixtures/test_consolidate.tar', 'ssl.tar.gz', 'test'],
    ];
    for (const [file, name, pw] of cases) {
      const tar = readFileSync(join(HA_CORPUS, file));
      const read = async (o: number, l: number): Promise<Buffer> => tar.subarray(o, o + l);
      let inner: Buffer | null = null;
      for await (const m of walkTar(read, tar.length)) if (m.name === name) inner = tar.subarray(m.offset, m.offset + m.size);
      const theirs = ref(['decrypt', '--password', pw], inner!);
      expect(theirs.status, theirs.stderr).toBe(0);
      const ours = await oursDecrypt(inner!, new SecureTarKey(pw));
      expect(ours.code).toBeNull();
      expect(ours.out.equals(theirs.out), file).toBe(true);
    }
  });
});

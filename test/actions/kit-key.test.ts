// A backup key typed from the emergency kit in small letters, with spaces or without its dashes: tried in the
// kit's form (capitals, seven groups of four) when the typed form is refused, on real v2 and v3 members.

import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { kitKeyForm, withTypedKey } from '../../src/actions/backup/key.js';
import { AppError } from '../../src/errors.js';
import { decryptSecureTar, encryptSecureTar, SecureTarKey } from '../../src/ha/securetar/index.js';

const KIT = 'HQ50-YK77-8JQY-B5CN-8NCK-S71Y-CK4R';
const plain = Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08]), randomBytes(5000)]);

async function member(version: 2 | 3): Promise<Buffer> {
  const enc = await encryptSecureTar((async function* () { yield plain; })(), new SecureTarKey(KIT), { version });
  const body: Buffer[] = [];
  for await (const b of enc.body) body.push(b);
  return Buffer.concat([enc.finalHeader(), ...body]);
}

async function open(m: Buffer, key: SecureTarKey): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const p of decryptSecureTar((async function* () { yield m; })(), key)) out.push(Buffer.from(p));
  return Buffer.concat(out);
}

describe('kitKeyForm', () => {
  it('gives the kit form of a key typed otherwise, and nothing for other passwords or the kit form itself', () => {
    expect(kitKeyForm('hq50-yk77-8jqy-b5cn-8nck-s71y-ck4r')).toBe(KIT);
    expect(kitKeyForm('HQ50 YK77 8JQY B5CN 8NCK S71Y CK4R')).toBe(KIT);
    expect(kitKeyForm(' hq50yk778jqyb5cn8ncks71yck4r\t')).toBe(KIT);
    // Copied from a PDF or a word processor: en dashes, the minus sign, a byte-order mark.
    expect(kitKeyForm('HQ50\u2013YK77\u20138JQY\u2013B5CN\u20138NCK\u2013S71Y\u2013CK4R')).toBe(KIT);
    expect(kitKeyForm('\ufeffHQ50\u2212YK77\u20148JQY-B5CN-8NCK-S71Y-CK4R\n')).toBe(KIT);
    expect(kitKeyForm(KIT)).toBeNull();
    expect(kitKeyForm('correct horse battery staple')).toBeNull();
    expect(kitKeyForm('hq50-yk77-8jqy-b5cn-8nck-s71y')).toBeNull();
    expect(kitKeyForm('hq50-yk77-8jqy-b5cn-8nck-s71y-ck4r-ab12')).toBeNull();
  });
});

describe('withTypedKey', () => {
  for (const version of [2, 3] as const) {
    it(`v${version}: the key typed in small letters with spaces opens the backup, and the kit form is said`, async () => {
      const m = await member(version);
      const said: string[] = [];
      const out = await withTypedKey('hq50 yk77 8jqy b5cn 8nck s71y ck4r', (k) => open(m, k), (kit) => said.push(kit));
      expect(out.equals(plain)).toBe(true);
      expect(said).toEqual([KIT]);
    });

    it(`v${version}: a wrong key of the kit's shape is still the wrong password, and the first refusal is the one said`, async () => {
      const m = await member(version);
      const said: string[] = [];
      const err = await withTypedKey('hq50 yk77 8jqy b5cn 8nck s71y ck4X', (k) => open(m, k), (kit) => said.push(kit)).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'WRONG_PASSWORD', exitCode: 77 });
      expect(said).toEqual([]);
    });
  }

  it('the kit form is not tried for a password of another shape, nor after another error', async () => {
    let calls = 0;
    const fails = (code: string) => async (): Promise<never> => {
      calls++;
      throw new AppError(code, 65, code);
    };
    await expect(withTypedKey('not a key', fails('WRONG_PASSWORD'))).rejects.toThrow();
    expect(calls).toBe(1);
    await expect(withTypedKey('hq50yk778jqyb5cn8ncks71yck4r', fails('BACKUP_DAMAGED'))).rejects.toThrow();
    expect(calls).toBe(2);
  });
});

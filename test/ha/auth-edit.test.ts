import bcrypt from 'bcryptjs';
import { describe, expect, it } from 'vitest';
import { addLogin, decodeStoredHash, disableTotp, hashPassword, isStoredHash, setPassword, verifyPassword } from '../../src/ha/auth-edit.js';
import { findLogin, listUsers } from '../../src/ha/auth.js';
import { parseStore, serializeStore } from '../../src/ha/store.js';
import { codeOf, demoFile, hasDemo, storeBytes } from './helpers.js';

const SALT = '$2b$12$abcdefghijklmnopqrstuu';
const PROVIDER_KEY = 'auth_provider.homeassistant';
const parse = (bytes: Buffer, key = PROVIDER_KEY) => parseStore(bytes, key, key).data as { users: Array<{ username: string; password: string }> };

describe('hashPassword / verifyPassword', () => {
  it('stores base64 of a $2b$12$ bcrypt hash: 80 chars starting JDJiJDEy', async () => {
    const stored = await hashPassword('correct horse');
    expect(stored).toMatch(/^JDJiJDEy[A-Za-z0-9+/]{72}$/);
    expect(stored.length).toBe(80);
    const inner = Buffer.from(stored, 'base64').toString('latin1');
    expect(inner.startsWith('$2b$12$')).toBe(true);
    expect(inner.length).toBe(60);
    expect(bcrypt.getRounds(inner)).toBe(12);
    expect(await bcrypt.compare('correct horse', inner)).toBe(true);
    expect(await verifyPassword('correct horse', stored)).toBe(true);
    expect(await verifyPassword('Correct horse', stored)).toBe(false);
    expect(isStoredHash(stored)).toBe(true);
  });

  it('is deterministic given the salt, and refuses other salts', async () => {
    const a = await hashPassword('pw', { salt: SALT });
    expect(await hashPassword('pw', { salt: SALT })).toBe(a);
    expect(Buffer.from(a, 'base64').toString('latin1').startsWith(SALT)).toBe(true);
    await expect(hashPassword('pw', { salt: '$2a$10$abcdefghijklmnopqrstuu' })).rejects.toMatchObject({ code: 'BAD_SALT' });
  });

  it("verifies hashes written by Home Assistant's own bcrypt (pyca/bcrypt)", async () => {
    // The dummy hash validate_login checks "foo" against (homeassistant.py), as a stored value.
    const dummy = Buffer.from('$2b$12$CiuFGszHx9eNHxPuQcwBWez4CwDTOcLTX5CbOpV6gef2nYuXkY7BO').toString('base64');
    expect(await verifyPassword('foo', dummy)).toBe(true);
    expect(await verifyPassword('bar', dummy)).toBe(false);
  });

  it.skipIf(!hasDemo)('verifies the real demo hashes (their passwords are the usernames)', async () => {
    for (const { username, password } of parse(demoFile(PROVIDER_KEY)).users) {
      expect(password.startsWith('JDJiJDEy')).toBe(true);
      expect(password.length).toBe(80);
      expect(await verifyPassword(username, password)).toBe(true);
    }
  });

  it('uses only the first 72 UTF-8 bytes, as HA does with password.encode()[:72]', async () => {
    const long = 'p'.repeat(72) + 'x'.repeat(28); // 100 bytes
    const stored = await hashPassword(long, { salt: SALT });
    expect(await verifyPassword(long.slice(0, 72), stored)).toBe(true);
    expect(await verifyPassword('p'.repeat(72) + 'something else', stored)).toBe(true);
    expect(await verifyPassword(long.slice(0, 71), stored)).toBe(false);
    // The same as hashing exactly the first 72 bytes.
    expect(await hashPassword(long.slice(0, 72), { salt: SALT })).toBe(stored);
  });

  it('cuts bytes even inside a character', async () => {
    // 71 ASCII bytes + 'é' (C3 A9): byte 72 is C3, the first half of 'é'. 'è' is C3 A8: same first 72 bytes.
    const stored = await hashPassword('a'.repeat(71) + 'é', { salt: SALT });
    expect(await verifyPassword('a'.repeat(71) + 'è', stored)).toBe(true);
    expect(await verifyPassword('a'.repeat(71) + 'Ã', stored)).toBe(true); // Ã is C3 83
    expect(await verifyPassword('a'.repeat(71) + 'b', stored)).toBe(false);
    expect(await verifyPassword('a'.repeat(71), stored)).toBe(false);
  });

  // Golden values from pyca/bcrypt 5.0.0 running Home Assistant's own expression,
  // base64.b64encode(bcrypt.hashpw(pw.encode()[:72], b"$2b$12$abcdefghijklmnopqrstuu")).
  it.each([
    ['correct horse', 'JDJiJDEyJGFiY2RlZmdoaWprbG1ub3BxcnN0dXVGREpSdVllS2tDem8zV3k3aDhTeGhCU0hCQUhpUEsy'],
    ['a'.repeat(71) + 'é', 'JDJiJDEyJGFiY2RlZmdoaWprbG1ub3BxcnN0dXU3LjVacXl4SklmNWs5aWVvU2diS0pZL3Y1Q1FpRnF5'],
    ['a'.repeat(70) + '😀xyz', 'JDJiJDEyJGFiY2RlZmdoaWprbG1ub3BxcnN0dXV1TzR1WkVwUy96YVNWWXRqVWpVQ2NOd0guZEo2aE55'],
    ['p'.repeat(72) + 'x'.repeat(28), 'JDJiJDEyJGFiY2RlZmdoaWprbG1ub3BxcnN0dXVHTm9uR2JKdjdXeE1teEFlaVpaSGR3WmduOU1LTU91'],
    ['ünïcödé ☃', 'JDJiJDEyJGFiY2RlZmdoaWprbG1ub3BxcnN0dXU0S0oyc1RiMzQuTUZ4bk5Hajl0MUhkLkRSSHZId1RX'],
    ['', 'JDJiJDEyJGFiY2RlZmdoaWprbG1ub3BxcnN0dXVyTnBaUGdpTWFXZ1dnYXR0cVl2dG1WZUQ4UWtidXND'],
    ['x'.repeat(72), 'JDJiJDEyJGFiY2RlZmdoaWprbG1ub3BxcnN0dXVFZExHUEY4c3FQbGlzOGhrTnVxSFBPemFDa1JreTIy'],
    ['é'.repeat(40), 'JDJiJDEyJGFiY2RlZmdoaWprbG1ub3BxcnN0dXVqSVNIZ1BjTUxmdWxqbTRXRjViQWhGQ2ZVTGV0NnND'],
    ['a\0b', 'JDJiJDEyJGFiY2RlZmdoaWprbG1ub3BxcnN0dXVEa3R1aE9NVy5wSWlITkF5TEwza3JKWWlOMGpyQTZl'],
  ])('matches pyca/bcrypt for %j', async (password, expected) => {
    expect(await hashPassword(password, { salt: SALT })).toBe(expected);
  });

  it('refuses text Python could not encode', async () => {
    await expect(hashPassword('\ud800')).rejects.toMatchObject({ code: 'BAD_TEXT' });
    await expect(verifyPassword('x\udc00', Buffer.from(`$2b$12$${'a'.repeat(53)}`).toString('base64'))).rejects.toMatchObject({ code: 'BAD_TEXT' });
  });

  it('a stored value that is not a bcrypt hash → BAD_PASSWORD_HASH', async () => {
    await expect(verifyPassword('x', 'not base64!')).rejects.toMatchObject({ code: 'BAD_PASSWORD_HASH' });
    expect(codeOf(() => decodeStoredHash(Buffer.from('$1$md5crypt').toString('base64')))).toBe('BAD_PASSWORD_HASH');
  });
});

describe.skipIf(!hasDemo)('setPassword on the real provider file', () => {
  const original = demoFile(PROVIDER_KEY);

  it('round-trips untouched bytes exactly', () => {
    expect(serializeStore(parseStore(original, PROVIDER_KEY, PROVIDER_KEY).doc).equals(original)).toBe(true);
  });

  it("changes only that user's hash", async () => {
    const stored = await hashPassword('new secret', { salt: SALT });
    const out = setPassword(original, 'VM-User ', stored);
    const before = parse(original);
    const after = parse(out);
    expect(after.users.map((u) => u.username)).toEqual(before.users.map((u) => u.username));
    expect(after.users[0]!.password).toBe(stored);
    expect(after.users[1]).toEqual(before.users[1]);
    expect({ ...parseStore(out, PROVIDER_KEY, 'x').doc, data: null }).toEqual({ ...parseStore(original, PROVIDER_KEY, 'x').doc, data: null });
    // Byte level: the same text with one hash replaced.
    expect(out.toString('utf8')).toBe(original.toString('utf8').replace(before.users[0]!.password, stored));
    expect(await verifyPassword('new secret', after.users[0]!.password)).toBe(true);
  });

  it('unknown user → USER_NOT_FOUND (66) listing the existing logins', () => {
    try {
      setPassword(original, 'admin', Buffer.from(`$2b$12$${'a'.repeat(53)}`).toString('base64'));
      expect.unreachable();
    } catch (e) {
      expect(e).toMatchObject({ code: 'USER_NOT_FOUND', exitCode: 66 });
      expect((e as Error).message).toContain('"vm-user", "mqtt-user"');
    }
  });

  it('refuses a new hash that is not one', () => {
    expect(codeOf(() => setPassword(original, 'vm-user', 'plain text'))).toBe('BAD_HASH');
  });
});

describe('setPassword on crafted files', () => {
  const hash = Buffer.from(`$2b$12$${'b'.repeat(53)}`).toString('base64');
  const prov = (...names: string[]) => storeBytes(PROVIDER_KEY, { users: names.map((username) => ({ username, password: 'old' })) });

  it('matches exactly in legacy mode and suggests the stored spelling', () => {
    try {
      setPassword(prov('Alice', 'bob'), 'alice', hash);
      expect.unreachable();
    } catch (e) {
      expect(e).toMatchObject({ code: 'USER_NOT_FOUND' });
      expect((e as { hint: string }).hint).toContain('"Alice"');
    }
    expect(parse(setPassword(prov('Alice', 'bob'), 'Alice', hash)).users.map((u) => u.password)).toEqual([hash, 'old']);
  });

  it('sets every login that would match, so the login works whichever one Core checks', () => {
    const out = setPassword(prov('Alice', 'alice', 'bob'), 'ALICE', hash, { mode: 'normalized' });
    expect(parse(out).users.map((u) => u.password)).toEqual([hash, hash, 'old']);
  });

  it('refuses a store version it does not know', () => {
    const v2 = storeBytes(PROVIDER_KEY, { users: [{ username: 'a', password: 'old' }] }, 2);
    expect(codeOf(() => setPassword(v2, 'a', hash))).toBe('STORE_VERSION_UNSUPPORTED');
  });
});

describe('addLogin', () => {
  const hash = Buffer.from(`$2b$12$${'c'.repeat(53)}`).toString('base64');
  const prov = (...names: string[]) => storeBytes(PROVIDER_KEY, { users: names.map((username) => ({ username, password: 'old' })) });

  it('appends {username, password} and keeps the rest', () => {
    const before = prov('alice');
    const out = addLogin(before, 'bob', hash);
    expect(parse(out).users).toEqual([{ username: 'alice', password: 'old' }, { username: 'bob', password: hash }]);
    expect(out.toString('utf8')).toBe(
      before.toString('utf8').replace('"old"\n      }', `"old"\n      },\n      {\n        "username": "bob",\n        "password": "${hash}"\n      }`),
    );
    expect(findLogin(parse(out).users, 'BOB')).toBe(1);
  });

  it.each([
    [' bob', 'USERNAME_NOT_NORMALIZED', '"bob"'],
    ['Bob', 'USERNAME_NOT_NORMALIZED', '"bob"'],
    ['Bob', 'USERNAME_NOT_NORMALIZED', 'in small letters'],
    // Already in small letters: said as case folding, not "small letters" (which it is in).
    ['straße', 'USERNAME_NOT_NORMALIZED', '"strasse"'],
    ['straße', 'USERNAME_NOT_NORMALIZED', 'case-folded (letters such as ß written as ss)'],
    ['alice', 'USERNAME_EXISTS', '"Alice"'],
    ['   ', 'USERNAME_EMPTY', ''],
    // Inside the name (strip() takes them only at its ends): refused, each named (they were written).
    ['a\nb', 'USERNAME_CONTROL', '"a\\nb"'],
    ['a\tb', 'USERNAME_CONTROL', '"a\\tb"'],
    ['a\u0000b', 'USERNAME_CONTROL', '"a\\u0000b"'],
  ])('%j → %s (exit 64)', (name, code, mention) => {
    try {
      addLogin(prov('Alice'), name, hash);
      expect.unreachable();
    } catch (e) {
      expect(e).toMatchObject({ code, exitCode: 64 });
      expect((e as Error).message).toContain(mention);
    }
  });

  it('a name that would become an existing login points to resetting it (following the advice gave "already exists")', () => {
    try {
      addLogin(prov('alice'), 'ALICE', hash);
      expect.unreachable();
    } catch (e) {
      expect(e).toMatchObject({ code: 'USERNAME_NOT_NORMALIZED', hint: expect.stringMatching(/the login "alice" exists already: reset its password instead$/) });
    }
    expect(() => addLogin(prov('alice'), 'Bob', hash)).toThrow(expect.objectContaining({ hint: expect.stringMatching(/^use "bob"/) }));
  });

  it.skipIf(!hasDemo)('on the real file: new login listed as a future admin, duplicates refused', () => {
    const out = addLogin(demoFile(PROVIDER_KEY), 'rescue', hash);
    const { users } = listUsers({ auth: demoFile('auth'), provider: out });
    expect(users.find((u) => u.username === 'rescue')).toMatchObject({ linked: false, admin: true, owner: false });
    expect(codeOf(() => addLogin(demoFile(PROVIDER_KEY), 'mqtt-user', hash))).toBe('USERNAME_EXISTS');
  });
});

describe('disableTotp', () => {
  const totp = () =>
    Buffer.from(
      '{\n  "version": 1,\n  "minor_version": 1,\n  "key": "auth_module.totp",\n  "data": {\n    "users": {\n' +
        '      "4fa56bbed68943f49cedb80d41e21529": "JBSWY3DPEHPK3PXP",\n      "85eacdae0c4346fe8b80eee0b4a23c2e": "KRSXG5CTMVRXEZLU"\n' +
        '    }\n  }\n}',
    );

  it('removes only that user', () => {
    const out = disableTotp(totp(), '4fa56bbed68943f49cedb80d41e21529');
    expect(out.toString('utf8')).toBe(
      '{\n  "version": 1,\n  "minor_version": 1,\n  "key": "auth_module.totp",\n  "data": {\n    "users": {\n' +
        '      "85eacdae0c4346fe8b80eee0b4a23c2e": "KRSXG5CTMVRXEZLU"\n    }\n  }\n}',
    );
    const last = disableTotp(out, '85eacdae0c4346fe8b80eee0b4a23c2e');
    expect(parseStore(last, 'auth_module.totp', 'x').data).toEqual({ users: {} });
    expect(last.toString('utf8')).toContain('"users": {}');
  });

  it('a user without MFA → MFA_NOT_ENABLED (66)', () => {
    try {
      disableTotp(totp(), 'nobody');
      expect.unreachable();
    } catch (e) {
      expect(e).toMatchObject({ code: 'MFA_NOT_ENABLED', exitCode: 66 });
      expect((e as Error).message).toContain('not on for user nobody');
    }
  });

  it('garbage and wrong files → store errors', () => {
    expect(codeOf(() => disableTotp(totp().subarray(0, 40), 'x'))).toBe('BAD_STORE_JSON');
    expect(codeOf(() => disableTotp(storeBytes('auth', { users: {} }), 'x'))).toBe('BAD_STORE_KEY');
    expect(codeOf(() => disableTotp(storeBytes('auth_module.totp', { users: [] }), 'x'))).toBe('BAD_TOTP_STORE');
  });
});

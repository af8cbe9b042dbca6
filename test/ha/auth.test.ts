import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../../src/errors.js';
import { findLogin, findLoginIndexes, isLegacyMode, listUsers, normalizeUsername } from '../../src/ha/auth.js';
import { codeOf, demoFile, hasDemo, storeBytes } from './helpers.js';

const logins = (...names: string[]) => names.map((username) => ({ username, password: 'x' }));
const provider = (...names: string[]) => storeBytes('auth_provider.homeassistant', { users: logins(...names) });

describe('normalizeUsername', () => {
  it.each([
    [' Alice ', 'alice'],
    ['ALICE', 'alice'],
    ['straße', 'strasse'],
    ['STRASSE', 'strasse'],
    ['\x1fBob\x1c', 'bob'],
    ['vm-user', 'vm-user'],
  ])('%j → %j', (input, expected) => {
    expect(normalizeUsername(input)).toBe(expected);
  });
});

describe('findLogin and legacy mode', () => {
  it('matches normalised on both sides when every stored name is normalised', () => {
    const users = logins('alice', 'strasse', 'bob');
    expect(isLegacyMode(users)).toBe(false);
    expect(findLogin(users, ' Alice ')).toBe(0);
    expect(findLogin(users, 'ALICE')).toBe(0);
    expect(findLogin(users, 'STRASSE')).toBe(1);
    expect(findLogin(users, 'straße')).toBe(1);
    expect(findLogin(users, 'carol')).toBe(-1);
  });

  it('one non-normalised stored name switches to exact matching', () => {
    const users = logins('alice', 'Bob');
    expect(isLegacyMode(users)).toBe(true);
    expect(findLogin(users, 'alice')).toBe(0);
    expect(findLogin(users, 'ALICE')).toBe(-1);
    expect(findLogin(users, ' alice')).toBe(-1);
    expect(findLogin(users, 'Bob')).toBe(1);
    expect(findLogin(users, 'bob')).toBe(-1);
    // Core without legacy mode (2026.7+) normalises the stored names too.
    expect(findLogin(users, 'bob', 'normalized')).toBe(1);
    expect(findLogin(users, 'ALICE', 'normalized')).toBe(0);
  });

  it('a stored "straße" is not normalised, so it means legacy mode', () => {
    const users = logins('straße');
    expect(isLegacyMode(users)).toBe(true);
    expect(findLogin(users, 'STRASSE')).toBe(-1);
    expect(findLogin(users, 'straße')).toBe(0);
    expect(findLogin(users, 'STRASSE', 'normalized')).toBe(0);
  });

  it('reports every match when names collide', () => {
    expect(findLoginIndexes(logins('Alice', 'alice'), 'ALICE', 'normalized')).toEqual([0, 1]);
    expect(findLogin(logins('Alice', 'alice'), 'alice')).toBe(1);
  });
});

describe.skipIf(!hasDemo)('listUsers on the real demo files', () => {
  const auth = demoFile('auth');
  const prov = demoFile('auth_provider.homeassistant');
  const raw = JSON.parse(auth.toString('utf8')) as {
    data: {
      users: Array<{ id: string; name: string; is_owner: boolean; is_active: boolean; system_generated: boolean; local_only: boolean; group_ids: string[] }>;
      credentials: Array<{ user_id: string; auth_provider_type: string; data: { username: string } }>;
    };
  };

  it('lists the two logins and the system users with flags taken from the file', () => {
    const { users, warnings, mode } = listUsers({ auth, provider: prov });
    expect(mode).toBe('normalized');
    expect(warnings).toEqual([]);
    expect(users.length).toBe(raw.data.users.length);
    for (const u of raw.data.users) {
      const row = users.find((r) => r.userId === u.id)!;
      const cred = raw.data.credentials.find((c) => c.user_id === u.id && c.auth_provider_type === 'homeassistant');
      expect(row).toEqual({
        username: cred?.data.username ?? null,
        name: u.name,
        owner: u.is_owner,
        admin: u.group_ids.includes('system-admin'),
        active: u.is_active,
        system: u.system_generated,
        localOnly: u.local_only,
        mfa: false,
        userId: u.id,
        linked: true,
        hasLogin: cred !== undefined,
      });
    }
  });

  it('knows vm-user (owner, admin) and mqtt-user (local only, not admin); owner first, system users last', () => {
    const { users } = listUsers({ auth, provider: prov });
    expect(users.map((u) => u.username)).toEqual(['vm-user', 'mqtt-user', null, null]);
    expect(users.map((u) => u.name)).toEqual(['vm-user', 'mqtt-user', 'Home Assistant Content', 'Supervisor']);
    expect(users[0]).toMatchObject({ owner: true, admin: true, system: false, localOnly: false });
    expect(users[1]).toMatchObject({ owner: false, admin: false, system: false, localOnly: true });
    expect(users.slice(2).every((u) => u.system && !u.hasLogin)).toBe(true);
  });

  it('marks MFA from auth_module.totp data.users', () => {
    const vm = raw.data.users.find((u) => u.name === 'vm-user')!;
    const totp = storeBytes('auth_module.totp', { users: { [vm.id]: 'JBSWY3DPEHPK3PXP' } });
    const { users } = listUsers({ auth, provider: prov, totp });
    expect(users.filter((u) => u.mfa).map((u) => u.username)).toEqual(['vm-user']);
  });

  it('without .storage/auth: the logins, unlinked, with a note', () => {
    const { users, warnings } = listUsers({ provider: prov });
    expect(users.map((u) => u.username)).toEqual(['mqtt-user', 'vm-user']);
    expect(users.every((u) => !u.linked && u.userId === null && u.name === null && u.admin && !u.owner)).toBe(true);
    expect(warnings.map((w) => w.code)).toEqual(['AUTH_STORE_MISSING']);
  });

  it('a missing provider file is NOT_FOUND (66)', () => {
    let err: unknown;
    try {
      listUsers({ auth });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as NotFoundError).code).toBe('PROVIDER_STORE_MISSING');
    expect((err as NotFoundError).exitCode).toBe(66);
  });

  it('broken JSON gives the store error', () => {
    expect(codeOf(() => listUsers({ auth: auth.subarray(0, 500), provider: prov }))).toBe('BAD_STORE_JSON');
    expect(codeOf(() => listUsers({ auth, provider: Buffer.from('{') }))).toBe('BAD_STORE_JSON');
    // The TOTP store's is a warning (it is set aside at the next start; see below).
    expect(listUsers({ auth, provider: prov, totp: Buffer.from('x') }).warnings.map((w) => w.code)).toContain('TOTP_STORE_DAMAGED');
    expect(codeOf(() => listUsers({ auth: prov, provider: prov }))).toBe('BAD_STORE_KEY');
  });

  it('a login with no user yet is listed as a future admin', () => {
    const extra = JSON.parse(prov.toString('utf8'));
    extra.data.users.push({ username: 'newbie', password: extra.data.users[0].password });
    const { users } = listUsers({ auth, provider: Buffer.from(JSON.stringify(extra, null, 2)) });
    const row = users.find((u) => u.username === 'newbie')!;
    expect(row).toMatchObject({ name: null, userId: null, linked: false, admin: true, owner: false, active: true });
    expect(users.map((u) => u.username)).toEqual(['vm-user', 'mqtt-user', 'newbie', null, null]);
  });

  it('a credential pointing at a missing user → DANGLING_USER_ID warning', () => {
    const doc = JSON.parse(auth.toString('utf8'));
    doc.data.credentials[0].user_id = 'deadbeef';
    const { warnings } = listUsers({ auth: Buffer.from(JSON.stringify(doc)), provider: prov });
    expect(warnings.map((w) => w.code)).toContain('DANGLING_USER_ID');
    expect(warnings.find((w) => w.code === 'DANGLING_USER_ID')!.message).toContain('KeyError');
  });
});

describe('listUsers on crafted files', () => {
  const authDoc = (users: object[], credentials: object[], extra: object = {}) =>
    storeBytes('auth', { users, groups: [], credentials, refresh_tokens: [], ...extra });
  const user = (id: string, name: string, more: object = {}) => ({
    id,
    group_ids: ['system-users'],
    is_owner: false,
    is_active: true,
    name,
    system_generated: false,
    local_only: false,
    ...more,
  });
  const cred = (id: string, userId: string, username: string) => ({
    id,
    user_id: userId,
    auth_provider_type: 'homeassistant',
    auth_provider_id: null,
    data: { username },
  });

  it('sorts owner, then by name, then system users', () => {
    const auth = authDoc(
      [user('s', 'Supervisor', { system_generated: true }), user('z', 'zed'), user('o', 'Owner', { is_owner: true }), user('a', 'Anna')],
      [cred('1', 'z', 'zed'), cred('2', 'o', 'owner'), cred('3', 'a', 'anna')],
    );
    const { users } = listUsers({ auth, provider: provider('zed', 'owner', 'anna') });
    expect(users.map((u) => u.name)).toEqual(['Owner', 'Anna', 'zed', 'Supervisor']);
  });

  it('warns about legacy names, duplicates, credentials without a password and unknown groups', () => {
    const auth = authDoc([user('a', 'A', { group_ids: ['admins-2'] }), user('b', 'B')], [cred('1', 'a', 'Alice'), cred('2', 'b', 'gone')]);
    const { users, warnings, mode } = listUsers({ auth, provider: provider('Alice', 'alice') });
    expect(mode).toBe('legacy');
    expect(warnings.map((w) => w.code).sort()).toEqual(['CREDENTIAL_WITHOUT_LOGIN', 'DANGLING_GROUP_ID', 'USERNAME_NOT_NORMALIZED']);
    expect(users.find((u) => u.userId === 'b')).toMatchObject({ username: 'gone', hasLogin: false });
    // In legacy mode "Alice" and "alice" are two logins; the second has no user yet.
    expect(users.filter((u) => !u.linked).map((u) => u.username)).toEqual(['alice']);
    const normalized = listUsers({ auth, provider: provider('Alice', 'alice') }, { mode: 'normalized' });
    expect(normalized.warnings.map((w) => w.code)).toContain('DUPLICATE_LOGIN');
  });

  it('bad shapes → BAD_AUTH_STORE / BAD_PROVIDER_STORE / BAD_TOTP_STORE', () => {
    expect(codeOf(() => listUsers({ auth: storeBytes('auth', { users: {} }), provider: provider('a') }))).toBe('BAD_AUTH_STORE');
    expect(codeOf(() => listUsers({ auth: authDoc([{ name: 'no id' }], []), provider: provider('a') }))).toBe('BAD_AUTH_STORE');
    expect(codeOf(() => listUsers({ provider: storeBytes('auth_provider.homeassistant', { users: [{ username: 1 }] }) }))).toBe('BAD_PROVIDER_STORE');
    expect(codeOf(() => listUsers({ provider: provider('a'), totp: storeBytes('auth_module.totp', { users: [] }) }))).toBe('BAD_TOTP_STORE');
  });

  // Home Assistant sets a TOTP store that is not JSON aside at its next start (two-factor then off for all): it
  // stopped `auth list` and every password reset, though only the login file is written.
  it('a TOTP store that is not JSON: a warning, two-factor said off, the users listed', () => {
    const r = listUsers({ provider: provider('a'), totp: Buffer.from('{"version":1,"data":{"users":') });
    expect(r.users.map((u) => [u.username, u.mfa])).toEqual([['a', false]]);
    expect(r.warnings.filter((w) => w.code !== 'AUTH_STORE_MISSING')).toEqual([expect.objectContaining({ code: 'TOTP_STORE_DAMAGED', message: expect.stringMatching(/auth_module\.totp: invalid JSON.*would rename it .*: two-factor is then off for every user$/) })]);
  });
});

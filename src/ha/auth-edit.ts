// Offline edits of Home Assistant's password and MFA stores (haos-format.md §4.2, §4.6, §7 items 13–16).
// Pure: old bytes in, new bytes out, re-serialised exactly as Home Assistant writes (store.ts), so every
// other byte stays as it was. Hashing is separate (hashPassword) so edits are deterministic given a hash.
//
// Password hash, from Core homeassistant/auth/providers/homeassistant.py (commit 07d19996):
//   base64.b64encode(bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(rounds=12)))
// i.e. the base64 of a 60-character `$2b$12$...` string: 80 characters starting `JDJiJDEy`.
//
// The 72-byte cut is of the UTF-8 BYTES, possibly mid-character. bcryptjs takes a string, not bytes, but
// its key schedule (like every bcrypt) reads exactly the first 72 bytes of UTF-8(password) + NUL, cycling
// only when shorter; so hashing the shortest prefix of the string whose UTF-8 reaches 72 bytes gives the
// same hash as hashing `password.encode()[:72]`, even when byte 72 falls inside a character.

import bcrypt from 'bcryptjs';
import { CorruptError, InternalError, NotFoundError, UsageError } from '../errors.js';
import { findLoginIndexes, normalizeUsername, parseProviderStore, parseTotpStore, PROVIDER_STORE, resolveMode, TOTP_STORE, type MatchMode } from './auth.js';
import { hasLoneSurrogate } from './py-unicode.js';
import { assertStoreVersion, serializeStore } from './store.js';

const BCRYPT_MAX_BYTES = 72;
const COST = 12;
const SALT_PATTERN = /^\$2b\$12\$[./A-Za-z0-9]{22}$/;
const HASH_PATTERN = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/;

/** The `password` value Home Assistant stores for this password. `salt` (`$2b$12$` + 22 chars) is for tests. */
export async function hashPassword(password: string, options: { salt?: string } = {}): Promise<string> {
  assertText(password, 'password');
  if (options.salt !== undefined && !SALT_PATTERN.test(options.salt)) {
    throw new UsageError('BAD_SALT', `bad bcrypt salt ${JSON.stringify(options.salt)}: expected $2b$12$ and 22 characters`);
  }
  const salt = options.salt ?? (await bcrypt.genSalt(COST));
  const hash = await bcrypt.hash(bcryptInput(password), salt);
  if (!hash.startsWith('$2b$12$') || hash.length !== 60) throw new InternalError('BAD_HASH', `bcryptjs returned an unexpected hash ${hash.slice(0, 7)}...`);
  return Buffer.from(hash, 'latin1').toString('base64');
}

/** Whether `password` matches a stored `password` value, as Home Assistant's validate_login checks it. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  assertText(password, 'password');
  return bcrypt.compare(bcryptInput(password), decodeStoredHash(stored));
}

/** Whether a string is a stored `password` value: base64 of a `$2a$`/`$2b$`/`$2y$` bcrypt hash. */
export function isStoredHash(stored: string): boolean {
  return /^[A-Za-z0-9+/]+={0,2}$/.test(stored) && HASH_PATTERN.test(Buffer.from(stored, 'base64').toString('latin1'));
}

/** The `$2b$12$...` string inside a stored `password` value read from a file; CorruptError when it is not one. */
export function decodeStoredHash(stored: string): string {
  if (!isStoredHash(stored)) {
    throw new CorruptError('BAD_PASSWORD_HASH', `stored password is not a base64 bcrypt hash: ${JSON.stringify(stored.slice(0, 12))}...`, {
      details: { length: stored.length },
      hint: 'set a new password for this login',
    });
  }
  return Buffer.from(stored, 'base64').toString('latin1');
}

function assertStoredHash(storedHash: string): void {
  if (!isStoredHash(storedHash)) {
    throw new UsageError('BAD_HASH', 'the new password hash is not a stored hash from hashPassword()', { details: { length: storedHash.length } });
  }
}

/** The shortest prefix of `password` whose UTF-8 covers the first 72 bytes (see the header). */
function bcryptInput(password: string): string {
  let bytes = 0;
  let end = 0;
  for (const ch of password) {
    if (bytes >= BCRYPT_MAX_BYTES) break;
    bytes += Buffer.byteLength(ch, 'utf8');
    end += ch.length;
  }
  return password.slice(0, end);
}

/**
 * Sets the password of every login Home Assistant would match for `username` (normally one; several only
 * when names collide, where Core's login checks the last and its password change edits the first).
 */
export function setPassword(providerBytes: Buffer, username: string, storedHash: string, options: { mode?: MatchMode } = {}): Buffer {
  assertStoredHash(storedHash);
  const file = parseProviderStore(providerBytes);
  assertStoreVersion(file, PROVIDER_STORE.major, PROVIDER_STORE.path);
  const logins = file.data.users;
  const found = findLoginIndexes(logins, username, options.mode);
  if (found.length === 0) {
    const existing = logins.map((l) => l.username);
    const mode = resolveMode(logins, options.mode);
    const near = mode === 'legacy' ? existing.filter((n) => normalizeUsername(n) === normalizeUsername(username)) : [];
    const list = existing.length ? existing.map((n) => JSON.stringify(n)).join(', ') : 'none';
    throw new NotFoundError('USER_NOT_FOUND', `no login ${JSON.stringify(username)} in ${PROVIDER_STORE.path}; existing logins: ${list}`, {
      details: { username, existing, mode },
      hint: near.length
        ? `names match exactly here (legacy mode, a stored name is not normalised): did you mean ${near.map((n) => JSON.stringify(n)).join(' or ')}?`
        : 'use one of the existing login names (they are what you type on the login page, not the display name)',
    });
  }
  for (const i of found) logins[i]!.password = storedHash;
  return serializeStore(file.doc);
}

/**
 * Appends a password login. Refuses what Home Assistant's _validate_new_username refuses: a name that is not
 * already `strip().casefold()`-ed, and a name that matches an existing login after normalising (stricter
 * than legacy-mode Core, which compared stored names exactly, so the result also works on newer Core).
 * Refusals are UsageError (64): the caller chose the name and fixes it by choosing another, the same class
 * as any other malformed argument; RefusedError is for safety checks about the medium.
 * Like `hass --script auth add`, this creates no user: Home Assistant makes an administrator (not owner)
 * at the first login (§4.4).
 */
export function addLogin(providerBytes: Buffer, username: string, storedHash: string): Buffer {
  assertText(username, 'username');
  assertStoredHash(storedHash);
  const file = parseProviderStore(providerBytes);
  assertStoreVersion(file, PROVIDER_STORE.major, PROVIDER_STORE.path);
  const normalized = normalizeUsername(username);
  if (normalized === '') throw new UsageError('USERNAME_EMPTY', `username ${JSON.stringify(username)} is empty after trimming`);
  // A newline, tab or other invisible character inside: such a login cannot be typed at the login page, and a
  // list shows it as another name (it was written and verified).
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(normalized)) {
    throw new UsageError('USERNAME_CONTROL', `the login name ${JSON.stringify(username)} holds a control character (a newline, tab or another invisible one): it could not be typed at the login page`, {
      hint: 'choose a name of letters, digits and ordinary punctuation',
    });
  }
  if (normalized !== username) {
    throw new UsageError(
      'USERNAME_NOT_NORMALIZED',
      `${username === username.trim() && username === username.toLowerCase() ? 'Home Assistant keeps login names case-folded (letters such as ß written as ss)' : 'Home Assistant keeps login names in small letters without spaces around them'}: ${JSON.stringify(username)} would be ${JSON.stringify(normalized)}`,
      { details: { username, normalized }, hint: file.data.users.some((l) => normalizeUsername(l.username) === normalized) ? `the login ${JSON.stringify(normalized)} exists already: reset its password instead` : `use ${JSON.stringify(normalized)}: logins are case-insensitive, so it still accepts what you type` },
    );
  }
  const clash = file.data.users.find((l) => normalizeUsername(l.username) === normalized);
  if (clash) {
    throw new UsageError('USERNAME_EXISTS', `login ${JSON.stringify(clash.username)} already exists in ${PROVIDER_STORE.path}`, {
      details: { username, existing: clash.username },
      hint: 'reset its password instead, or choose another name',
    });
  }
  file.data.users.push({ username, password: storedHash });
  return serializeStore(file.doc);
}

/** Removes a user's TOTP secret from `.storage/auth_module.totp`, as async_depose_user does. */
export function disableTotp(totpBytes: Buffer, userId: string): Buffer {
  const file = parseTotpStore(totpBytes);
  assertStoreVersion(file, TOTP_STORE.major, TOTP_STORE.path);
  const users = file.data.users;
  if (!Object.hasOwn(users, userId)) {
    const enabled = Object.keys(users);
    throw new NotFoundError('MFA_NOT_ENABLED', `MFA (authenticator app) is not on for user ${userId}: ${TOTP_STORE.path} has no secret for it`, {
      details: { userId, usersWithMfa: enabled },
      hint: enabled.length ? `users with MFA on: ${enabled.join(', ')}` : 'no user has MFA on',
    });
  }
  delete users[userId];
  return serializeStore(file.doc);
}

/** Python's str.encode() fails on lone surrogates, so Home Assistant could never store or check such text. */
function assertText(value: string, what: 'password' | 'username'): void {
  if (hasLoneSurrogate(value)) throw new UsageError('BAD_TEXT', `${what} is not valid Unicode text (lone surrogate)`);
}

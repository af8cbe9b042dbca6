// The user commands: list users, reset a password (optionally switching off TOTP), add a login that becomes
// an administrator at first login. Reading goes through the journal-replayed view; writing through the
// write sequence of write/index.ts, which saves originals, rehearses and verifies.

import { AppError, CorruptError, ExitCode, NotFoundError, REPAIR, UsageError } from '../errors.js';
import { AUTH_STORE, type AuthFiles, type HaUser, PROVIDER_STORE, TOTP_STORE, type UserList, findLogin, listUsers, parseProviderStore } from '../ha/auth.js';
import { addLogin, disableTotp, hashPassword, setPassword, verifyPassword } from '../ha/auth-edit.js';
import { type OpenedSource, noConfigFolder } from './source.js';
import { type FileChange, type WriteOptions, type WriteResult, writeFiles } from './write/index.js';

function configPath(src: OpenedSource): string {
  if (!src.layout.configPath) throw new NotFoundError('NO_CONFIG', 'no Home Assistant configuration folder on this filesystem');
  return src.layout.configPath;
}

async function readOptional(src: OpenedSource, path: string): Promise<Buffer | undefined> {
  try {
    return await src.fs.readFile(path);
  } catch (err) {
    // Missing, not damaged: a login file that is a folder or a pipe, or .storage that is a file, is reported
    // as what it is (not as "no users").
    // A link that leads back to itself is no missing file either: Home Assistant fails to read it (ELOOP).
    if (err instanceof AppError && err.exitCode === 66 && !['NOT_A_FILE', 'NOT_A_DIRECTORY', 'SYMLINK_LOOP'].includes(err.code)) return undefined;
    throw err;
  }
}

export async function readAuthFiles(src: OpenedSource): Promise<AuthFiles> {
  const dir = configPath(src);
  const files: AuthFiles = {};
  const auth = await readOptional(src, `${dir}/${AUTH_STORE.path}`);
  const provider = await readOptional(src, `${dir}/${PROVIDER_STORE.path}`);
  // Damage on the card's way to the two-factor file (its folder entry, its inode) stopped the whole listing:
  // the users are listed, two-factor said as not known.
  const totp = await readOptional(src, `${dir}/${TOTP_STORE.path}`).catch((err: unknown) => {
    if (!(err instanceof AppError) || err.exitCode !== ExitCode.CORRUPT) throw err;
    files.totpUnreadable = err.message;
    return undefined;
  });
  if (auth) files.auth = auth;
  if (provider) files.provider = provider;
  if (totp) files.totp = totp;
  // No configuration folder at all (the wrong partition): said as that, not as a login file to restore.
  if (!auth && !provider && !totp && !(await src.volume.exists(dir).catch(() => true))) {
    throw noConfigFolder(dir);
  }
  return files;
}

export async function authList(src: OpenedSource): Promise<UserList> {
  return listUsers(await readAuthFiles(src));
}

export interface ResetRequest {
  username: string;
  password: string;
  /** Also remove the user's TOTP secret, so the password alone logs in. */
  disableMfa?: boolean;
}

export interface AuthWriteResult extends WriteResult {
  username: string;
  mfaDisabled: boolean;
  /** The login keeps its two-factor codes (TOTP on, not switched off): its next login asks for a code too. */
  mfaKept?: boolean;
}

function providerChange(src: OpenedSource, content: Buffer, username: string, password: string): FileChange {
  return {
    path: `${configPath(src)}/${PROVIDER_STORE.path}`,
    content,
    verify: async (readBack) => {
      const logins = parseProviderStore(readBack).data.users;
      const login = logins.find((l) => l.username === username);
      if (!login || !(await verifyPassword(password, login.password))) {
        throw new AppError('VERIFY_FAILED', 70, `the written ${PROVIDER_STORE.path} does not verify the new password for ${username}`);
      }
    },
  };
}

/**
 * bcrypt reads 72 bytes of a password. Home Assistant cuts it there itself, but 2025.11.0 did not, and its
 * bcrypt 5 refused every longer password at login (home-assistant/core#155935, fixed in 2025.11.1): such a
 * password set here would lock the owner out again.
 */
async function assertPasswordTaken(src: OpenedSource, password: string): Promise<void> {
  const bytes = Buffer.byteLength(password, 'utf8');
  if (bytes <= 72) return;
  const version = (await readOptional(src, `${configPath(src)}/.HA_VERSION`).catch(() => undefined))?.toString('utf8').trim();
  if (version !== '2025.11.0') return;
  throw new UsageError('PASSWORD_TOO_LONG', `Home Assistant 2025.11.0 on this card refuses every password longer than 72 bytes at login, and this one is ${bytes} bytes`, {
    hint: 'choose a password of at most 72 bytes (72 plain letters or digits), or update Home Assistant to 2025.11.1 or later first; nothing was written',
  });
}

/**
 * The login file damaged (not JSON, cut short): no password can be set in it, and the store's own hint ("repair
 * or restore this file") led nowhere. A backup's copy mends it (actions/repair/from-backup.ts offers it).
 */
function loginFileDamaged(src: OpenedSource): (err: unknown) => never {
  return (err) => {
    if (!(err instanceof CorruptError && err.details['path'] === PROVIDER_STORE.path)) throw err;
    throw new CorruptError(err.code, err.message, {
      cause: err,
      // Where the file is on the card and in a backup's Home Assistant archive, for the command line's words.
      details: { ...err.details, loginFile: `${src.layout.configPath}/${PROVIDER_STORE.path}`, inBackup: `homeassistant/data/${PROVIDER_STORE.path}` },
      hint: 'put the login file back from one of the card\'s backups (its passwords as they were then), then set the password; nothing was written',
      remedy: 'login-from-backup',
    });
  };
}

/** A user linked to a password login whose entry is gone: it cannot log in, and a new password brings it back. */
export function passwordLost(u: HaUser): boolean {
  return u.username !== null && u.linked && !u.hasLogin && !u.system;
}

/** Whose password can be set: a password login, or one whose entry was lost (passwordLost). */
export function canSetPassword(u: HaUser): boolean {
  return u.username !== null && !u.system && (u.hasLogin || passwordLost(u));
}

/** Resets the password of `username` (matched as the Home Assistant on the card matches it). */
export async function resetPassword(source: OpenedSource, req: ResetRequest, opts: WriteOptions): Promise<AuthWriteResult> {
  let matched = req.username;
  let mfaDisabled = false;
  let mfaKept = false;
  const result = await writeFiles(source, async (src) => {
    const files = await readAuthFiles(src);
    const list = listUsers(files);
    if (!files.provider) throw new NotFoundError('PROVIDER_STORE_MISSING', `${PROVIDER_STORE.path} is missing`);
    await assertPasswordTaken(src, req.password);
    const logins = parseProviderStore(files.provider).data.users;
    // A user whose login lost its password entry (the entry gone, the user still linked to the name): the entry
    // is made again, and the user logs in as before. Reset said "no login", add "exists already" (a dead end).
    const lost = findLogin(logins, req.username) < 0 ? list.users.find((u) => u.username === req.username && passwordLost(u)) : undefined;
    const hash = await hashPassword(req.password);
    const content = lost ? addLogin(files.provider, req.username, hash) : setPassword(files.provider, req.username, hash);
    matched = logins[findLogin(logins, req.username)]?.username ?? req.username;
    const changes = [providerChange(src, content, matched, req.password)];
    const user = list.users.find((u) => u.username === matched);
    mfaKept = !req.disableMfa && user?.mfa === true;
    if (req.disableMfa) {
      if (files.totpUnreadable !== undefined) {
        throw new CorruptError('TOTP_STORE_UNREADABLE', `${files.totpUnreadable}; two-factor cannot be switched off`, { ...REPAIR });
      }
      if (user?.mfa && user.userId && files.totp) {
        changes.push(totpChange(src, disableTotp(files.totp, user.userId), user.userId));
        mfaDisabled = true;
      }
    }
    return changes;
  }, opts).catch(loginFileDamaged(source));
  return { ...result, username: matched, mfaDisabled, ...(mfaKept ? { mfaKept } : {}) };
}

function totpChange(src: OpenedSource, content: Buffer, userId: string): FileChange {
  return {
    path: `${configPath(src)}/${TOTP_STORE.path}`,
    content,
    verify: (readBack) => {
      const users = (JSON.parse(readBack.toString('utf8')) as { data?: { users?: Record<string, unknown> } }).data?.users ?? {};
      if (userId in users) throw new AppError('VERIFY_FAILED', 70, `the written ${TOTP_STORE.path} still holds a secret for ${userId}`);
    },
  };
}

/** Adds a password login; Home Assistant makes it an administrator (not the owner) at its first login. */
export async function addUser(source: OpenedSource, req: { username: string; password: string }, opts: WriteOptions): Promise<AuthWriteResult> {
  const result = await writeFiles(source, async (src) => {
    const files = await readAuthFiles(src);
    if (!files.provider) {
      throw new UsageError('PROVIDER_STORE_MISSING', `${PROVIDER_STORE.path} is missing, so there is no file to add the login to`, {
        hint: 'this Home Assistant has never had a password login; finish onboarding on the box instead',
      });
    }
    await assertPasswordTaken(src, req.password);
    const content = addLogin(files.provider, req.username, await hashPassword(req.password));
    return [providerChange(src, content, req.username, req.password)];
  }, opts).catch(loginFileDamaged(source));
  return { ...result, username: req.username, mfaDisabled: false };
}

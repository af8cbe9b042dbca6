// `backup ls` and `backup cat`: into one backup, on the card (by slug) or a backup file on this computer.
// The password is decided here once: --password / --password-stdin, else the card's own backup key, else
// (on a terminal) asked when an encrypted archive needs it.

import { noteSource } from '../remedies.js';
import type { Argv, CommandModule } from 'yargs';
import type { BackupTarget, InnerSummary, SecureTarKey } from '../../actions/backup/index.js';
import { AppError, CorruptError, UsageError } from '../../errors.js';
import type { InnerEntry } from '../../ha/backup-inner.js';
import { printJson, warn, writeOut } from '../output.js';
import { oneLine } from '../visible.js';
import { askPassword, isInteractive, passwordFromStdin } from '../prompt.js';
import { formatBytes, modeString, table } from '../render.js';
import { type GlobalArgs, refuseJson, withArgsSource, withSourceArg } from './common.js';
import { shellWord } from '../../shell-word.js';

/** The backup actions, loaded when a backup command runs, not at every start of the program. */
export const backupActions = () => import('../../actions/backup/index.js');

export type PasswordArgs = { password?: string; passwordStdin?: boolean };

export function withPasswordOptions<T>(y: Argv<T>): Argv<T & PasswordArgs> {
  return y
    .option('password', { type: 'string', describe: "the backup's password or key (default: the key stored on the card)" })
    .option('password-stdin', { type: 'boolean', describe: 'read the backup password from the first line of standard input' }) as Argv<T & PasswordArgs>;
}

/** The password the options give, or null (then the card's key, or a prompt). */
export async function givenPassword(argv: PasswordArgs): Promise<string | null> {
  if (argv.password !== undefined && argv.passwordStdin) throw new UsageError('USAGE', 'give --password or --password-stdin, not both');
  if (argv.password !== undefined) {
    if (argv.password === '') throw new UsageError('EMPTY_PASSWORD', 'the password is empty');
    return argv.password;
  }
  return argv.passwordStdin ? passwordFromStdin() : null;
}

type BackupArgs = GlobalArgs & PasswordArgs & { source?: string; slug?: string; path?: string };

/**
 * Runs `fn` on the backup the arguments name: SOURCE a backup file (then SLUG is the path), or a card and
 * a slug. An encrypted archive without a key asks for the password on a terminal and runs `fn` again.
 */
export async function withBackupArgs<T>(argv: BackupArgs, fn: (t: BackupTarget, key: SecureTarKey | null, path: string | undefined) => Promise<T>): Promise<T> {
  const { isBackupFile, openCardBackup, readBackupKey, withBackupFile, withTypedKey } = await backupActions();
  const password = await givenPassword(argv);
  // A key typed in small letters or with spaces is tried in the emergency kit's form too.
  const kitNote = (kit: string): void => warn(`the key was taken as ${kit}, the form the emergency kit writes it in (capitals, dashes)`);
  const typedKey = (t: BackupTarget, pw: string, path: string | undefined): Promise<T> => withTypedKey(pw, (key) => fn(t, key, path), kitNote);
  const run = async (t: BackupTarget, pw: string | null, fromCard: boolean, path: string | undefined): Promise<T> => {
    try {
      return await (pw === null ? fn(t, null, path) : typedKey(t, pw, path));
    } catch (err) {
      const question = passwordQuestion(err, fromCard);
      if (question === null) throw err;
      const typed = isInteractive() && !argv.json ? await askPassword(question) : '';
      if (typed === '') throw fromCard ? cardKeyRefused(err as AppError) : err;
      return typedKey(t, typed, path);
    }
  };
  if (argv.source && (await isBackupFile(argv.source))) {
    if (argv.path !== undefined) throw new UsageError('USAGE', `${argv.source} is a backup file: give only the path inside it`, { hint: `e.g. haos-rescue backup ls ${shellWord(argv.source)} homeassistant` });
    noteSource(argv.source);
    return withBackupFile(argv.source, (t) => run(t, password, false, argv.slug)).catch((err: unknown) => {
      throw slugForFile(err, argv.source!, argv.slug);
    });
  }
  return withArgsSource(argv, async (s) => {
    if (!argv.json) for (const w of s.warnings) warn(w);
    const target = await openCardBackup(s, argv.slug);
    const stored = password === null ? ((await readBackupKey(s).catch(() => null))?.key ?? null) : null;
    return run(target, password ?? stored, stored !== null, argv.path);
  });
}

/** A slug given with a backup file (its slug is for a backup on a card): said as that mistake. */
function slugForFile(err: unknown, file: string, given: string | undefined): unknown {
  if (!(err instanceof AppError) || err.code !== 'INNER_NOT_FOUND' || given === undefined || !/^[0-9a-f]{8}$/.test(given)) return err;
  const first = /it holds: ([^,;\s]+)/.exec(err.hint ?? '')?.[1] ?? 'homeassistant';
  return new UsageError('SLUG_WITH_FILE', `${file} is a backup file itself: after it comes the name of an archive inside it, not a slug (${given})`, {
    hint: `${err.hint ?? 'list it without the slug'}; e.g. haos-rescue backup ls ${shellWord(file)} ${shellWord(first)}`,
  });
}

/**
 * What to ask when an encrypted archive did not open with what was tried: nothing given, or the key stored on
 * the card (a backup made with a password of its own, e.g. a manual one); null when a typed password failed.
 */
export function passwordQuestion(err: unknown, fromCard: boolean): string | null {
  if (!(err instanceof AppError)) return null;
  if (err.code === 'PASSWORD_NEEDED') return 'This backup is encrypted. Its password or backup key: ';
  if (err.code === 'WRONG_PASSWORD' && fromCard) return 'The backup key stored on the card does not open this backup: it was made with a password of its own. That password: ';
  return null;
}

function cardKeyRefused(err: AppError): AppError {
  return new AppError('WRONG_PASSWORD', err.exitCode, `the backup key stored on the card does not open this backup${typeof err.details['version'] === 'number' ? ` (SecureTar v${err.details['version']})` : ''}: it was made with a password of its own`, {
    cause: err,
    details: err.details,
    hint: 'give the password that was typed when this backup was made (or the key of the Home Assistant it came from)',
    remedy: 'backup-password',
  });
}

function renderInners(t: BackupTarget, inners: InnerSummary[]): string {
  const m = t.archive.meta;
  const head = m
    ? `${t.label}: "${m.name}" (${m.slug}), ${m.type}, ${m.date}, Home Assistant ${m.homeAssistantVersion ?? 'not included'}, ${m.protected ? 'protected' : 'not protected'}`
    : `${t.label}: no usable backup.json (${t.archive.metaError}); its archives can still be read`;
  const rows = [['archive', 'what', 'version', 'size', 'encrypted', '']];
  for (const i of inners) rows.push([i.name, i.title ?? i.kind, i.version ?? '-', formatBytes(i.size), i.encrypted ? `SecureTar v${i.secureTarVersion ?? '?'}${(i.secureTarVersion ?? 0) > 3 ? ' (not read by this haos-rescue)' : ''}` : 'no', i.cutShortFrom === null ? '' : `cut short (${formatBytes(i.cutShortFrom)} expected)`]);
  const others = t.archive.others.length === 0 ? '' : `Also in the file, and taken by no restore: ${t.archive.others.map(oneLine).join(', ')}${t.archive.others.length >= 20 ? ', and maybe more' : ''}\n`;
  const missing = t.archive.missing.length === 0 ? '' : `Named in backup.json, not in the file: ${t.archive.missing.join(', ')}\n`;
  return `${head}\n${inners.length ? `${table(rows, [3])}\n` : ''}${missing}${others}${inners.length ? 'Look inside one with: haos-rescue backup ls ... <archive>\n' : ''}`;
}

function renderEntries(inner: string, entries: InnerEntry[]): string {
  const type = (e: InnerEntry): string => ({ file: 'file', dir: 'dir', symlink: 'symlink', hardlink: 'file', other: 'special' })[e.type];
  // On one line as every name from the card is shown: a name's undecodable bytes as \xNN, the form `backup cat`
  // takes (JSON's escaping doubled the backslash, and the name shown was not found).
  const shown = oneLine;
  // A hard link is the file it names, not a pointer to it (it was shown "0 bytes ... -> ./name", as a symlink).
  const sizes = new Map(entries.filter((e) => e.type === 'file').map((e) => [e.path, e.size]));
  const linkTo = (e: InnerEntry): string => {
    if (!e.linkname) return '';
    if (e.type !== 'hardlink') return ` -> ${shown(e.linkname)}`;
    return `  (the same file as ${inner}/${shown(e.linkname.replace(/^(\.\/)+/, ''))})`;
  };
  const size = (e: InnerEntry): string => {
    if (e.type === 'dir') return '-';
    if (e.type !== 'hardlink') return formatBytes(e.size);
    const target = sizes.get((e.linkname ?? '').replace(/^(\.\/)+/, ''));
    return target === undefined ? '-' : formatBytes(target);
  };
  const rows = entries.map((e) => [
    modeString(type(e), e.mode),
    size(e),
    e.mtime ? e.mtime.toISOString().slice(0, 16).replace('T', ' ') : '-',
    `${inner}/${shown(e.path)}${e.type === 'dir' ? '/' : ''}${linkTo(e)}`,
  ]);
  return rows.length ? `${table(rows, [1])}\n` : '';
}

function insideBuilder(y: Argv<GlobalArgs>, pathHelp: string): Argv<BackupArgs> {
  return withPasswordOptions(withSourceArg(y))
    .positional('slug', { type: 'string', describe: 'the backup on the card (see backup list); for a backup file, the path inside it' })
    .positional('path', { type: 'string', describe: pathHelp }) as Argv<BackupArgs>;
}

export const lsCommand: CommandModule<GlobalArgs, BackupArgs> = {
  command: 'ls [source] [slug] [path]',
  describe: "List what is inside a backup: its archives, or the files of one (ARCHIVE[/PATH]); SOURCE may be a backup .tar",
  builder: (y) => insideBuilder(y, 'an archive inside the backup (homeassistant, share, an add-on slug) and a path in it') as never,
  handler: async (argv) => {
    await withBackupArgs(argv, async (t, key, path) => {
      const { describeInners, keyRefusedBy, listInside } = await backupActions();
      if (path === undefined || path === '') {
        // A password given is checked, as a restore would: a wrong one was taken without a word, and failed later.
        const given = argv.password !== undefined || argv.passwordStdin === true;
        const refused = given && key !== null ? await keyRefusedBy(t, key) : null;
        if (refused !== null) throw refused;
        const inners = await describeInners(t);
        if (argv.json) await printJson({ backup: t.label, meta: t.archive.meta, metaError: t.archive.metaError, damage: t.archive.damage, inners, others: t.archive.others, missing: t.archive.missing });
        else await writeOut(renderInners(t, inners));
        // Listed, and then said as the damage it is (exit 65, as the other backup commands): it was exit 0.
        const cut = inners.find((i) => i.cutShortFrom !== null);
        if (t.archive.damage !== null) throw new CorruptError('BACKUP_DAMAGED', `the backup is damaged after the archives listed (${t.archive.damage}): any after it are lost`, { hint: 'copy or download the backup again if you can; what is listed can still be read' });
        if (cut) throw new CorruptError('BACKUP_DAMAGED', `the backup file is cut short inside ${cut.name} (an interrupted copy or download?)`, { hint: 'copy or download the backup again if you can; what is listed can still be read, and the start of the cut archive' });
        const { missing } = t.archive;
        if (missing.length > 0) throw new CorruptError('BACKUP_INCOMPLETE', `the backup is incomplete: backup.json names ${missing.length === 1 ? 'an archive' : 'archives'} the file does not hold (${missing.join(', ')}); a restore of ${missing.length === 1 ? 'it' : 'them'} fails`, { hint: `another copy of this backup may be whole; ${inners.length ? 'what is listed can still be read' : 'this one holds no archive at all'}` });
        return;
      }
      const r = await listInside(t, path, key);
      if (argv.json) await printJson({ backup: t.label, inner: r.inner, entries: r.entries, more: r.more, damage: r.damage?.message ?? null });
      else await writeOut(renderEntries(r.inner, r.entries));
      if (r.more > 0) warn(`${r.more} more entries are not listed (the first ${r.entries.length} are): list one folder at a time, e.g. haos-rescue backup ls ... ${r.inner}/FOLDER`);
      if (r.damage) throw r.damage;
    });
  },
};

export const catInsideCommand: CommandModule<GlobalArgs, BackupArgs> = {
  command: 'cat [source] [slug] [path]',
  describe: 'Write one file from inside a backup to standard output, decrypted (e.g. homeassistant/data/secrets.yaml)',
  builder: (y) => insideBuilder(y, 'ARCHIVE/PATH inside the backup') as never,
  handler: async (argv) => {
    refuseJson(argv, 'backup cat');
    await withBackupArgs(argv, async (t, key, path) => {
      if (!path) throw new UsageError('NO_PATH', 'name the file inside the backup, e.g. homeassistant/data/configuration.yaml', { hint: 'see what is there with haos-rescue backup ls' });
      const { catInside } = await backupActions();
      await catInside(t, path, key, (chunk) => writeOut(chunk));
    });
  },
};

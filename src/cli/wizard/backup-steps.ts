// The wizard's backup steps: copy the backups off the card, show the stored key, and build a new backup
// Home Assistant restores from the card's live data. The same actions the backup commands run.

import { freeName } from '../../actions/gui/free-name.js';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { confirm, password } from './ask.js';
import { askWhere } from './where.js';
import { SecureTarKey, copiedSummary, createBackup, extractBackups, keyOpens, keyReachText, listBackups, readBackupKey, storedDifferently } from '../../actions/backup/index.js';
import { formatBytes, localDay } from '../../units.js';
import { stoppable, terminalProgress } from '../progress.js';
import { type Say, type Session, partlyDone, withEnding } from './steps.js';

export async function stepExtract(session: Session, say: Say): Promise<void> {
  const list = await listBackups(session.source);
  if (list.length === 0) return say('There are no backups on this card.');
  const other = list.filter((b) => b.error !== undefined || b.damaged !== undefined).length;
  say(`${list.length - other} backup(s)${other > 0 ? ` and ${other} other file(s) Home Assistant cannot restore` : ''}, ${formatBytes(list.reduce((n, b) => n + b.size, 0))} in all.`);
  const where = { message: 'Copy them into which folder?', suggest: () => freeName(join(homedir(), 'haos-rescue-backups'), 'folder') };
  const r = await askWhere(where, (outDir) => {
    const progress = terminalProgress('backups');
    return stoppable(() => extractBackups(session.source, { outDir, onProgress: progress.update })).finally(progress.end);
  });
  for (const e of r.extracted) say(`  ${e.out} (${formatBytes(e.size)}, sha256 ${e.sha256.slice(0, 16)}...)`);
  for (const f of r.failed) say(`  could not copy ${f.path}: ${f.reason}`);
  for (const line of copiedSummary(r)) say(line);
  if (r.extracted.some((e) => e.unusable === undefined)) say('Restore one in Home Assistant under Settings > System > Backups.');
  if (r.failed.length > 0) say(partlyDone(`${r.failed.length} backup(s) above were not copied`));
}

export async function stepKey(session: Session, say: Say): Promise<void> {
  const key = await readBackupKey(session.source);
  say(key.key ? `Backup encryption key: ${key.key}` : key.message);
  const opens = key.key === null ? null : keyReachText(await keyOpens(session.source, key.key));
  if (opens !== null) say(opens);
}

/** The card's backup key, or a password typed twice, or null for a plain backup (asked). */
async function createKey(session: Session, say: Say): Promise<SecureTarKey | null> {
  const stored = await readBackupKey(session.source).catch(() => null);
  if (stored?.key) {
    say(`The backup will be encrypted with this card's backup key (${stored.key}), the one Home Assistant asks for at restore.`);
    return new SecureTarKey(stored.key);
  }
  if (!(await confirm({ message: 'This card stores no backup key. Protect the backup with a password?', default: true }))) return null;
  for (;;) {
    const first = await password({ message: 'Password for the backup:', mask: '*', validate: (p) => (p.length > 0 ? true : 'the password cannot be empty') });
    if (first === (await password({ message: 'Type it again:', mask: '*' }))) return new SecureTarKey(first);
    say('The two passwords differ; try again.');
  }
}

export async function stepCreate(session: Session, say: Say): Promise<void> {
  say('This builds a backup from what is on the card now: the configuration, the add-ons and the folders.');
  const key = await createKey(session, say);
  const excludeDb = !(await confirm({ message: 'Include the history database (it can be most of the size)?', default: true }));
  const day = localDay();
  const where = {
    message: 'Save the backup as',
    suggest: () => freeName(join(homedir(), `home-assistant-rescued-${day}.tar`), 'file'),
    // Refused after every question it was: the Supervisor reads only .tar backups.
    adjust: (out: string) => (/\.tar$/i.test(out) ? out : withEnding(say, out, '.tar', 'the Supervisor reads only .tar backups')),
  };
  const r = await askWhere(where, (out) => {
    const progress = terminalProgress('files');
    return stoppable(() => createBackup(session.source, { out, key, excludeDb, onProgress: progress.update })).finally(progress.end);
  });
  say(`Backup ${r.slug} written to ${r.out} (${formatBytes(r.size)}${r.protected ? `, encrypted, SecureTar v${r.secureTarVersion}` : ''}).`);
  for (const line of storedDifferently(r)) say(`  ${line}`);
  for (const k of r.skipped) say(`  left out (could not be read): ${k.path}: ${k.reason}`);
  // A partial backup is not offered for restoring as if whole: what it lacks would be gone after the restore.
  if (r.skipped.length > 0) say(partlyDone(`the backup is partial: the ${r.skipped.length} file(s) above could not be read from the card and are not in it`));
  else say('Restore it in Home Assistant: "Restore from backup" when setting up, or Settings > System > Backups.');
}

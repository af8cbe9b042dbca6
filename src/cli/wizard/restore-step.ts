// The wizard's "put back a configuration file from a backup": a configuration.yaml (or automations.yaml,
// secrets.yaml…) broken by an edit keeps Home Assistant from starting; one of the card's own backups holds
// it as it was. The backup is chosen, opened with the card's backup key (or a password asked for), its
// configuration files that differ from the card's are offered, and the one chosen is put back as `put` puts
// a file: the card's copy saved to this computer first, asked before it is written.

import { AppError } from '../../errors.js';
import { type BackupEntry, SecureTarKey, readBackupKey, withTypedKey } from '../../actions/backup/index.js';
import { openListedBackup } from '../../actions/backup/open.js';
import { type BackupConfigFile, type BackupConfigFiles, backupsWithConfig, configFilesInBackup, putBackFromBackup } from '../../actions/repair/index.js';
import { mediumOf } from '../../actions/write/medium.js';
import { fromBackupDone, fromBackupPlan } from '../../actions/gui/plans.js';
import { formatBytes } from '../../units.js';
import { passwordQuestion } from '../commands/backup-inside.js';
import { localTime } from '../render.js';
import { password, select } from './ask.js';
import { type Say, type Session, agreed, withCopiesOrNot, writable } from './steps.js';

export async function stepFileFromBackup(session: Session, say: Say): Promise<void> {
  const backups = await backupsWithConfig(session.source);
  if (backups.length === 0) return say('No backup on this card holds the Home Assistant configuration (a full backup does, or a partial one with Home Assistant in it).');
  if (!(await writable(session, say))) return;
  const newest = [...backups].sort((a, b) => Date.parse(b.date ?? '') - Date.parse(a.date ?? ''));
  const chosen = await select({ message: 'From which backup?', choices: newest.map((b) => ({ value: b, name: backupName(b) })), pageSize: 12 });
  say('Reading the backup...');
  const found = await filesOf(session, say, chosen);
  if (found === null) return say('Nothing was written.');
  if (found.damage) say(`The backup is damaged after the files below (${found.damage.message}); they were read whole.`);
  const differ = found.files.filter((f) => f.onCard !== 'same');
  if (differ.length === 0) return say(`Every configuration file in this backup (${found.files.length}) is the same as on the card: nothing to put back.`);
  const same = found.files.length - differ.length;
  if (same > 0) say(`${same} file(s) of this backup are the same as on the card and are not listed.`);
  const file = await select<BackupConfigFile | null>({ message: 'Which file should be put back?', choices: [...differ.map((f) => ({ value: f, name: fileName(f) })), { value: null, name: 'none' }], pageSize: 12 });
  if (file === null) return say('Nothing was written.');
  const medium = mediumOf(session.source);
  if (!(await agreed(fromBackupPlan(file, `"${chosen.name ?? chosen.slug}" of ${localTime(chosen.date)}`, medium), say))) return say('Nothing was written.');
  const r = await withCopiesOrNot(session, say, (opts) => putBackFromBackup(session.source, file, opts)).finally(() => session.refresh());
  if (r === null) return say('Nothing was written.');
  if (r.write.journalReplayedOntoCard) say(`Applied the card's journal first (${r.write.journalReplayedOntoCard.transactions} change(s)).`);
  say(fromBackupDone(r.path, medium));
  if (r.replaced) say(r.write.originalsDir ? `The file it replaced is saved in ${r.write.originalsDir}` : 'No copy of the file it replaced was kept.');
}

function backupName(b: BackupEntry): string {
  return `${localTime(b.date)}  ${b.name ?? b.slug} (${formatBytes(b.size)}${b.protected ? ', encrypted' : ''})`;
}

function fileName(f: BackupConfigFile): string {
  const card = f.onCard === 'missing' ? 'not on the card' : `on the card: ${formatBytes(f.cardBytes ?? 0)}, different`;
  return `${f.name} (${formatBytes(f.bytes.length)}; ${card})`;
}

/** The backup's configuration files, opened with the card's key or a password asked for; null when none was given. */
async function filesOf(session: Session, say: Say, chosen: BackupEntry): Promise<BackupConfigFiles | null> {
  const target = await openListedBackup(session.source, chosen);
  const stored = (await readBackupKey(session.source).catch(() => null))?.key ?? null;
  const kitNote = (kit: string): void => say(`The key was taken as ${kit}, the form the emergency kit writes it in.`);
  let typed: string | null = null;
  for (;;) {
    try {
      if (typed !== null) return await withTypedKey(typed, (key) => configFilesInBackup(session.source, target, key), kitNote);
      return await configFilesInBackup(session.source, target, stored === null ? null : new SecureTarKey(stored));
    } catch (err) {
      if (!(err instanceof AppError) || (err.code !== 'PASSWORD_NEEDED' && err.code !== 'WRONG_PASSWORD')) throw err;
      const question = passwordQuestion(err, typed === null && stored !== null) ?? 'That password does not open this backup. Try again:';
      typed = await password({ message: `${question.trim()} (Enter alone to go back)`, mask: '*' });
      if (typed === '') return null;
      say('Reading the backup...');
    }
  }
}

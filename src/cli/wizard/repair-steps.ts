// The wizard's repair steps: what fills the card, deleting the history database (the usual cause of a
// full disk) or the backups older than some days (copied off first when wanted), and safe mode for the
// next start. The same actions `df`, `rm` and `safe-mode` run; each
// write says what it will change and asks first.

import { mediumOf } from '../../actions/write/medium.js';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { confirm, input, select } from './ask.js';
import { type BackupEntry, extractBackups, listBackups } from '../../actions/backup/index.js';
import { diskUsage, removeFiles, setSafeMode } from '../../actions/repair/index.js';
import { formatBytes } from '../../units.js';
import { table } from '../render.js';
import { allBackupsWarning, databasePlan, freedLine, oldBackupsPlan, oldLogsPlan, oldLogsSummary, safeModeDone, safeModePlan } from '../../actions/gui/plans.js';
import { type OldLogFile, oldLogs, removeOldLogs } from '../../actions/logs/index.js';
import { type Say, type Session, agreed, withCopiesOrNot, writable, writeOptions } from './steps.js';
import { stoppable } from '../progress.js';
import { shellWord } from '../../shell-word.js';

export async function stepFreeSpace(session: Session, say: Say): Promise<void> {
  const u = await diskUsage(session.source);
  say(`${formatBytes(u.usedBytes)} used of ${formatBytes(u.totalBytes)}, ${formatBytes(u.availableBytes)} free${u.full ? ': FULL' : ''}.`);
  const rows = [['what', 'size'], ...u.categories.filter((c) => c.bytes > 0).slice(0, 8).map((c) => [c.label, formatBytes(c.bytes)])];
  say(table(rows, [1]));
  // The biggest files by name: what fills a card is often one file no category names (as `df` shows it).
  if (u.largestFiles.length > 0) {
    say('The largest files:');
    say(table([['size', 'file'], ...u.largestFiles.slice(0, 5).map((f) => [formatBytes(f.bytes), f.path])], [0]));
  }
  if (!(await writable(session, say))) return;
  const db = u.categories.find((c) => c.id === 'database');
  const backups = (await listBackups(session.source)).filter((b) => !b.error && b.date);
  const logs = await oldLogs(session.source);
  const choices = [
    ...(db && db.bytes > 0 ? [{ value: 'database', name: `the history database (${formatBytes(db.bytes)})` }] : []),
    ...(backups.length > 0 ? [{ value: 'backups', name: `old backups (${backups.length} on the card)` }] : []),
    ...(logs.length > 0 ? [{ value: 'logs', name: `old system logs (${oldLogsSummary(logs)}; the current ones are kept)` }] : []),
    { value: 'nothing', name: 'nothing' },
  ];
  const what = await select({ message: 'What do you want to delete?', choices });
  if (what === 'database') await deleteDatabase(session, say, db!.paths);
  else if (what === 'backups') await deleteOldBackups(session, say, backups);
  else if (what === 'logs') await deleteOldLogs(session, say, logs);
  else return say('Nothing was written.');
  await stillFull(session, say);
}

/** After a deletion: a card still full is said, with the way on for a large file no choice names ("Done" alone read as fixed). */
async function stillFull(session: Session, say: Say): Promise<void> {
  const u = await diskUsage(session.source).catch(() => null);
  if (u === null || !u.full) return;
  const largest = u.largestFiles[0];
  say(`The card is still full: ${formatBytes(u.availableBytes)} free of ${formatBytes(u.totalBytes)}.`);
  if (largest !== undefined) say(`Its largest file is ${largest.path} (${formatBytes(largest.bytes)}); a file no choice here names can be removed, a copy kept, with: haos-rescue rm ${shellWord(session.source.path)} ${shellWord(largest.path)}`);
}

async function deleteDatabase(session: Session, say: Say, paths: string[]): Promise<void> {
  const present: string[] = [];
  for (const p of paths) if (await session.source.volume.exists(p)) present.push(p);
  if (!(await agreed(databasePlan(present), say))) return say('Nothing was written.');
  const r = await withCopiesOrNot(session, say, (opts) => removeFiles(session.source, present, opts)).finally(() => session.refresh());
  if (r === null) return say('Nothing was written.');
  if (r.write.journalReplayedOntoCard) say(`Applied the card's journal first (${r.write.journalReplayedOntoCard.transactions} change(s)).`);
  say(freedLine(r.removed, mediumOf(session.source)));
  say(r.write.originalsDir ? `The deleted files are saved in ${r.write.originalsDir}` : 'No copies of the deleted files were kept.');
}

async function deleteOldBackups(session: Session, say: Say, backups: BackupEntry[]): Promise<void> {
  const days = Number((await input({ message: 'Delete the backups older than how many days?', default: '30', validate: (v) => (/^\d+$/.test(v.trim()) ? true : 'a number of days') })).trim());
  const cutoff = Date.now() - days * 86_400_000;
  const old = backups.filter((b) => Date.parse(b.date!) < cutoff);
  if (old.length === 0) return say(`No backup is older than ${days} days.`);
  // Every backup (0 days), or the newest among them: said first, as the window says it.
  const warning = allBackupsWarning(old, backups);
  for (const line of [...(warning?.lines.slice(0, 1) ?? []), ...oldBackupsPlan(old, true).lines.slice(0, old.length)]) say(`  ${line}`);
  let out: string | null = null;
  if (await confirm({ message: 'Copy them to this computer first?', default: true })) {
    out = join(homedir(), `haos-rescue-backups-deleted-${new Date().toISOString().slice(0, 16).replace(/[:T]/g, '-')}`);
    const copied = await stoppable(() => extractBackups(session.source, { outDir: out!, slugs: old.map((b) => b.slug!), force: false }));
    if (copied.failed.length > 0) return say(`${copied.failed.length} backup(s) could not be copied; nothing was deleted.`);
    say(`Copied to ${out}.`);
  }
  // Without a copy, said plainly before the question: deleted backups are gone for good.
  const plan = oldBackupsPlan(old, out !== null);
  if (out === null) say(`  ${plan.lines[plan.lines.length - 1]!}`);
  const question = (out === null ? allBackupsWarning(old, backups, false) : warning)?.question ?? plan.question;
  if (!(await confirm({ message: question, default: false }))) return say('Nothing was written.');
  const r = await removeFiles(session.source, old.map((b) => b.path), { ...writeOptions(session), saveOriginals: false }).finally(() => session.refresh());
  say(freedLine(r.removed, mediumOf(session.source)));
  say(out === null ? 'No copy of the deleted backups was kept.' : `Their copies are in ${out}.`);
}

async function deleteOldLogs(session: Session, say: Say, logs: OldLogFile[]): Promise<void> {
  if (!(await agreed(oldLogsPlan(logs), say))) return say('Nothing was written.');
  const r = await removeOldLogs(session.source, logs, writeOptions(session)).finally(() => session.refresh());
  say(freedLine(r.removed, mediumOf(session.source)));
}

export async function stepSafeMode(session: Session, say: Say): Promise<void> {
  if (!(await writable(session, say))) return;
  const on = await session.source.volume.exists(`${session.source.layout.configPath}/safe-mode`);
  if (!(await agreed(safeModePlan(!on, mediumOf(session.source)), say))) return say('Nothing was written.');
  const r = await setSafeMode(session.source, !on, writeOptions(session)).finally(() => session.refresh());
  say(safeModeDone(r.on, mediumOf(session.source)));
}

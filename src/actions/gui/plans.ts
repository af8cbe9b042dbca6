// What each write will change, in words, said before it happens, and what it did, said after: the terminal
// wizard and the browser window ask the same questions and report with the same sentences.

import { CARD, type Medium } from '../write/medium.js';
import { formatBytes } from '../../units.js';
import type { AuthWriteResult } from '../auth.js';
import { type OldLogFile, oldLogsSpan } from '../logs/index.js';
import type { WriteAction } from './api.js';

export interface WritePlan {
  lines: string[];
  /** The yes/no question; no is the default answer (safe mode too: every write is asked the same way). */
  question: string;
}

const AUTH_FILE = '.storage/auth_provider.homeassistant';

export function resetPlan(source: string, username: string, disableMfa: boolean): WritePlan {
  return {
    lines: [
      `This will write to ${source}: the password of ${username}${disableMfa ? ' and its two-factor secret' : ''}, in ${AUTH_FILE}${disableMfa ? ' and .storage/auth_module.totp' : ''}.`,
      'The change is rehearsed in memory first, written through the ext4 journal, and read back.',
    ],
    question: 'Write it now?',
  };
}

export function addPlan(source: string, username: string): WritePlan {
  return {
    lines: [`This will write to ${source}: a new login ${username} in ${AUTH_FILE}.`, 'Home Assistant makes it an administrator the first time it logs in.'],
    question: 'Write it now?',
  };
}

/** `copied`: a copy of the database is saved on this computer first (not when there is no room, and the owner chose so). */
export function databasePlan(paths: string[], copied = true): WritePlan {
  return {
    lines: [
      'Home Assistant makes a new, empty database at its next start. The history (graphs, logbook, long-term statistics) is lost.',
      copied ? 'A copy is saved on this computer first.' : 'No copy is kept: once deleted, the database is gone for good.',
    ],
    question: copied ? `Delete ${paths.join(', ')}?` : `Delete ${paths.join(', ')} for good, without a copy?`,
  };
}

export function oldBackupsPlan(old: Array<{ date?: string | null; name?: string | null; size: number; path: string }>, copiedFirst: boolean): WritePlan {
  return {
    lines: [
      ...old.map((b) => `${(b.date ?? '').slice(0, 10)}  ${b.name ?? '-'}  ${formatBytes(b.size)}  ${b.path}`),
      copiedFirst ? 'A copy of each is saved on this computer first.' : 'No copy is kept: once deleted, these backups are gone for good.',
    ],
    question: copiedFirst ? `Delete these ${old.length} backup(s) from the card?` : `Delete these ${old.length} backup(s) from the card for good, without a copy?`,
  };
}

type BackupFacts = { date?: string | null; name?: string | null; size: number; error?: string | null };

/**
 * Said first when the backups to delete are every backup on the card, or hold the newest one (days = 0 takes
 * them all): how many, their size, and to copy them off first. Null when older ones only go.
 */
export function allBackupsWarning(old: BackupFacts[], all: BackupFacts[], copiedFirst = true): WritePlan | null {
  const dated = all.filter((b) => !b.error && b.date);
  const newest = dated.reduce<BackupFacts | null>((n, b) => (n === null || Date.parse(b.date!) > Date.parse(n.date!) ? b : n), null);
  const every = old.length === all.length;
  if (!every && (newest === null || !old.includes(newest))) return null;
  const count = old.length === 1 ? '1 backup' : `${old.length} backups`;
  // "Delete all 1 backup" read oddly: the one backup is named so.
  const allOf = old.length === 1 ? 'the one backup' : `all ${count}`;
  const size = formatBytes(old.reduce((n, b) => n + b.size, 0));
  const newestText = newest === null ? '' : [(newest.date ?? '').slice(0, 10), newest.name].filter(Boolean).join(' ');
  return {
    lines: [
      every
        ? `This deletes every backup on the card: ${allOf}, ${size} in all. No backup will be left on the card.`
        : old.length === 1 ? `This deletes the newest backup (${newestText}, ${size}).` : `This deletes ${count} (${size} in all), the newest backup among them (${newestText}).`,
      'Copy them to this computer first: choose Cancel, then "Copy the backups" on the card screen, and keep that copy somewhere safe.',
    ],
    question: `${every ? `Delete ${allOf} (${size})` : old.length === 1 ? 'Delete the newest backup' : `Delete these ${count}, the newest one too,`} from the card${copiedFirst ? '' : ' for good, without a copy'}?`,
  };
}

/** A change written to the card, in a few words, for the other tabs ("a new password for vm-user"). */
export function changeWords(action: WriteAction): string {
  switch (action.kind) {
    case 'reset': return `a new password for ${action.username}`;
    case 'add': return `a new login ${action.username}`;
    case 'delete-database': return 'the history database deleted';
    case 'delete-backups': return `the backups older than ${action.olderThanDays} days deleted`;
    case 'delete-old-logs': return 'the old system logs deleted';
    case 'safe-mode': return action.on ? 'safe mode set' : 'safe mode taken back';
    case 'check-at-start': return 'the card marked for a full check at the next start';
    case 'restore-file': return `${action.name} put back from a backup`;
  }
}

/** "1.2 MiB in 2 file(s), lines from 2026-09-01 to 2026-11-20": the old logs as the space step offers them. */
export function oldLogsSummary(files: OldLogFile[]): string {
  const span = oldLogsSpan(files);
  return `${formatBytes(files.reduce((n, f) => n + f.allocatedBytes, 0))} in ${files.length} file(s)${span ? `, lines ${span}` : ''}`;
}

export function oldLogsPlan(files: OldLogFile[]): WritePlan {
  const total = files.reduce((n, f) => n + f.allocatedBytes, 0);
  const span = oldLogsSpan(files);
  return {
    lines: [
      `${files.length} old log file(s) that journald set aside${span ? `, lines ${span}` : ''}: ${formatBytes(total)}.`,
      'The log files it was writing to are kept: the last lines before the box stopped stay readable.',
    ],
    question: `Delete these ${files.length} old log file(s) from the card?`,
  };
}

export function safeModePlan(on: boolean, medium: Medium = CARD): WritePlan {
  return on
    ? { lines: ['At its next start Home Assistant will skip every custom integration, once, as its own "Restart in safe mode" does.'], question: `Set safe mode on ${medium.the}?` }
    : { lines: ['Safe mode is set for the next start.'], question: 'Take it back (start normally)?' };
}

export function checkAtStartPlan(source: string): WritePlan {
  return {
    lines: [
      `This will mark the data filesystem on ${source} as having errors, as the box's Linux does when it meets damage.`,
      'At its next start the box checks the whole filesystem and repairs it (e2fsck -y) before Home Assistant starts; that start takes longer.',
      'The repair may remove what it cannot place: copy the backups and the configuration off the card first.',
    ],
    question: 'Mark the card for a full check?',
  };
}

export function checkAtStartDone(already: string | null, medium: Medium = CARD): string {
  return already !== null
    ? `Nothing to mark: the box checks this filesystem in full at its next start already (${already}). Next: ${medium.startIt} once.`
    : `Done: ${medium.startIt} once, and let that longer start finish; the box checks and repairs the filesystem, then clears the mark. Until then, no other change can be made to it here (a password, a file).`;
}

/** Said with a write's plan in the window, on a card whose journal holds changes not yet in place. */
export function journalNote(transactions: number | null): string {
  return `The card was not cleanly unmounted: its journal holds ${transactions ?? 'some'} change(s) not yet in place. They are applied to the card first, as Linux does when it mounts it (to leave the card as it is, choose Cancel).`;
}

/** Asked before a write on a card whose journal holds changes not yet in place. */
export function journalQuestion(transactions: number | null): string {
  return `The card was not cleanly unmounted: its journal holds ${transactions ?? 'some'} change(s) not yet in place. Apply them to the card first, as Linux would at mount?`;
}

/** How to use a new password, and a new login, once the box has started. */
export const resetLogin = (username: string, mfaKept = false): string =>
  `log in as ${username} with the new password${mfaKept ? ' and the code of the authenticator app (two-factor login is still on)' : ''}`;
export const addedLogin = (username: string): string => `log in as ${username} with its password; Home Assistant makes it an administrator (not the owner) at that first login`;

/** After a new password or login: how to use it. */
export function loginNextStep(login: string, medium: Medium = CARD): string {
  return `Next: ${medium.startIt}. When Home Assistant has started, ${login}.`;
}

/** What a password reset or a new login did, after it was written. */
export function authWriteLines(r: AuthWriteResult, what: string, medium: Medium = CARD): string[] {
  return [
    ...r.notes,
    ...(r.journalReplayedOntoCard ? [`Applied the card's journal first (${r.journalReplayedOntoCard.transactions} change(s)).`] : []),
    `Done: ${what}. Read back from ${medium.the} and verified.`,
    ...(r.originalsDir ? [`Copies of the files as they were: ${r.originalsDir}`] : []),
  ];
}

/** What a deletion gave back, after it was written and read back. */
export function freedLine(removed: Array<{ allocatedBytes: number }>, medium: Medium = CARD): string {
  return `Done: ${formatBytes(removed.reduce((n, f) => n + f.allocatedBytes, 0))} given back. Checked on ${medium.the}.`;
}

/** What setting or taking back safe mode did. */
export function safeModeDone(on: boolean, medium: Medium = CARD): string {
  return on ? `Done, on ${medium.the}. Next: ${medium.startIt}; remove or update the integration that broke the start, then restart.` : `Done, on ${medium.the}: Home Assistant will start normally.`;
}

/** A configuration file put back from a backup on the card, in place of the card's (restore-step, from-backup.ts). */
export function fromBackupPlan(file: { name: string; bytes: Buffer; onCard: string; cardBytes: number | null }, backup: string, medium: Medium = CARD): WritePlan {
  const card = file.onCard === 'missing' ? `${medium.the} has none now: it is added there` : `it replaces the one on ${medium.the}, ${formatBytes(file.cardBytes ?? 0)}, which is saved to this computer first`;
  return {
    lines: [`From the backup ${backup}: ${file.name}, ${formatBytes(file.bytes.length)}.`, `${card[0]!.toUpperCase()}${card.slice(1)}.`],
    question: `Put ${file.name} back from the backup onto ${medium.the}?`,
  };
}

export function fromBackupDone(path: string, medium: Medium = CARD): string {
  return `Done: ${path} is the backup's again (read back from ${medium.the} and verified). Next: ${medium.startIt}.`;
}

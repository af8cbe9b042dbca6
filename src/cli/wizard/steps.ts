// The wizard's steps. Each one that writes says exactly what it will change and asks before it does; the
// write itself is the same action the auth commands run (rehearsed in memory, journaled, verified).

import { type Medium, mediumOf } from '../../actions/write/medium.js';
import { freeName } from '../../actions/gui/free-name.js';
import { homedir } from 'node:os';
import { AppError } from '../../errors.js';
import { join } from 'node:path';
import { confirm, input, password, select } from './ask.js';
import { askWhere } from './where.js';
import { type AuthWriteResult, addUser, authList, canSetPassword, passwordLost, resetPassword } from '../../actions/auth.js';
import { exportTree } from '../../actions/export/index.js';
import { DAMAGED_HINT } from '../../actions/gui/copies.js';
import { tryAgain } from '../../actions/gui/window-hints.js';
import { type WritePlan, addPlan, addedLogin, authWriteLines, loginNextStep, resetLogin, checkAtStartDone, checkAtStartPlan, journalQuestion, resetPlan } from '../../actions/gui/plans.js';
import type { SourceSession as Session } from '../../actions/source.js';
import type { WriteOptions } from '../../actions/write/index.js';
import { writeRefusal } from '../../actions/write/preconditions.js';
import { markForCheck } from '../../actions/write/check-mark.js';
import { type HaUser, normalizeUsername } from '../../ha/auth.js';
import { formatBytes, localDay } from '../../units.js';
import { stoppable, terminalProgress } from '../progress.js';
import { mfaText, table } from '../render.js';

export type Say = (text: string) => void;

export { SourceSession as Session } from '../../actions/source.js';

/** Today as YYYY-MM-DD (this computer's day, as the window dates them), for default file names. */
export function today(): string {
  return localDay();
}

async function newPassword(who: string): Promise<string> {
  for (;;) {
    const first = await password({ message: `New password for ${who}:`, mask: '*', validate: (p) => (p.length > 0 ? true : 'the password cannot be empty') });
    const second = await password({ message: 'Type it again:', mask: '*' });
    if (first === second) return first;
    process.stdout.write('The two passwords differ. Try again.\n');
  }
}

/** Opened sources whose journal the user agreed to apply, asked before a step's first question. */
const replayAgreed = new WeakSet<object>();

export function writeOptions(session: Session): WriteOptions {
  return {
    originalsDir: join(homedir(), `haos-rescue-originals-${new Date().toISOString().replace(/[:.]/g, '-')}`),
    yes: replayAgreed.has(session.source),
    confirmReplay: (report) => confirm({ message: journalQuestion(report?.transactions ?? null), default: true }),
  };
}

/**
 * Runs a write with the usual options; when this computer has no room for the copies of what it changes
 * (ORIGINALS_NOT_SAVED, nothing written), says so and asks whether to write without them. Null when not.
 * The flow had no way on there (the command line's --no-originals), after every question was answered.
 */
export async function withCopiesOrNot<T>(session: Session, say: Say, run: (opts: WriteOptions) => Promise<T>): Promise<T | null> {
  try {
    return await run(writeOptions(session));
  } catch (err) {
    if (!(err instanceof AppError) || err.details['remedy'] !== 'originals-or-none') throw err;
    say(`${err.message.replace(/: ENOSPC: .*$/, '')}: this computer has no room for them (nothing was written to the card).`);
    const without = await confirm({ message: 'Write the change without keeping copies of the files as they were (they are then gone for good)?', default: false });
    if (!without) return null;
    return run({ ...writeOptions(session), saveOriginals: false });
  }
}

/**
 * Whether this card can be changed as it is; says why not, and what to do, before any question is asked
 * (a password typed twice, then refused, helps no one). A journal to apply first is asked about here too:
 * asked last, a No threw every answer away.
 */
export async function writable(session: Session, say: Say): Promise<boolean> {
  const refused = await writeRefusal(session.source, { holders: true });
  if (refused === null) return replayAgreedOrAsk(session, say);
  say(`This step changes the card, which is not possible as it is: ${refused.message}.`);
  if (refused.hint !== null) say(`What to do: ${tryAgain(refused.hint)}.`);
  if (refused.remedy === 'check-at-start') await offerRepairAtStart(session, say);
  return false;
}

async function replayAgreedOrAsk(session: Session, say: Say): Promise<boolean> {
  const { journal } = session.source;
  if (!journal.needsRecovery || replayAgreed.has(session.source)) return true;
  if (await confirm({ message: journalQuestion(journal.report?.transactions ?? null), default: true })) {
    replayAgreed.add(session.source);
    return true;
  }
  say('Nothing was written: a change to this card needs its journal applied first. Everything shown here includes those changes already (in memory), so reading and copying go on as before.');
  return false;
}

/**
 * After a refusal for damaged metadata: offers the mark for the box's full check at its next start (the
 * plan says to copy the backups and the configuration first), and writes it on yes.
 */
export async function offerRepairAtStart(session: Session, say: Say): Promise<void> {
  say('');
  if (!(await agreed(checkAtStartPlan(session.source.path), say))) return say('Nothing was written.');
  const r = await markForCheck(session.source, writeOptions(session)).finally(() => session.refresh());
  if (r.journalReplayedOntoCard) say(`Applied the card's journal first (${r.journalReplayedOntoCard.transactions} change(s)).`);
  say(checkAtStartDone(r.already, mediumOf(session.source)));
}

/** Says what a write will change and asks; no is the default. */
export async function agreed(plan: WritePlan, say: Say): Promise<boolean> {
  for (const line of plan.lines) say(line);
  return confirm({ message: plan.question, default: false });
}

function reportWrite(say: Say, r: AuthWriteResult, what: string, medium: Medium, login: string): void {
  for (const line of authWriteLines(r, what, medium)) say(line);
  say(loginNextStep(login, medium));
}

function userChoice(u: HaUser): { value: string; name: string } {
  const role = u.owner ? 'owner' : u.admin ? 'administrator' : 'user';
  return { value: u.username!, name: `${u.username} (${u.name ?? 'no name'}, ${role}${u.mfa ? ', two-factor on' : ''}${u.hasLogin ? '' : ', its password is missing: it cannot log in now'})` };
}

export async function stepReset(session: Session, say: Say): Promise<void> {
  if (!(await writable(session, say))) return;
  const source = session.source.path;
  const users = (await authList(session.source)).users.filter(canSetPassword);
  if (users.length === 0) return say('There is no password login on this card. Choose "Add an administrator login" instead.');
  const username = await select({ message: 'Whose password?', choices: users.map(userChoice) });
  const user = users.find((u) => u.username === username)!;
  const pw = await newPassword(username);
  const disableMfa = user.mfa ? await confirm({ message: `${username} has two-factor login (TOTP) on. Switch it off, so the password alone logs in?`, default: true }) : false;
  if (!(await agreed(resetPlan(source, username, disableMfa), say))) return say('Nothing was written.');
  const r = await withCopiesOrNot(session, say, (opts) => resetPassword(session.source, { username, password: pw, disableMfa }, opts)).finally(() => session.refresh());
  if (r === null) return say('Nothing was written.');
  reportWrite(say, r, `new password for ${username}${r.mfaDisabled ? ', two-factor switched off' : ''}`, mediumOf(session.source), resetLogin(username, r.mfaKept));
}

export async function stepAdd(session: Session, say: Say): Promise<void> {
  if (!(await writable(session, say))) return;
  const source = session.source.path;
  const taken = new Set((await authList(session.source)).users.flatMap((u) => (u.username === null ? [] : [normalizeUsername(u.username)])));
  // Checked at the question, as Home Assistant keeps names (trimmed, case-folded): "Rescue" was refused only
  // after both passwords and "Write it now? Yes".
  const nameProblem = (v: string): string | true => {
    const name = v.trim();
    if (name === '') return 'the name cannot be empty';
    if (taken.has(normalizeUsername(name))) return `${name} exists already: reset its password instead`;
    if (normalizeUsername(name) !== name) return `Home Assistant keeps login names in small letters: use "${normalizeUsername(name)}" (logging in accepts "${name}" too)`;
    return true;
  };
  const username = (await input({ message: 'Login name for the new administrator:', default: 'rescue', validate: nameProblem })).trim();
  const pw = await newPassword(username);
  if (!(await agreed(addPlan(source, username), say))) return say('Nothing was written.');
  const r = await withCopiesOrNot(session, say, (opts) => addUser(session.source, { username, password: pw }, opts)).finally(() => session.refresh());
  if (r === null) return say('Nothing was written.');
  reportWrite(say, r, `login ${username} added`, mediumOf(session.source), addedLogin(username));
}

export async function stepUsers(session: Session, say: Say): Promise<void> {
  const users = (await authList(session.source)).users.filter((u) => !u.system);
  // The notes `auth list` has: who cannot log in with a password now (a reset gives it one), who only at home.
  const notes = (u: HaUser): string => [passwordLost(u) ? 'no password: cannot log in (a reset gives it one)' : '', u.localOnly ? 'local only' : ''].filter(Boolean).join(', ');
  const rows = [['login', 'name', 'role', 'two-factor', 'notes'], ...users.map((u) => [u.username ?? '-', u.name ?? '-', u.owner ? 'owner' : u.admin ? 'admin' : 'user', mfaText(u.mfa), notes(u)])];
  say(table(rows));
}

export async function stepExport(session: Session, say: Say): Promise<void> {
  const kind = await select({
    message: 'Export the configuration as',
    choices: [
      { value: 'folder', name: 'a folder' },
      { value: 'tar.gz', name: 'one .tar.gz file' },
    ],
  });
  const base = join(homedir(), `home-assistant-config-${today()}`);
  const where = {
    message: 'Where?',
    suggest: () => freeName(kind === 'folder' ? base : `${base}.tar.gz`, kind === 'folder' ? 'folder' : 'file'),
    // A name typed without its ending made a folder of it, though one .tar.gz file was asked for.
    adjust: (out: string) => (kind === 'tar.gz' && !/\.(tar|tar\.gz|tgz)$/i.test(out) ? withEnding(say, out, '.tar.gz', 'one .tar.gz file') : out),
  };
  const r = await askWhere(where, (out) => {
    const progress = terminalProgress();
    return stoppable(() => exportTree(session.source.volume, session.source.layout, { out, sourcePath: session.source.path, onProgress: progress.update })).finally(progress.end);
  });
  say(`Exported ${r.files} files (${formatBytes(r.bytes)}) to ${r.out}.`);
  for (const n of r.notes) say(`  note: ${n}`);
  for (const u of r.unsupported) say(`  not copied ${u.path}: ${u.reason}`);
  for (const s of r.skipped) say(`  skipped ${s.path}: ${s.reason}`);
  if (r.skipped.some((k) => k.cardRead)) say(partlyDone(`${r.skipped.length} file(s) above could not be read from the card and were not copied`));
  else if (r.skipped.length > 0) say(`Partly done: the ${r.skipped.length} file(s) above are damaged on the card and were not copied. ${DAMAGED_HINT.replace('"Put back a file from a backup"', '"Put back a configuration file from a backup"')}`);
}

/** `out` with the ending the copy needs, said. */
export function withEnding(say: Say, out: string, ending: string, what: string): string {
  say(`Writing it as ${out}${ending} (${what}).`);
  return `${out}${ending}`;
}

/** The end of a copy that left something out: said plainly, with what to do. */
export function partlyDone(what: string): string {
  return `Partly done: ${what}. The card may be failing, or this image is not complete: copy the card to an image file first (haos-rescue image), then copy again from the image.`;
}

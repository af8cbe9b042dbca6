// What the browser window shows of a card and of a disk: the same facts `info` and `disks` report, in the
// shapes of api.ts, sizes already worded.

import { homedir } from 'node:os';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { formatBytes } from '../../units.js';
import { type SurveyedDisk, describeDisk, holdsConfig, notSearched } from '../disks.js';
import { copyFirstReason, info, kernelErrorSummary, lastWritten, stateText } from '../info.js';
import type { OpenedSource } from '../source.js';
import { markedAlready } from '../write/check-mark.js';
import { mediumOf } from '../write/medium.js';
import { tryAgain } from './window-hints.js';
import { AppError } from '../../errors.js';
import type { CardSummary, DiskChoice } from './api.js';

export async function cardSummary(source: OpenedSource, model: string | null): Promise<CardSummary> {
  const r = await info(source);
  const ha = r.homeAssistant;
  const clean = r.data.state === 'unknown' ? null : r.data.state === 'clean';
  const state = stateText(r.data);
  const size = formatBytes(r.sizeBytes);
  return {
    path: source.path,
    sizeText: r.container ? `${size} (${r.container.format} disk file)` : size,
    model,
    haVersion: ha.version,
    users: ha.users,
    backups: ha.backups,
    clean,
    state,
    full: r.space.full,
    usedText: formatBytes(r.space.usedBytes),
    freeText: formatBytes(r.space.availableBytes),
    lastWritten: lastWritten(r.data.times)?.at ?? null,
    kernelErrors: kernelErrorSummary(r.data),
    warnings: r.warnings,
    readFailed: r.readFailed,
    boxReadErrors: (await copyFirstReason(r)) === 'box-read-errors',
    writeRefused: r.data.writeRefused && { message: r.data.writeRefused.message, hint: r.data.writeRefused.hint && tryAgain(r.data.writeRefused.hint), repairAtStart: r.data.writeRefused.remedy === 'check-at-start' },
    markedForCheck: markedForCheck(source),
    startIt: mediumOf(source).startIt,
    // As `info` says "no configuration found on this filesystem"; files it could not read are not "none".
    noConfig: !ha.version && ha.users === null && ha.backups === null && !ha.unreadable && !r.readFailed,
  };
}

/**
 * Why the box checks the filesystem in full at its next start already (the kernel's error mark, set by the box
 * or by "Have the box repair it at its next start", or a journal the kernel stopped), or null: what
 * check-at-start finds before it writes nothing.
 */
function markedForCheck(source: OpenedSource): string | null {
  try {
    return markedAlready(source);
  } catch (err) {
    // A journal that does not replay: not a mark; its refusal is said as the card's refusal.
    if (err instanceof AppError) return null;
    throw err;
  }
}

export function diskChoice(d: SurveyedDisk): DiskChoice {
  const ha = d.homeAssistant;
  const usable = d.hasMedium && !d.error && holdsConfig(d);
  const reason = !d.hasMedium ? d.note ?? 'no card inserted' : d.error ? `cannot read: ${d.error.message}` : usable ? null : 'no Home Assistant data';
  const searchable = notSearched(d);
  return {
    path: d.path,
    label: describeDisk(d),
    usable,
    searchable,
    reason,
    hint: d.error?.hint ?? (searchable ? 'Only its partition table was looked at. Choose it to search the whole disk, in case that table was erased or replaced.' : null),
    system: d.system,
    haVersion: ha?.version ?? null,
    users: ha?.users ?? null,
    backups: ha?.backups ?? null,
    clean: ha ? !ha.needsRecovery : null,
  };
}

/**
 * The home of the person at the keyboard: under sudo, the user who ran sudo (files saved for them belong
 * in their Downloads, not root's).
 */
export function userHome(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  const sudoUser = env['SUDO_USER'];
  if (sudoUser && /^[A-Za-z0-9._-]+$/.test(sudoUser) && sudoUser !== 'root' && platform !== 'win32') {
    const home = platform === 'darwin' ? `/Users/${sudoUser}` : `/home/${sudoUser}`;
    if (existsSync(home)) return home;
  }
  return homedir();
}

/** The Downloads folder where outputs go by default (the home folder when there is none). */
export function downloadsFolder(home = userHome()): string {
  const downloads = join(home, 'Downloads');
  return existsSync(downloads) ? downloads : home;
}

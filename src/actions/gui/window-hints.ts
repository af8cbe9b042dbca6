// What to do after an error, in the window's (or the guided flow's) own terms. The layers below speak of what
// to do (details.remedy, errors.ts): "or replace this one" is the command line's --force, which neither has a
// control for and never does; "name one of the partitions" is its --partition. There the hint says what the
// window or the flow offers instead.

import type { AppError } from '../../errors.js';

export type FrontEnd = 'window' | 'flow';

const ANOTHER_NAME: Record<FrontEnd, string> = {
  window: 'change the name in the box (for example add -2 to it) or choose another folder with Browse…, then try again; haos-rescue never replaces a file on this computer',
  flow: 'choose the step again and give another name or folder; haos-rescue never replaces a file on this computer',
};

/** The command line's "name a partition / the byte offset": the data partition is found by itself only. */
const NOT_THIS_DISK = 'check that this is the Home Assistant card or disk, whole (not one of its partitions, and not cut short); haos-rescue opens a disk here only where it finds the Home Assistant data by itself';

const KEEP_JOURNAL: Record<FrontEnd, string> = {
  window: 'write again: the window applies them first (what Linux does when it mounts the card)',
  flow: 'choose the step again and answer yes when asked to apply them first (what Linux does when it mounts the card)',
};

/** Hints (remedies) that name what the window and the flow have no control for, in their own words. */
const OWN_WORDS: Record<string, (err: AppError, place: FrontEnd) => string> = {
  'choose-partition': (err) => `${err.hint?.replace(/; name one of the partitions to open it anyway$/, '') ?? ''}; ${NOT_THIS_DISK}`.replace(/^; /, ''),
  'data-offset': () => NOT_THIS_DISK,
  'partition-or-offset': () => NOT_THIS_DISK,
  'backup-file': () => 'this is a backup file, not a disk: Home Assistant restores it as it is (Settings > System > Backups, or "Restore from backup" when setting up); to open a card, choose the card or its image file',
  yes: (_err, place) => KEEP_JOURNAL[place],
  'make-backup': (_err, place) => `"${place === 'window' ? 'Make a backup from this card' : 'Make a backup Home Assistant can restore, from this card'}" makes one from what is on it`,
  'login-from-backup': (_err, place) => `choose "${place === 'window' ? 'Put back a file from a backup' : 'Put back a configuration file from a backup'}": when the card's login file is damaged, it offers a backup's (its passwords as they were then); then set the password; nothing was written`,
};

/** "run the command again" is the command line's; in the window and the flow the same step is tried again. */
export const tryAgain = (hint: string): string => hint.replace(/\brun (?:the command |the same command )?again\b/g, 'try again');

/** The hint the window or the flow shows for `err`: its own words where the usual hint names what it cannot do. */
export function frontEndHint(err: AppError, place: FrontEnd): string | null {
  const remedy = err.details['remedy'];
  const own = typeof remedy === 'string' && Object.hasOwn(OWN_WORDS, remedy) ? OWN_WORDS[remedy]! : null;
  if (own) return own(err, place);
  const nothing = err.hint?.includes('nothing was copied') ? '; nothing was copied' : '';
  if (remedy === 'force') {
    if (err.code === 'OUT_NOT_EMPTY') return `choose a new or empty folder: ${ANOTHER_NAME[place]}${nothing}`;
    if (err.code === 'OUTPUT_EXISTS' || err.code === 'OUT_EXISTS') return `${ANOTHER_NAME[place]}${nothing}`;
  }
  const where = place === 'window' ? 'the Downloads folder' : 'the home folder';
  if (remedy === 'originals-or-none') {
    return `copies of the files as they were go to ${where} of this computer first: make room there and try again, or delete without keeping copies (what is deleted is then gone for good); nothing was written to the card`;
  }
  if (remedy === 'originals-dir') {
    return `copies of the files as they were go to ${where} of this computer first: make room there (or let it be written to), then try again; nothing was written to the card`;
  }
  return err.hint === undefined ? null : tryAgain(err.hint);
}

/** The hint the window shows for `err`. */
export function windowHint(err: AppError): string | null {
  return frontEndHint(err, 'window');
}

// What to do after an error, in the window's own terms. The layers below speak of what to do (details.remedy,
// errors.ts): "or replace this one" is the command line's --force, which the window has no control for and
// never does; there the hint says what the window offers instead (another name or folder).

import type { AppError } from '../../errors.js';

const ANOTHER_NAME = 'change the name in the box (for example add -2 to it) or choose another folder with Browse…, then try again; haos-rescue never replaces a file on this computer';

/** The hint the window shows for `err`: its own words where the usual hint names what it cannot do. */
export function windowHint(err: AppError): string | null {
  const remedy = err.details['remedy'];
  const nothing = err.hint?.includes('nothing was copied') ? '; nothing was copied' : '';
  if (remedy === 'force') {
    if (err.code === 'OUT_NOT_EMPTY') return `choose a new or empty folder: ${ANOTHER_NAME}${nothing}`;
    if (err.code === 'OUTPUT_EXISTS' || err.code === 'OUT_EXISTS') return `${ANOTHER_NAME}${nothing}`;
  }
  if (remedy === 'originals-or-none') {
    return 'copies of the files as they were go to the Downloads folder of this computer first: make room there and try again, or delete without keeping copies (what is deleted is then gone for good); nothing was written to the card';
  }
  if (remedy === 'originals-dir') {
    return 'copies of the files as they were go to the Downloads folder of this computer first: make room there (or let it be written to), then try again; nothing was written to the card';
  }
  return err.hint ?? null;
}

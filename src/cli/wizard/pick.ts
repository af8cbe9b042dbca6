// The wizard's first question: which disk (or image file) holds the Home Assistant data. Disks with data
// come first; the system disk is never preselected; disks that could not be read say why.

import { typedPath } from '../../actions/typed-path.js';
import { existsSync, statSync } from 'node:fs';
import { BACK, input, orBack, select } from './ask.js';
import { type SurveyedDisk, describeDisk, holdsConfig, notSearched, surveyDisks } from '../../actions/disks.js';
import { AppError } from '../../errors.js';

const IMAGE = '\u0000image';
const QUIT = '\u0000quit';

export function diskLine(d: SurveyedDisk): { name: string; disabled?: string } {
  const name = describeDisk(d);
  if (!d.hasMedium) return { name, disabled: d.note ?? 'no card inserted' };
  if (d.error) return { name, disabled: `cannot read: ${d.error.message}` };
  // Only its partition table was looked at: choosing it searches the whole disk (an erased table).
  if (notSearched(d)) return { name: `${name}: no Home Assistant data in its partitions; choose it to search the whole disk` };
  if (!holdsConfig(d)) return { name, disabled: 'no Home Assistant data' };
  const ha = d.homeAssistant!;
  return { name: `${name}: Home Assistant ${ha.version ?? '(version unknown)'}, ${ha.users ?? '?'} user(s), ${ha.backups ?? 0} backup(s)` };
}

/** The path of the source to work on, or null when the user quits. */
export async function pickSource(say: (text: string) => void): Promise<string | null> {
  say('Looking for disks...');
  let disks: SurveyedDisk[] = [];
  try {
    disks = await surveyDisks();
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    say(`Could not list the disks: ${err.message}${err.hint ? `\n  ${err.hint}` : ''}`);
  }
  const withData = disks.filter((d) => holdsConfig(d) && !d.system);
  const hints = [...new Set(disks.map((d) => d.error?.hint).filter((h): h is string => Boolean(h)))];
  if (withData.length === 0) {
    say('No disk with Home Assistant data was found.');
    for (const h of hints) say(`  ${h}`);
    say('  Insert the card (or connect the SSD) and start haos-rescue again, or open an image file.');
  }
  const ordered = [...withData, ...disks.filter((d) => !withData.includes(d))];
  const choices = [
    ...ordered.map((d) => ({ value: d.path, ...diskLine(d) })),
    { value: IMAGE, name: 'An image file (.img) on this computer...' },
    { value: QUIT, name: 'Quit' },
  ];
  for (;;) {
    const picked = await select({ message: 'Which disk holds your Home Assistant?', choices, loop: true, pageSize: 12 });
    if (picked === QUIT) return null;
    if (picked !== IMAGE) return picked;
    // Esc at the path goes back to the list of disks.
    const path = await orBack(() => input({ message: 'Path of the image file:', validate: imagePathProblem }));
    if (path !== BACK) return typedPath(path);
  }
}

function imagePathProblem(p: string): string | true {
  if (p.trim() === '') return 'type the path of the image file, or drag the file into this window';
  const full = typedPath(p);
  if (!existsSync(full)) return `${full} does not exist`;
  return statSync(full).isDirectory() ? `${full} is a folder, not an image file` : true;
}

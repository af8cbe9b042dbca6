// When the card fails a read in the wizard (a bad sector: the card is wearing out), the wizard offers what
// `haos-rescue image` does: copy the card once, carefully, to an image file on this computer, then go on
// with the copy. Every further read of a failing card may be its last; the copy can be read as often as
// needed, and its map keeps the unreadable parts reading as errors, never as zeros.

import { homedir } from 'node:os';
import { join } from 'node:path';
import { confirm } from './ask.js';
import { askWhere } from './where.js';
import { ImageJob, type ImageResult, freeLeftOutText, inUseText } from '../../actions/image/index.js';
import { shellWord } from '../../shell-word.js';
import { formatBytes, partOf } from '../../units.js';
import { VERSION } from '../../version.js';
import { withImageProgress } from '../image-progress.js';
import { type Say, today } from './steps.js';

/** Offers to copy the failing card at `path` to an image file; returns the image to go on with, or null. */
export async function offerImage(path: string, say: Say, why: 'read-failed' | 'box-read-errors' = 'read-failed'): Promise<string | null> {
  say('');
  if (why === 'box-read-errors') say('The box itself could not read parts of this card (its system recorded read errors): it may be wearing out.');
  else say('Parts of this card could not be read: it may be wearing out, and each further read of it may be its last.');
  say('The safe way on is to copy it once, carefully, to an image file on this computer (the readable parts');
  say('first: the filesystem, then the configuration, then the backups), and to work on the copy.');
  if (!(await confirm({ message: 'Copy the card to an image file now?', default: true }))) return null;
  const where = { message: 'Image file (on this computer, not on the card):', suggest: async () => join(homedir(), `haos-card-${today()}.img`) };
  let { result, stopped } = await askWhere(where, (out) => copyOnce(path, out, say));
  for (;;) {
    if (stopped) return null;
    // A worn card sometimes gives a sector on another try: offered here, not only by starting over.
    if (result.badSectorBytes === 0) return result.out;
    const again = await confirm({ message: `Try the ${formatBytes(result.badSectorBytes)} that could not be read once more now?`, default: false });
    if (!again) return result.out;
    ({ result, stopped } = await copyOnce(path, result.out, say));
  }
}

/** One copy of the card into `out` (a second one continues it, trying the unreadable parts once more). */
async function copyOnce(path: string, out: string, say: Say): Promise<{ result: ImageResult; stopped: boolean }> {
  const job = await ImageJob.start(path, {
    out,
    retryOnResume: true,
    continueWords: 'start haos-rescue again, choose the card and give the same image file',
    commandLine: `haos-rescue image ${shellWord(path)} --out ${shellWord(out)}`,
    version: VERSION,
  });
  const result = await withImageProgress(job, process.stderr.isTTY === true);
  for (const line of resultLines(result, job.stopped)) say(line);
  return { result, stopped: job.stopped };
}

function resultLines(r: ImageResult, stopped: boolean): string[] {
  const lines = [`Copied ${partOf(r.rescuedBytes, r.domainBytes)} to ${r.out} (map: ${r.map}).`];
  if (r.badSectorBytes > 0) lines.push(`${formatBytes(r.badSectorBytes)} could not be read: files that touch those parts are reported when they are read.`);
  const leftOut = freeLeftOutText(r);
  if (leftOut !== null) lines.push(leftOut);
  const inUse = inUseText(r, 'copy it again to a new image file');
  if (inUse !== null) lines.push(`Warning: ${inUse}.`);
  if (stopped) {
    lines.push('Stopped: what was copied is kept. Copy the card again to the same file to continue where it stopped,');
    lines.push('or choose "An image file" and give that file to work with what is there.');
  } else {
    lines.push('From here on, this session reads the copy, not the card.');
  }
  return lines;
}

// The browser window's copy of a failing card to an image file, what `haos-rescue image` does: the page
// offers it when the card refuses a read. Its progress goes to the page as the other jobs' does; Stop keeps
// what was copied (the map beside the image says what, and copying again to the same file continues),
// where the other copies remove their unfinished file. Afterwards the session works on the copy.

import { importantNotWhole } from '../image/files-hit.js';
import { AppError, ExitCode } from '../../errors.js';
import { shellWord } from '../../shell-word.js';
import { formatBytes, partOf } from '../../units.js';
import { VERSION } from '../../version.js';
import { ImageJob, type ImageResult, freeLeftOutText, inUseText, progressLine } from '../image/index.js';
import type { ProgressListener } from '../progress.js';
import type { ResultAnswer } from './api.js';
import { type GuiContext, asBody } from './context.js';
import { localPath } from './copies.js';

const JOB = 'Copy the card to an image file';

export async function imageCard(ctx: GuiContext, raw: unknown): Promise<ResultAnswer> {
  const out = localPath(asBody(raw), 'out');
  const card = ctx.source.path;
  // Started inside the job: a Stop pressed while the copy was being set up (its map already written) found no
  // job under way and was lost, and the copy ran to its end; and a copy refused as busy left a new map behind.
  const r = await ctx.jobs.run(JOB, 'bytes', async (onProgress) => {
    const job = await ImageJob.start(card, { out, retryOnResume: true, continueWords: 'copy the card again to the same file', commandLine: `haos-rescue image ${shellWord(card)} --out ${shellWord(out)}`, version: VERSION });
    return runReporting(job, onProgress);
  });
  if (r.stopped) {
    throw new AppError('STOPPED', ExitCode.INTERRUPTED, `${JOB}: stopped; the ${formatBytes(r.rescuedBytes)} copied so far are kept in ${r.out}`, {
      hint: 'copy again to the same file to continue where it stopped',
    });
  }
  const summary = await ctx.openCard(r.out, { copy: true });
  const lost = r.badSectorBytes > 0 ? await importantNotWhole(ctx.source) : [];
  return {
    lines: [
      `Copied ${partOf(r.rescuedBytes, r.domainBytes)} to ${r.out} (map: ${r.map}).`,
      ...(r.badSectorBytes > 0 ? [`${formatBytes(r.badSectorBytes)} could not be read: files that touch those parts are reported when they are read.`] : []),
      ...(r.freeLeftOut !== null ? [freeLeftOutText(r)!] : []),
      ...(r.inUse !== null ? [`Warning: ${inUseText(r, 'copy it again to a new image file')!}.`] : []),
      ...copyUse(lost.map((f) => f.path), r.badSectorBytes > 0),
    ],
    card: summary,
  };
}

/**
 * What the copy is good for: "take the card out" only when what a rescue is for (the logins, the
 * configuration, the backups) is whole in it; else the card is kept for another try.
 */
function copyUse(lost: string[], damaged: boolean): string[] {
  if (lost.length === 0) {
    return [`${damaged ? 'The logins, the configuration and the backups are all whole in the copy. ' : ''}From here on this window reads the copy, not the card. You can take the card out.`];
  }
  return [
    `Not whole in the copy (${lost.length}): ${lost.join(', ')}.`,
    'From here on this window reads the copy. Keep the card: choosing it again in the list of disks and copying it to the same file tries the missing parts once more.',
  ];
}

/** Runs the job, reporting its progress every half second; a report refused (Stop, Ctrl-C) stops it, keeping the copy. */
async function runReporting(job: ImageJob, onProgress: ProgressListener): Promise<ImageResult> {
  const report = (done: boolean): void => {
    const p = job.progress();
    onProgress({
      bytes: p.rescuedBytes, files: 0, totalBytes: p.domainBytes, totalFiles: null, elapsedMs: p.elapsedMs,
      bytesPerSecond: p.bytesPerSecond, secondsLeft: p.secondsLeft, done, text: progressLine(p),
    });
  };
  const tick = (): boolean => {
    try {
      report(false);
      return true;
    } catch {
      void job.stop();
      return false;
    }
  };
  // At once, then every half second: a Stop asked for while the copy was set up stops it before a read.
  const timer = setInterval(() => {
    if (!tick()) clearInterval(timer);
  }, 500);
  if (!tick()) clearInterval(timer);
  try {
    const r = await job.run();
    try {
      if (!r.stopped) report(true);
    } catch {
      // Stop came as the copy ended: it is whole, nothing to stop.
    }
    return r;
  } finally {
    clearInterval(timer);
  }
}

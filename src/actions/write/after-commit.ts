// An error met once some or all of a change is committed to the card's journal. The bare error ("write
// failed: EIO") read as if nothing had changed, and running the command again then met a card that
// already had the change. Said here: what is made, why the rest failed, and whether to run it again.

import { type AppError, reworded, toAppError } from '../../errors.js';
import type { OpenedSource } from '../source.js';
import { type Medium, mediumOf } from './medium.js';

export interface MadeSoFar {
  /** Journal transactions committed (each leaves the filesystem consistent on its own). */
  committed: number;
  /** Transactions the change needs. */
  of: number;
  /** Where it failed: writing the change, or reading it back once it was all written. */
  stage: 'write' | 'read-back';
}

/** The failures of the medium itself (not a refusal, not a check that found wrong bytes). */
const MEDIUM_FAILURES = new Set(['WRITE_FAILED', 'FLUSH_FAILED', 'READ_FAILED', 'SHORT_READ', 'SHORT_WRITE', 'NO_MEDIUM']);

/**
 * `err` in the owner's words: what of the change is made, why the rest failed, whether to run it again.
 * Unchanged when none of it is made and the medium did not fail (a refusal says so itself).
 */
export function afterCommitError(src: OpenedSource, err: unknown, made: MadeSoFar): AppError {
  const e = toAppError(err);
  const committed = made.committed + (typeof e.details['committed'] === 'number' ? 1 : 0);
  if (committed === 0 && !MEDIUM_FAILURES.has(e.code)) return e;
  const medium = mediumOf(src);
  // The file on this computer changed under `put`: not the card's failure (the hint spoke of a failing disk).
  if (e.code === 'LOCAL_FILE_CHANGED') {
    return reworded(e, `the change is written to ${medium.the}, but ${e.message}: what went in may be part old, part new`, { cause: err, hint: 'make sure nothing writes to the file on this computer, then run the same command again to put it whole' });
  }
  const whole = committed >= made.of;
  const message =
    committed === 0
      ? `writing the change failed, and none of it is made (the files on ${medium.the} are as they were): ${e.message}`
      : made.stage === 'read-back'
        ? `the change is written to ${medium.the}, but reading it back then failed: ${e.message}`
        : whole
          ? `the change is made (it is in the journal of ${medium.the}, which is replayed before it is used), but writing it in its place then failed: ${e.message}`
          : `part of the change is made (${committed} of ${made.of} steps, each complete on its own), then writing failed: ${e.message}`;
  const cause = causeHint(e, src.path, medium);
  // A card that failed is worked on through an image of it (the remedy says how), not written again.
  const hint = whole && committed > 0
    ? `do not run the command again: haos-rescue already reads ${medium.the} with the change, and ${medium.system} applies it from the journal at its next start; ${cause.hint}`
    : cause.remedy !== undefined
      ? cause.hint
      : `${cause.hint}, then run the same command again${committed > 0 ? ' to finish it' : ''}`;
  return reworded(e, message, {
    cause: err,
    hint,
    details: { ...e.details, made: committed === 0 ? 'none' : whole ? 'whole' : 'part' },
    ...(cause.remedy ? { remedy: cause.remedy } : {}),
  });
}

function causeHint(e: AppError, path: string, medium: Medium): { hint: string; remedy?: 'image-first' } {
  if (e.details['errno'] === 'ENOSPC') return { hint: `the disk that holds ${path} is full: make room on it` };
  if (medium.kind === 'card') return { hint: `${medium.the} may be failing or was taken out: copy it to an image file before anything else`, remedy: 'image-first' };
  return { hint: `the disk that holds ${path} may be failing or was disconnected: copy the file elsewhere before anything else` };
}

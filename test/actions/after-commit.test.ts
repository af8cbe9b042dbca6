// The words of a write that failed part way, for the cases a real card is hard to make fail at (a change in
// several journal transactions, the read-back after it) and for a card, whose remedy is its image.

import { describe, expect, it } from 'vitest';
import { afterCommitError } from '../../src/actions/write/after-commit.js';
import type { OpenedSource } from '../../src/actions/source.js';
import { IoError, RefusedError } from '../../src/errors.js';
import { memoryDevice } from '../../src/device/memory-device.js';
import { isMediumError } from '../../src/device/map-os-error.js';

/** A card (a disk path that is no file), as mediumOf sees it. */
const card = {
  path: '/dev/no-such-card',
  device: memoryDevice(Buffer.alloc(4096)),
  discovery: { table: { type: 'gpt' }, chosen: { byteOffset: 1 << 20 } },
} as unknown as OpenedSource;
const eio = (): IoError => new IoError('WRITE_FAILED', 'write of 4096 bytes failed on /dev/no-such-card at byte 1: EIO', { details: { errno: 'EIO' } });

describe('afterCommitError', () => {
  it('part of a change in several transactions: how much is made, and to finish it from an image of the card', () => {
    const err = afterCommitError(card, eio(), { committed: 2, of: 5, stage: 'write' });
    expect(err.message).toBe('part of the change is made (2 of 5 steps, each complete on its own), then writing failed: write of 4096 bytes failed on /dev/no-such-card at byte 1: EIO');
    expect(err.hint).toBe('the card may be failing or was taken out: copy it to an image file before anything else');
    expect(err.details).toMatchObject({ made: 'part', remedy: 'image-first' });
    expect(err.exitCode).toBe(74);
  });

  it('the last transaction committed, its checkpoint failed: made whole', () => {
    const failed = eio();
    const committed = Object.assign(failed, { details: { ...failed.details, committed: 7 } });
    const err = afterCommitError(card, committed, { committed: 1, of: 2, stage: 'write' });
    expect(err.message).toMatch(/^the change is made \(it is in the journal of the card, /);
    expect(err.hint).toMatch(/^do not run the command again: haos-rescue already reads the card with the change, and the box applies it/);
    expect(err.details['made']).toBe('whole');
  });

  it('every transaction committed, the read-back failed: written', () => {
    const err = afterCommitError(card, new IoError('READ_FAILED', 'read failed: EIO'), { committed: 1, of: 1, stage: 'read-back' });
    expect(err.message).toBe('the change is written to the card, but reading it back then failed: read failed: EIO');
    // Still the card's read failure: the guided flow offers to copy the card (it tests the class).
    expect(err).toBeInstanceOf(IoError);
    expect(isMediumError(err)).toBe(true);
  });

  it('the file on this computer changed under put, found at the read-back: said as that, to be run again (it spoke of a failing disk)', () => {
    const changed = new IoError('LOCAL_FILE_CHANGED', 'lf changed while it was being put onto the card', { hint: 'make sure nothing writes to it, then run the command again' });
    const err = afterCommitError(card, changed, { committed: 1, of: 1, stage: 'read-back' });
    expect(err.message).toBe('the change is written to the card, but lf changed while it was being put onto the card: what went in may be part old, part new');
    expect(err.hint).toBe('make sure nothing writes to the file on this computer, then run the same command again to put it whole');
    expect(err.hint).not.toMatch(/failing|image/);
  });

  it('a refusal before anything is committed is left as it is (it says what to do itself)', () => {
    const refusal = new RefusedError('TRANSACTION_TOO_LARGE', 'too large', { hint: 'change fewer files at once; nothing was written' });
    expect(afterCommitError(card, refusal, { committed: 0, of: 1, stage: 'write' })).toBe(refusal);
  });
});

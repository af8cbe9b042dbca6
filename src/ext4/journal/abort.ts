// The error a journal keeps when the box's kernel aborted it (jbd2 s_errno, a negative errno, written by
// jbd2_journal_abort through jbd2_journal_update_sb_errno): a failed write of the card (EIO) is the usual
// cause. At the next mount the kernel marks the filesystem as having errors (ext4_clear_journal_err:
// "Filesystem error recorded from previous mount") and e2fsck checks it in full.

export interface JournalAbort {
  /** The errno, positive (EIO is 5). */
  errno: number;
  name: string;
  meaning: string;
}

const ERRNOS: Record<number, [string, string]> = {
  5: ['EIO', 'a read or write of the card failed'],
  12: ['ENOMEM', 'the box ran out of memory'],
  28: ['ENOSPC', 'no space was left'],
  30: ['EROFS', 'the filesystem had been made read-only'],
  74: ['EFSBADCRC', 'a checksum of the filesystem did not match'],
  108: ['ESHUTDOWN', 'the filesystem was shut down'],
  117: ['EFSCORRUPTED', 'the filesystem structures were damaged'],
};

/** What the journal's `s_errno` says (0 when the kernel never aborted it, or the journal cannot be read). */
export function journalAbort(errno: number): JournalAbort | null {
  const n = Math.abs(errno);
  if (n === 0) return null;
  const [name, meaning] = ERRNOS[n] ?? [`errno ${n}`, `error ${n}`];
  return { errno: n, name, meaning };
}

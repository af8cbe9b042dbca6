// Guest data that a disk file's tables place past the end of the file. Most often the file is cut short (an
// interrupted copy or download); a damaged table does the same. Said as such, as an unreadable region (a
// medium error, as a card's bad sectors are): what lies before it reads as it is, a copy of files reports
// the ones that touch it, and the ext4 superblock is not called damaged for it.

import { IoError } from '../../errors.js';

/** What to do about a disk file whose structures are damaged: most often a copy or download cut short. */
export const DAMAGED_FILE_HINT = 'if the file was copied or downloaded, the copy may be cut short: copy it again, whole, from where it came from; otherwise run qemu-img check on a copy of it';

export interface PastEnd {
  /** The disk file. */
  path: string;
  fileSize: number;
  /** Where the table places the data, in the file. */
  fileOffset: number;
  length: number;
  /** What it is: "block 11", "grain data", "the cluster". */
  what: string;
  /** The code the format gave this before (kept in the details). */
  formatCode: string;
}

export function pastFileEnd(p: PastEnd): IoError {
  return new IoError('SHORT_READ', `${p.path} ends at byte ${p.fileSize}, before ${p.what} (${p.length} bytes at byte ${p.fileOffset} of the file): the file is cut short, or its table is damaged`, {
    hint: 'copy the file again, whole, from where it came from (an interrupted copy or download leaves it so); what lies before the cut reads as it is',
    details: { path: p.path, fileSize: p.fileSize, fileOffset: p.fileOffset, length: p.length, cut: true, formatCode: p.formatCode },
  });
}

// Where a copy goes on this computer, asked until a place takes it. A place refused (a name taken, a file on
// the way, a folder that takes no files, a full or read-only disk) is said, and the question comes again:
// it went back to the menu, and the step's questions (a password, the kind of copy) were asked anew.

import { typedPath } from '../../actions/typed-path.js';
import { AppError } from '../../errors.js';
import { input } from './ask.js';
import { flowError } from './flow-error.js';

/** The output's own problems, each said before or instead of copying: another place is the way on. */
const PLACE_PROBLEMS = new Set([
  'OUT_EXISTS', 'OUTPUT_EXISTS', 'OUT_NOT_EMPTY', 'OUT_NOT_A_FOLDER', 'OUT_NOT_TAR', 'OUTPUT_CANNOT_CREATE', 'OUTPUT_NO_PERMISSION',
  'OUTPUT_READ_ONLY', 'OUTPUT_ON_SOURCE', 'OUTPUT_IS_SOURCE', 'OUTPUT_IS_SOURCE_MAP', 'OUTPUT_FULL', 'OUTPUT_FILE_TOO_BIG',
]);

const TAKEN = new Set(['OUT_EXISTS', 'OUTPUT_EXISTS', 'OUT_NOT_EMPTY']);

export interface WhereQuestion {
  message: string;
  /** The suggested place, worked out again for each asking (a free name may be taken by then). */
  suggest: () => Promise<string>;
  /** The place as typed, made usable (an ending added, said); the identity when absent. */
  adjust?: (out: string) => string;
}

/** Asks where, runs `copy` there; asks again while the place is refused. */
export async function askWhere<T>(q: WhereQuestion, copy: (out: string) => Promise<T>): Promise<T> {
  for (;;) {
    const typed = typedPath(await input({ message: q.message, default: await q.suggest(), validate: (v) => (v.trim() === '' ? 'give a file or folder name' : true) }));
    try {
      return await copy(q.adjust?.(typed) ?? typed);
    } catch (err) {
      if (!(err instanceof AppError) || !PLACE_PROBLEMS.has(err.code)) throw err;
      process.stderr.write(flowError(err, TAKEN.has(err.code) ? 'give another name or folder below; haos-rescue never replaces a file on this computer' : undefined));
    }
  }
}

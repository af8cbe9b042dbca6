// An error as the guided flow says it: its hint in the flow's own terms (the command line's "--force", "name
// one of the partitions" or "run the command again" name what the flow has no way to do).

import { frontEndHint } from '../../actions/gui/window-hints.js';
import { AppError } from '../../errors.js';
import { errorLines } from '../render.js';

/** With --verbose the flow's errors carry their code and where they came from (the stack), as commands' do. */
let verbose = false;

export function flowErrorsVerbose(on: boolean): void {
  verbose = on;
}

export function flowError(err: AppError, hint = frontEndHint(err, 'flow') ?? 'choose the step again, or another one'): string {
  return `${errorLines(new AppError(err.code, err.exitCode, err.message, { hint, details: err.details, cause: err.cause instanceof Error ? err.cause : err }), verbose)}\n`;
}

// The guided step that shows why Home Assistant stopped: the last lines of its log on the card.

import { AppError } from '../../errors.js';
import { namesCustomIntegration, readLogs } from '../../actions/logs/index.js';
import { logSubject, logsSummary, renderLogs } from '../commands/logs.js';
import type { Say, Session } from './steps.js';
import { shellWord } from '../../shell-word.js';

const LINES = 40;

export async function stepLogs(session: Session, say: Say): Promise<void> {
  const { subject, title } = logSubject('core');
  let result;
  try {
    result = await readLogs(session.source, { subject, lines: LINES });
  } catch (err) {
    if (err instanceof AppError && err.code === 'NO_LOGS') return say(`${err.message}.`);
    throw err;
  }
  for (const f of result.files) if (f.problem !== null) say(`  warning: ${f.path}: ${f.problem}`);
  const text = renderLogs(result, false);
  if (text) say(text.trimEnd());
  say(logsSummary(result, title, LINES));
  if (namesCustomIntegration(result.lines)) {
    say('A custom integration appears in these lines: "Start Home Assistant in safe mode" skips custom integrations at the next start.');
  }
  if (result.lines.length > 0) say(`For more: haos-rescue logs ${shellWord(session.source.path)} --lines 500 (add --of all for the whole system).`);
}

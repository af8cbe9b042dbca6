// The guided step that shows why Home Assistant stopped: the last lines of its log on the card.

import { AppError } from '../../errors.js';
import { COLOUR, namesCustomIntegration, readLogs } from '../../actions/logs/index.js';
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
    if (!(err instanceof AppError) || err.code !== 'NO_LOGS') throw err;
    say(`${err.message}.`);
    return ownLogFile(session, say);
  }
  for (const f of result.files) if (f.problem !== null) say(`  warning: ${f.path}: ${f.problem}`);
  const text = renderLogs(result, false);
  if (text) say(text.trimEnd());
  say(logsSummary(result, title, LINES));
  if (namesCustomIntegration(result.lines)) {
    say('A custom integration appears in these lines: "Start Home Assistant in safe mode" skips custom integrations at the next start.');
  }
  if (result.lines.length > 0) say(`For more: haos-rescue logs ${shellWord(session.source.path)} --lines 500 (add --of all for the whole system).`);
  else await ownLogFile(session, say);
}

/** Most bytes read from the end of home-assistant.log for its last lines. */
const TAIL_BYTES = 64 * 1024;

/**
 * Without saved system logs: Home Assistant's own log file in its configuration folder, when it keeps one
 * (the command line's hint named it; the guided flow said nothing of it), its last lines shown.
 */
async function ownLogFile(session: Session, say: Say): Promise<void> {
  const config = session.source.layout.configPath;
  if (config === null) return;
  // The current run's log, else the one before (Home Assistant renames it to .log.1 at each start).
  let path = '';
  let inode = null;
  for (const name of ['home-assistant.log', 'home-assistant.log.1']) {
    path = `${config}/${name}`;
    inode = await session.source.volume.lookup(path).catch(() => null);
    if (inode !== null && inode.kind === 'file' && inode.sizeBytes > 0) break;
    inode = null;
  }
  if (inode === null) return;
  const start = Math.max(0, inode.sizeBytes - TAIL_BYTES);
  const text = (await session.source.volume.readFile(inode, start, inode.sizeBytes)).toString('utf8');
  const lines = text.replace(COLOUR, '').split('\n').slice(start > 0 ? 1 : 0).filter((l) => l.trim() !== '').slice(-LINES);
  say(`Home Assistant's own log file, ${path}: its last ${lines.length} line(s):`);
  say(lines.join('\n'));
  if (namesCustomIntegration(lines.map((message) => ({ message })))) {
    say('A custom integration appears in these lines: "Start Home Assistant in safe mode" skips custom integrations at the next start.');
  }
  say(`For all of it: haos-rescue cat ${shellWord(session.source.path)} ${shellWord(path)}`);
}

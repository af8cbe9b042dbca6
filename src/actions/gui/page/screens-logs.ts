// "Show the log": the last lines Home Assistant wrote before the box stopped, read from the card, a line
// between starts of the box; when a custom integration is named, the way to safe mode.
import type { LogsAnswer } from '../api.js';
import { append, button, el } from './dom.js';
import { read, showSafeMode } from './screens-other.js';
import { backButton, openScreen } from './ui.js';

/**
 * Errors and warnings by the level Home Assistant writes in the line ("2025-12-04 07:05:03.511 ERROR (...)"),
 * not by the journal's priority: Docker gives every line written to stderr priority 3, and Python's logging
 * writes every line there.
 */
function levelClass(message: string): string {
  const level = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? (ERROR|CRITICAL|WARNING) /.exec(message)?.[1];
  return level === 'WARNING' ? 'log-warning' : level ? 'log-error' : 'log-line';
}

/** The lines, one per row, a row of its own where the box started again or the day changed; errors marked. */
function logText(answer: LogsAnswer): HTMLPreElement {
  const pre = el('pre', { cls: 'log', attrs: { 'aria-label': 'Log lines', tabindex: '0' } });
  let boot: string | null = null;
  let day = '';
  for (const line of answer.lines) {
    const when = new Date(line.time);
    const date = when.toLocaleDateString(undefined, { weekday: 'short', year: 'numeric', month: 'short', day: 'numeric' });
    if (line.bootId !== boot || date !== day) {
      const started = boot !== null && line.bootId !== boot ? 'the box started again, ' : '';
      pre.append(el('span', { cls: 'log-mark', text: `—— ${started}${date} ——` }), '\n');
      boot = line.bootId;
      day = date;
    }
    pre.append(el('span', { cls: levelClass(line.message), text: `${when.toLocaleTimeString()}  ${line.message}` }), '\n');
  }
  return pre;
}

export async function showLogs(lines = 200): Promise<void> {
  const s = openScreen('Show the log');
  const answer = await read<LogsAnswer>(s, `/api/logs?lines=${lines}`, 'Reading the log on the card…');
  if (!answer) return;
  s.section.appendChild(el('p', { text: answer.summary }));
  for (const p of answer.problems) s.section.appendChild(el('p', { cls: 'warning-box', text: p }));
  if (answer.lines.length > 0) {
    const pre = logText(answer);
    s.section.appendChild(pre);
    // The newest lines are the ones that matter: show the end first.
    requestAnimationFrame(() => (pre.scrollTop = pre.scrollHeight));
  }
  if (answer.customIntegration) {
    const box = el('div', { cls: 'warning-box' },
      el('p', { text: 'A custom integration is named in these lines. Safe mode starts Home Assistant once without custom integrations, so you can log in and remove or update it.' }),
      el('div', { cls: 'row' }, button('Safe mode', () => showSafeMode(), 'primary')));
    s.section.appendChild(box);
  }
  const row = el('div', { cls: 'row' });
  if (answer.more) row.appendChild(button('Show more lines', () => void showLogs(lines * 5), 'secondary'));
  append(row, backButton());
  s.section.appendChild(row);
}

// The remaining job screens: "Show the backup key", "Free space" (space bars, delete the history database,
// old backups or old system logs) and "Safe mode" (both write through the confirm dialog).
import type { KeyAnswer, SafeModeAnswer, SpaceAnswer } from '../api.js';
import { get } from './client.js';
import { append, button, el, field } from './dom.js';
import { planAndWrite } from './confirm.js';
import type { Screen } from './ui.js';
import { backButton, loading, openScreen, refusedHere, showError, showNote, showProblem } from './ui.js';

/** GET path on screen s, or null after showing the error (with Back). */
export async function read<T>(s: Screen, path: string, wait: string): Promise<T | null> {
  const p = loading(s, wait);
  try {
    return await get<T>(path);
  } catch (err) {
    showError(s, err);
    s.section.appendChild(el('div', { cls: 'row' }, backButton()));
    return null;
  } finally {
    p.remove();
  }
}

async function copyKey(s: Screen, key: string, code: HTMLElement): Promise<void> {
  try {
    await navigator.clipboard.writeText(key);
    showNote('Copied');
    return;
  } catch {
    // No clipboard for this page: select the text for Ctrl+C.
  }
  const range = document.createRange();
  range.selectNodeContents(code);
  const selection = window.getSelection();
  selection?.removeAllRanges();
  selection?.addRange(range);
  showNote('The key is selected: press Ctrl+C (⌘C on a Mac) to copy it.');
}

export async function showKey(): Promise<void> {
  const s = openScreen('Show the backup key');
  const answer = await read<KeyAnswer>(s, '/api/key', 'Reading the backup key…');
  if (!answer) return;
  const row = el('div', { cls: 'row' });
  if (answer.key === null) s.section.appendChild(el('p', { text: answer.message }));
  else {
    const key = answer.key;
    const code = el('code', { cls: 'key', text: key, attrs: { id: 'backup-key' } });
    append(s.section, el('p', { cls: 'key-box' }, code), el('p', { cls: 'key-use', text: answer.message }));
    if (answer.opens !== null) s.section.appendChild(el('p', { cls: 'key-opens', text: answer.opens }));
    row.appendChild(button('Copy', () => void copyKey(s, key, code), 'big primary'));
  }
  if (answer.plain !== null) s.section.appendChild(el('p', { text: answer.plain }));
  row.appendChild(backButton());
  s.section.appendChild(row);
}

function spaceBars(space: SpaceAnswer): HTMLUListElement {
  const list = el('ul', { cls: 'bars', attrs: { 'aria-label': 'What takes the room' } });
  for (const c of space.categories) {
    const meter = el('meter', { attrs: { min: '0', max: '1', 'aria-label': c.label } });
    meter.value = Math.min(1, Math.max(0, c.fraction));
    list.appendChild(el('li', {}, el('span', { cls: 'bar-label', text: c.label }), meter, el('span', { cls: 'bar-size', text: c.sizeText })));
  }
  return list;
}

/** The most days the server takes: a backup older than that predates Home Assistant. */
const MAX_DAYS = 100_000;

function deleteBackupsForm(s: Screen): HTMLFormElement {
  const days = el('input', { attrs: { type: 'number', min: '0', max: String(MAX_DAYS), step: '1', inputmode: 'numeric' } });
  days.value = '30';
  const submit = el('button', { cls: 'big danger-outline', text: 'Delete older backups', attrs: { type: 'submit' } });
  const form = el(
    'form',
    { cls: 'job-form' },
    el('h3', { text: 'Old backups' }),
    el('p', { text: 'Deletes the backups on the card that are older than this many days (0 deletes every backup). Copy them to this computer first with “Copy the backups”.' }),
    field('Days', days),
    el('div', { cls: 'row' }, submit),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const n = Number(days.value.trim());
    if (days.value.trim() === '' || !Number.isInteger(n) || n < 0) return showProblem(s, 'Type a whole number of days, such as 30.');
    if (n > MAX_DAYS) return showProblem(s, `Type at most ${MAX_DAYS.toLocaleString('en-US')} days (a backup older than that is older than Home Assistant).`);
    void planAndWrite(s, { kind: 'delete-backups', olderThanDays: n }, submit);
  });
  return form;
}

export async function showSpace(): Promise<void> {
  const s = openScreen('Free space');
  const space = await read<SpaceAnswer>(s, '/api/space', 'Measuring the data partition…');
  if (!space) return;
  const summary = el('p', { cls: 'space-summary' }, `${space.usedText} used of ${space.totalText}, ${space.freeText} free`);
  if (space.full) {
    summary.appendChild(el('span', { cls: 'badge full', text: 'FULL' }));
    s.section.appendChild(summary);
    s.section.appendChild(el('p', { cls: 'warning-box', text: 'The data partition is full: Home Assistant may not start until some room is freed.' }));
  } else s.section.appendChild(summary);
  s.section.appendChild(spaceBars(space));
  if (refusedHere(s)) return;
  if (space.databaseText !== null) {
    const del = button('Delete the history database', () => void planAndWrite(s, { kind: 'delete-database' }, del), 'big danger-outline');
    const text = space.databaseText === '' ? 'The history database holds the past values of your sensors; Home Assistant starts a new, empty one.' : `History database: ${space.databaseText}. Home Assistant starts a new, empty one.`;
    append(s.section, el('div', { cls: 'job-form' }, el('h3', { text: 'History database' }), el('p', { text }), el('div', { cls: 'row' }, del)));
  }
  append(s.section, deleteBackupsForm(s));
  if (space.oldLogsText !== null) {
    const del = button('Delete the old logs', () => void planAndWrite(s, { kind: 'delete-old-logs' }, del), 'big danger-outline');
    const text = `Old system logs: ${space.oldLogsText}. The files the box was writing to are kept, so its last lines stay readable.`;
    append(s.section, el('div', { cls: 'job-form' }, el('h3', { text: 'Old system logs' }), el('p', { text }), el('div', { cls: 'row' }, del)));
  }
  s.section.appendChild(el('div', { cls: 'row' }, backButton()));
}

/** Safe mode as it is on the card: set (offer to take it back) or not (offer to set it), read each time. */
export async function showSafeMode(): Promise<void> {
  const s = openScreen('Safe mode');
  if (refusedHere(s)) return;
  const now = await read<SafeModeAnswer>(s, '/api/safe-mode', 'Reading whether safe mode is set…');
  if (!now) return;
  let change: HTMLButtonElement;
  if (now.on) {
    s.section.appendChild(el('p', { cls: 'intro', text: 'Safe mode is set: at its next start Home Assistant skips every custom integration, once, as its own Restart in safe mode does.' }));
    change = button('Take safe mode back', () => void planAndWrite(s, { kind: 'safe-mode', on: false }, change), 'big secondary');
  } else {
    s.section.appendChild(el('p', { cls: 'intro', text: 'Safe mode is not set: Home Assistant starts normally, with its custom integrations. Safe mode makes its next start skip every custom integration, once, as its own Restart in safe mode does.' }));
    change = button('Set safe mode', () => void planAndWrite(s, { kind: 'safe-mode', on: true }, change), 'big primary');
  }
  append(s.section, el('div', { cls: 'row' }, change, backButton()));
}

// "Put back a file from a backup": the card's backups that hold Home Assistant, newest first; the one chosen
// opened (with the card's backup key, or the password asked for here); its configuration files that differ
// from the card's, each with "Put back", which goes through the confirm dialog as every change does.
import type { BackupFilesAnswer, BackupRow, BackupsAnswer } from '../api.js';
import { ApiFailure, post } from './client.js';
import { append, button, clear, el, field } from './dom.js';
import { planAndWrite } from './confirm.js';
import { read } from './screens-other.js';
import { localTime } from './state.js';
import type { Screen } from './ui.js';
import { backButton, clearProblem, loading, openScreen, refusedHere, showError, showProblem } from './ui.js';

export async function showRestoreFile(): Promise<void> {
  const s = openScreen('Put back a file from a backup');
  if (refusedHere(s)) return;
  const answer = await read<BackupsAnswer>(s, '/api/backups', 'Reading the list of backups…');
  if (!answer) return;
  const usable = answer.backups.filter((b) => b.homeAssistant && b.slug !== null).sort((a, b) => Date.parse(b.date ?? '') - Date.parse(a.date ?? ''));
  if (usable.length === 0) {
    append(s.section, el('p', { text: 'No backup on this card holds the Home Assistant configuration (a full backup does, or a partial one with Home Assistant in it).' }), el('div', { cls: 'row' }, backButton()));
    return;
  }
  s.section.appendChild(el('p', { cls: 'intro', text: 'A configuration file broken by an edit (configuration.yaml, automations.yaml, …) can be put back as one of the card’s own backups holds it. Choose the backup:' }));
  const area = el('div', { cls: 'restore-files', attrs: { 'aria-live': 'polite' } });
  const list = el('ul', { cls: 'restore-backups' });
  for (const b of usable) list.appendChild(el('li', {}, button(backupLabel(b), () => void openBackup(s, b, area, ''), 'big secondary')));
  append(s.section, list, area, el('div', { cls: 'row' }, backButton()));
}

function backupLabel(b: BackupRow): string {
  return `${b.date ? localTime(b.date) : 'date unknown'}  ${b.name ?? b.slug} (${b.sizeText}${b.protected ? ', encrypted' : ''})`;
}

async function openBackup(s: Screen, b: BackupRow, area: HTMLElement, password: string): Promise<void> {
  clear(area);
  clearProblem(s);
  const wait = loading(s, 'Reading the backup…');
  let answer: BackupFilesAnswer;
  try {
    answer = await post<BackupFilesAnswer>('/api/backup-files', { slug: b.slug, ...(password === '' ? {} : { password }) });
  } catch (err) {
    if (err instanceof ApiFailure && (err.code === 'PASSWORD_NEEDED' || err.code === 'WRONG_PASSWORD')) return askPassword(s, b, area, err.code, password !== '');
    return showError(s, err);
  } finally {
    wait.remove();
  }
  showFiles(s, b, area, answer);
}

function askPassword(s: Screen, b: BackupRow, area: HTMLElement, code: string, typed: boolean): void {
  const why = typed
    ? 'That password does not open this backup. Try again:'
    : code === 'WRONG_PASSWORD'
      ? 'The backup key stored on the card does not open this backup: it was made with a password of its own. That password:'
      : 'This backup is encrypted. Its password or backup key:';
  const input = el('input', { attrs: { type: 'password', autocomplete: 'off' } });
  const submit = el('button', { cls: 'big primary', text: 'Open the backup', attrs: { type: 'submit' } });
  const form = el('form', { cls: 'job-form' }, el('h3', { text: b.name ?? b.slug ?? 'Backup' }), field(why, input), el('div', { cls: 'row' }, submit));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    // Nothing typed: said (the button did nothing).
    if (input.value === '') return showProblem(s, 'Type the password or backup key first.');
    void openBackup(s, b, area, input.value);
  });
  area.appendChild(form);
  input.focus();
}

function showFiles(s: Screen, b: BackupRow, area: HTMLElement, answer: BackupFilesAnswer): void {
  const heading = el('h3', { text: `From the backup ${answer.backup}` });
  area.appendChild(heading);
  if (answer.damage !== null) area.appendChild(el('p', { cls: 'warning-box', text: `The backup is damaged after the files below (${answer.damage}); they were read whole.` }));
  if (answer.files.length === 0) {
    area.appendChild(el('p', { text: `Every configuration file in this backup (${answer.same}) is the same as on the card: nothing to put back.` }));
    return;
  }
  if (answer.same > 0) area.appendChild(el('p', { text: `${answer.same} file(s) of this backup are the same as on the card and are not listed.` }));
  const list = el('ul', { cls: 'restore-file-list' });
  for (const f of answer.files) {
    const card = f.onCard === 'missing' ? 'not on the card' : `on the card: ${f.cardSizeText ?? '?'}, different`;
    const put: HTMLButtonElement = button('Put back', () => void planAndWrite(s, { kind: 'restore-file', slug: b.slug!, name: f.name }, put), 'secondary');
    put.setAttribute('aria-label', `Put back ${f.name}`);
    list.appendChild(el('li', {}, el('span', { cls: 'file-name', text: f.name }), el('span', { cls: 'file-facts', text: ` ${f.sizeText}; ${card} ` }), put));
  }
  area.appendChild(list);
  heading.scrollIntoView({ block: 'nearest' });
}

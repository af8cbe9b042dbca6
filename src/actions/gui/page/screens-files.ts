// The screens that save files from the card: "Copy the backups", "Export the configuration", "Make a
// backup from this card" and, for a card that fails reads, "Copy the card to an image file" (long jobs with
// progress and Stop).
import type { BackupRow, BackupsAnswer, CreateRequest, FreeNameAnswer, ImageRequest, ResultAnswer } from '../api.js';
import { get, post } from './client.js';
import { append, checkbox, el, field, uid } from './dom.js';
import { type PathField, folderOf, pathField } from './folders.js';
import { downloads, joinPath, localTime, today } from './state.js';
import type { Screen } from './ui.js';
import { backButton, loading, openScreen, runLong, showError, showProblem } from './ui.js';

function backupItem(b: BackupRow): HTMLLIElement {
  const title = b.name ?? b.slug ?? b.path;
  if (b.error) {
    return el('li', { cls: 'backup error' }, el('span', { cls: 'backup-name', text: title }), el('span', { cls: 'backup-error', text: b.error }));
  }
  return el(
    'li',
    { cls: 'backup' },
    el('span', { cls: 'backup-name', text: title }),
    el('span', { cls: 'backup-date', text: b.date ? localTime(b.date) : 'date unknown' }),
    el('span', { cls: 'backup-size', text: b.sizeText }),
    el('span', { cls: b.protected ? 'backup-lock encrypted' : 'backup-lock', text: b.protected === null ? '' : b.protected ? 'encrypted: needs its key' : 'not encrypted' }),
    b.damaged === undefined ? null : el('span', { cls: 'backup-error', text: `damaged, Home Assistant cannot restore it: ${b.damaged}` }),
  );
}

/**
 * Puts a free name in `f` (the default, dated by day, with "-2" etc. when a copy of today is there already),
 * unless the user typed one meanwhile. Resolves when done; a name left as it was is checked at the copy.
 */
function proposeFree(f: PathField, kind: 'file' | 'folder'): Promise<void> {
  const asked = f.input.value.trim();
  return get<FreeNameAnswer>(`/api/free-name?path=${encodeURIComponent(asked)}&kind=${kind}`).then(
    (a) => {
      if (!f.typed() && f.input.value.trim() === asked) f.input.value = a.path;
    },
    () => undefined,
  );
}

/** The default `name` in the folder of the field (after Browse…), made free there; a name the user typed is kept. */
function freeIn(f: PathField, name: string, kind: 'file' | 'folder'): Promise<void> {
  if (!f.typed()) f.input.value = joinPath(folderOf(f.input.value.trim()) || downloads(), name);
  return proposeFree(f, kind);
}

/**
 * A form whose submit button runs a long job; empty path → a problem instead. `ready`: the default name's
 * check, waited for first (a click before its answer would take the name of an earlier copy).
 */
function jobForm(s: Screen, text: string, parts: HTMLElement[], path: HTMLInputElement, call: (out: string) => Promise<ResultAnswer>, intro: string, ready: () => Promise<void> = async () => undefined): HTMLFormElement {
  const submit = el('button', { cls: 'big primary', text, attrs: { type: 'submit' } });
  const back = backButton();
  const form = el('form', { cls: 'job-form' }, ...parts, el('div', { cls: 'row' }, submit, back));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void ready().then(() => {
      const out = path.value.trim();
      if (out === '') return showProblem(s, 'Type where to save it first.');
      // The job's own button first: it takes the focus back after an error or Stop.
      const buttons = [submit, ...[...form.querySelectorAll('button')].filter((b) => b !== submit)];
      void runLong(s, buttons, () => call(out), intro);
    });
  });
  return form;
}

export async function showBackups(): Promise<void> {
  const s = openScreen('Copy the backups');
  const wait = loading(s, 'Reading the backups…');
  let answer: BackupsAnswer;
  try {
    answer = await get<BackupsAnswer>('/api/backups');
  } catch (err) {
    showError(s, err);
    s.section.appendChild(el('div', { cls: 'row' }, backButton()));
    return;
  } finally {
    wait.remove();
  }
  if (answer.backups.length === 0) {
    append(s.section, el('p', { text: 'There are no backups on this card.' }), el('div', { cls: 'row' }, backButton()));
    return;
  }
  const list = el('ul', { cls: 'backups', attrs: { 'aria-label': 'Backups on this card' } }, ...answer.backups.map(backupItem));
  const total = el('p', { cls: 'total', text: `Total: ${answer.totalText}` });
  const folder = pathField('Folder', joinPath(downloads(), 'haos-rescue-backups'), 'folder');
  const named = proposeFree(folder, 'folder');
  const form = jobForm(s, 'Copy', [folder.wrap], folder.input, (out) => post<ResultAnswer>('/api/extract', { folder: out }), 'Copying the backups…', () => named);
  append(s.section, list, total, form);
}

function radio(name: string, value: string, label: string, checked: boolean): { wrap: HTMLDivElement; input: HTMLInputElement } {
  const input = el('input', { id: uid('r'), attrs: { type: 'radio', name, value } });
  input.checked = checked;
  return { wrap: el('div', { cls: 'check' }, input, el('label', { text: label, attrs: { for: input.id } })), input };
}

export function showExport(): void {
  const s = openScreen('Export the configuration');
  s.section.appendChild(el('p', { cls: 'intro', text: 'This saves the configuration folder of Home Assistant (its YAML files, the .storage folder and the rest) from the card to this computer.' }));
  const name = (kind: 'folder' | 'tar.gz'): string => `home-assistant-config-${today()}${kind === 'tar.gz' ? '.tar.gz' : ''}`;
  const group = uid('kind');
  const asFolder = radio(group, 'folder', 'a folder', true);
  const asTar = radio(group, 'tar.gz', 'one .tar.gz file', false);
  const fieldset = el('fieldset', {}, el('legend', { text: 'Export as' }), asFolder.wrap, asTar.wrap);
  const kind = (): 'folder' | 'tar.gz' => (asTar.input.checked ? 'tar.gz' : 'folder');
  // A folder chosen with Browse… may hold a copy of that name already: a free one there, as for the default.
  const out = pathField('Save to', joinPath(downloads(), name('folder')), 'file', () => (named = freeIn(out, name(kind()), kind() === 'folder' ? 'folder' : 'file')));
  let named = proposeFree(out, 'folder');
  const switched = (): void => {
    // The default name follows the choice, unless the user typed their own.
    if (!out.typed()) named = freeIn(out, name(kind()), kind() === 'folder' ? 'folder' : 'file');
  };
  asFolder.input.addEventListener('change', switched);
  asTar.input.addEventListener('change', switched);
  const form = jobForm(s, 'Export', [fieldset, out.wrap], out.input, (path) => post<ResultAnswer>('/api/export', { kind: kind(), out: path }), 'Exporting the configuration…', () => named);
  s.section.appendChild(form);
}

export function showImage(): void {
  const s = openScreen('Copy the card to an image file');
  s.section.appendChild(el('p', {
    cls: 'intro',
    text: 'This copies the whole card once, carefully, to one file on this computer: first the parts that matter (the filesystem, the configuration, the backups), then the rest, leaving out what cannot be read. Afterwards this window works on the copy, and the card can be taken out. Stop keeps what was copied; copying again to the same file continues.',
  }));
  const out = pathField('Save the copy as', joinPath(downloads(), `haos-card-${today()}.img`), 'file');
  const form = jobForm(s, 'Copy the card', [out.wrap], out.input, (path) => post<ResultAnswer>('/api/image', { out: path } satisfies ImageRequest), 'Copying the card…');
  s.section.appendChild(form);
}

export function showCreate(): void {
  const s = openScreen('Make a backup from this card');
  s.section.appendChild(
    el('p', {
      cls: 'intro',
      text: 'This makes one new Home Assistant backup file from what is on the card. On a fresh Home Assistant you can restore it with “Upload backup” in Settings → System → Backups. The card is only read.',
    }),
  );
  const db = checkbox('Include the history database', true);
  const password = el('input', { attrs: { type: 'password', autocomplete: 'new-password' } });
  const pwField = field('Password for the backup (optional)', password, el('p', { cls: 'hint', text: 'Leave it empty to use the card’s backup key (a card without one makes a backup without a password). A password typed here is used instead of the key.' }));
  const file = `home-assistant-rescued-${today()}.tar`;
  const out = pathField('Save the backup as', joinPath(downloads(), file), 'file', () => (named = freeIn(out, file, 'file')));
  let named = proposeFree(out, 'file');
  const call = (path: string): Promise<ResultAnswer> => {
    const body: CreateRequest = { out: path, excludeDb: !db.box.checked };
    if (password.value !== '') body.password = password.value;
    return post<ResultAnswer>('/api/create', body);
  };
  const form = jobForm(s, 'Make the backup', [db.wrap, pwField, out.wrap], out.input, call, 'Making the backup…', () => named);
  s.section.appendChild(form);
}

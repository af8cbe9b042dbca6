// A path field with a "Browse…" button that opens a simple folder browser (GET /api/folders): subfolder
// buttons, "Up" and "Use this folder". For a file path, the chosen folder replaces the folder part.
import type { FoldersAnswer } from '../api.js';
import { ApiFailure, get } from './client.js';
import { append, button, clear, el, field, textInput, uid } from './dom.js';
import { baseName, joinPath } from './state.js';

export interface PathField {
  wrap: HTMLDivElement;
  input: HTMLInputElement;
  /** The user typed in the field (a choice in the browser does not count). */
  typed(): boolean;
}

/** The folder part of a path, without its last separator ("" when there is none). */
export function folderOf(path: string): string {
  const name = baseName(path);
  const rest = path.slice(0, path.length - name.length);
  return rest.length > 1 && /[\\/]$/.test(rest) && !/^[A-Za-z]:[\\/]$/.test(rest) ? rest.slice(0, -1) : rest;
}

async function listFolders(path: string): Promise<FoldersAnswer> {
  const query = path === '' ? '' : `?path=${encodeURIComponent(path)}`;
  try {
    return await get<FoldersAnswer>(`/api/folders${query}`);
  } catch (err) {
    // A folder that does not exist yet (the default output folder): start in Downloads instead.
    if (path !== '' && err instanceof ApiFailure && err.code !== 'network') return get<FoldersAnswer>('/api/folders');
    throw err;
  }
}

/** A subfolder entry as a full path: the server may send names or full paths. */
function childPath(parent: string, entry: string): string {
  return /[\\/]/.test(entry) ? entry : joinPath(parent, entry);
}

/** `chosen`: called after a folder was chosen with Browse… for a file path (its name may be taken there). */
export function pathField(label: string, value: string, mode: 'folder' | 'file', chosen: () => void = () => undefined): PathField {
  const input = textInput(value);
  let typed = false;
  input.addEventListener('input', () => {
    typed = true;
  });
  const panel = el('div', { cls: 'browser', attrs: { role: 'group', 'aria-label': 'Folder browser' } });
  panel.hidden = true;
  const browse = button('Browse…', () => {
    if (!panel.hidden) {
      panel.hidden = true;
      browse.setAttribute('aria-expanded', 'false');
      return;
    }
    panel.hidden = false;
    browse.setAttribute('aria-expanded', 'true');
    const start = mode === 'folder' ? input.value.trim() : folderOf(input.value.trim());
    void show(start, false);
  }, 'secondary');
  browse.setAttribute('aria-expanded', 'false');
  browse.setAttribute('aria-controls', (panel.id = uid('browser')));

  const use = (folder: string): void => {
    input.value = mode === 'folder' ? folder : joinPath(folder, baseName(input.value.trim()) || 'output');
    panel.hidden = true;
    browse.setAttribute('aria-expanded', 'false');
    input.focus();
    if (mode === 'file') chosen();
  };

  const show = async (path: string, focus: boolean): Promise<void> => {
    clear(panel);
    panel.appendChild(el('p', { cls: 'loading', text: 'Reading the folder…' }));
    let answer: FoldersAnswer;
    try {
      answer = await listFolders(path);
    } catch (err) {
      clear(panel);
      const f = err instanceof ApiFailure ? err : new ApiFailure('page', String(err), null);
      append(panel, el('div', { cls: 'alert', attrs: { role: 'alert' } }, el('p', { text: f.message }), f.hint ? el('p', { text: f.hint }) : null));
      return;
    }
    renderPanel(panel, answer, (p) => void show(p, true), use, focus);
  };

  const wrap = field(label, input, el('div', { cls: 'row tight' }, browse), panel);
  wrap.classList.add('path-field');
  return { wrap, input, typed: () => typed };
}

function renderPanel(
  panel: HTMLElement,
  answer: FoldersAnswer,
  go: (path: string) => void,
  use: (path: string) => void,
  focus: boolean,
): void {
  clear(panel);
  const where = el('p', { cls: 'browser-path', attrs: { tabindex: '-1' } }, 'In ', el('code', { text: answer.path }));
  const up = button('Up', () => {
    if (answer.parent !== null) go(answer.parent);
  }, 'secondary');
  up.disabled = answer.parent === null;
  const list = el('ul', { cls: 'folder-list' });
  for (const entry of answer.folders) {
    const path = childPath(answer.path, entry);
    list.appendChild(el('li', {}, button(baseName(entry) || entry, () => go(path), 'folder')));
  }
  if (answer.folders.length === 0) list.appendChild(el('li', { cls: 'muted', text: 'No folders in here.' }));
  const choose = button('Use this folder', () => use(answer.path), 'primary');
  append(panel, where, el('div', { cls: 'row tight' }, up, choose), list);
  if (focus) where.focus();
}

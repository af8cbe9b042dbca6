// The first screens: choosing the disk, the card screen with its job buttons, and "haos-rescue has stopped".
import type { CardAnswer, CardSummary, DiskChoice, DisksAnswer } from '../api.js';
import { get, post, stopListening } from './client.js';
import { closeConfirm } from './confirm.js';
import { announce, append, button, clear, el, field, textInput } from './dom.js';
import { showBackups, showCreate, showExport } from './screens-files.js';
import { showLogs } from './screens-logs.js';
import { showKey, showSafeMode, showSpace } from './screens-other.js';
import { showRestoreFile } from './screens-restore.js';
import { showAdd, showReset, showUsers } from './screens-users.js';
import { app, isWindows, nav } from './state.js';
import type { Screen } from './ui.js';
import { cardPicture, clearProblem, openScreen, repairRow, showError, showNote, showProblem } from './ui.js';

function diskFacts(d: DiskChoice): HTMLElement {
  const facts = el('span', { cls: 'disk-facts' });
  const add = (text: string, cls = ''): void => {
    facts.appendChild(el('span', { cls: `fact ${cls}`.trim(), text }));
  };
  if (d.haVersion) add(`Home Assistant ${d.haVersion}`);
  if (d.users !== null) add(d.users === 1 ? '1 user' : `${d.users} users`);
  if (d.backups !== null) add(d.backups === 1 ? '1 backup' : `${d.backups} backups`);
  if (d.clean === true) add('cleanly unmounted');
  if (d.clean === false) add('not cleanly unmounted', 'warn');
  if (d.system) add('system disk', 'warn');
  return facts;
}

function diskButton(d: DiskChoice, open: (path: string) => void): HTMLButtonElement {
  const b = el('button', { cls: 'disk', attrs: { type: 'button' } });
  // The accessible name starts with the path: the label usually starts with it already.
  if (d.label.startsWith(d.path)) b.appendChild(el('span', { cls: 'disk-path', text: d.label }));
  else append(b, el('span', { cls: 'disk-path', text: d.path }), el('span', { cls: 'disk-label', text: d.label }));
  b.appendChild(diskFacts(d));
  if (!d.usable) {
    b.disabled = !d.searchable;
    if (d.reason) b.appendChild(el('span', { cls: 'disk-reason', text: d.reason }));
  }
  if (d.hint) b.appendChild(el('span', { cls: 'disk-hint', text: d.hint }));
  b.addEventListener('click', () => open(d.path));
  return b;
}

async function loadDisks(s: Screen, list: HTMLElement, open: (path: string) => void, again: HTMLButtonElement): Promise<void> {
  clearProblem(s);
  clear(list);
  again.disabled = true;
  list.setAttribute('aria-busy', 'true');
  list.appendChild(el('p', { cls: 'loading', text: 'Looking for disks…' }));
  let answer: DisksAnswer;
  try {
    answer = await get<DisksAnswer>('/api/disks');
  } catch (err) {
    clear(list);
    showError(s, err);
    return;
  } finally {
    again.disabled = false;
    list.removeAttribute('aria-busy');
  }
  clear(list);
  if (answer.problem) showProblem(s, answer.problem);
  for (const d of answer.disks) list.appendChild(diskButton(d, open));
  if (answer.disks.length === 0) {
    list.appendChild(el('p', { cls: 'muted', text: 'No disk found. Put the card in a card reader, wait a moment, then choose “Look again”. Or type the path of an image file below.' }));
  }
  const usable = answer.disks.filter((d) => d.usable).length;
  const n = answer.disks.length;
  announce(`${n} ${n === 1 ? 'disk' : 'disks'} found, ${usable} with Home Assistant.`);
}

export function showDisks(): void {
  const s = openDiskScreen();
  const list = el('div', { cls: 'disk-list' });
  // The path of a card that went away, filled in: an image file put back is opened again with one click.
  const input = textInput(app.gone?.path ?? '', { placeholder: isWindows() ? 'C:\\Users\\me\\haos.img' : '/home/me/haos.img' });
  const openBtn = el('button', { cls: 'big primary', text: 'Open', attrs: { type: 'submit' } });
  const open = async (path: string): Promise<void> => {
    clearProblem(s);
    const buttons = [...s.section.querySelectorAll('button')];
    for (const b of buttons) b.dataset.was = b.disabled ? '1' : '';
    for (const b of buttons) b.disabled = true;
    showNote(`Opening ${path}…`);
    app.opening = true;
    try {
      app.card = (await post<CardAnswer>('/api/open', { path })).card;
      app.gone = null;
      nav.card();
    } catch (err) {
      announce('');
      showError(s, err);
      for (const b of buttons) b.disabled = b.dataset.was === '1';
    } finally {
      app.opening = false;
    }
  };
  const again = button('Look again', () => void loadDisks(s, list, (p) => void open(p), again), 'big secondary');
  const form = el('form', { cls: 'open-form' }, field('Image file or disk path', input), el('div', { cls: 'row' }, openBtn));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const path = input.value.trim();
    if (path === '') showProblem(s, 'Type the path of an image file or a disk first.', null);
    else void open(path);
  });
  if (app.gone) s.section.appendChild(goneBox(app.gone));
  append(s.section, list, el('div', { cls: 'row' }, again), form);
  void loadDisks(s, list, (p) => void open(p), again);
}

/** The card that went away while open, said above the list it can be chosen from again. */
function goneBox(gone: { message: string; hint: string | null }): HTMLElement {
  return el('div', { cls: 'warning-box gone' },
    el('p', { cls: 'warning-title', text: `The card is gone: ${gone.message}.` }),
    gone.hint ? el('p', { text: `What to do: ${gone.hint}.` }) : null);
}

/** What the computer's own system may offer when the card goes in, and must be refused. */
function formatWarning(): string | null {
  const platform = app.state?.platform;
  if (platform === 'win32') return 'If Windows offers to format the card: choose Cancel. Never format it; the data is on it.';
  if (platform === 'darwin') return 'If macOS says the disk is not readable: choose Ignore, never Initialize. The data is on it.';
  return null;
}

function openDiskScreen(): Screen {
  const s = openScreen('Choose the disk', 'disks');
  const intro = el('p', { cls: 'intro', text: 'haos-rescue only reads the card. It changes nothing unless you choose a step that writes and confirm it.' });
  s.section.insertBefore(intro, s.alert);
  const warning = formatWarning();
  if (warning !== null) s.section.insertBefore(el('p', { cls: 'warning-box', text: warning }), s.alert);
  return s;
}

const jobs: Array<[string, () => void]> = [
  ['Reset a password', showReset],
  ['Add an administrator', showAdd],
  ['Show the users', showUsers],
  ['Copy the backups', showBackups],
  ['Export the configuration', showExport],
  ['Show the backup key', showKey],
  ['Make a backup from this card', showCreate],
  ['Show the log', () => void showLogs()],
  ['Free space', showSpace],
  ['Safe mode', showSafeMode],
  ['Put back a file from a backup', () => void showRestoreFile()],
];

/** The jobs that need Home Assistant's configuration on the card. */
const NEEDS_CONFIG = new Set(['Reset a password', 'Add an administrator', 'Show the users', 'Export the configuration', 'Show the backup key', 'Make a backup from this card', 'Safe mode', 'Put back a file from a backup']);

/** The jobs that make sense on this card: none that needs a configuration it lacks, no copy of no backups. */
function offered(card: CardSummary): Array<[string, () => void]> {
  return jobs.filter(([name]) => {
    if (card.noConfig && NEEDS_CONFIG.has(name)) return false;
    return name !== 'Copy the backups' || (card.backups !== 0 && !card.noConfig);
  });
}

/** A filesystem without Home Assistant's configuration: what that means and what to do. */
function noConfigBox(): HTMLElement {
  return el('div', { cls: 'warning-box no-config' },
    el('p', { cls: 'warning-title', text: 'No Home Assistant configuration was found on this disk.' }),
    el('p', { text: 'It has no Home Assistant version, no users and no backups. It may be another disk, or another partition of it, or a Home Assistant data partition that was wiped (erased or formatted). Passwords, logins, safe mode and copies of the configuration need that configuration, so they are not offered here.' }),
    el('p', { text: 'What to do: choose another disk. If this is the card of your Home Assistant box, its data is not on it any more: a backup kept elsewhere (on another computer, or in the cloud) is the way back.' }));
}

export function showCard(): void {
  const card = app.card;
  if (!card) {
    showDisks();
    return;
  }
  const title = card.noConfig ? 'No Home Assistant configuration found' : `Home Assistant ${card.haVersion ?? 'version unknown'}`;
  const s = openScreen(title, 'card');
  s.section.insertBefore(cardPicture(card), s.alert);
  if (card.noConfig) s.section.insertBefore(noConfigBox(), s.alert);
  if (card.readFailed || card.boxReadErrors) {
    const what = card.readFailed ? 'Parts of this card could not be read' : 'The box itself could not read parts of this card (its system recorded read errors)';
    const box = el('div', { cls: 'warning-box' },
      el('p', { text: `${what}: it may be wearing out, and each further read of it may be its last. Copy it once to an image file on this computer, then work on the copy.` }),
      el('div', { cls: 'row' }, button('Copy the card to an image file first', () => nav.image(), 'primary')));
    s.section.insertBefore(box, s.alert);
  }
  if (card.writeRefused) s.section.insertBefore(refusalBox(s, card.writeRefused), s.alert);
  const grid = el('div', { cls: 'jobs' });
  for (const [name, go] of offered(card)) grid.appendChild(button(name, go, name === 'Free space' && card.full ? 'job urgent' : 'job'));
  const another = button('Choose another disk', () => {
    clearProblem(s);
    post('/api/close').then(
      () => {
        app.card = null;
        nav.disks();
      },
      (err: unknown) => showError(s, err),
    );
  }, 'secondary');
  const quit = button('Quit', () => void quitApp(), 'secondary');
  append(s.section, el('h3', { cls: 'visually-hidden', text: 'What to do' }), grid, el('div', { cls: 'row end' }, another, quit));
}

/** Why nothing on this card can be changed as it is (reading and copying still work), and what to do. */
function refusalBox(s: Screen, w: { message: string; hint: string | null; repairAtStart: boolean }): HTMLElement {
  const jobs = 'resetting a password, adding an administrator, freeing space, safe mode';
  return el('div', { cls: 'warning-box' },
    el('p', { text: `This card cannot be changed as it is (${jobs}): ${w.message}. Copying and reading still work.` }),
    ...(w.hint === null ? [] : [el('p', { text: `What to do: ${w.hint}.` })]),
    ...(w.repairAtStart ? [repairRow(s)] : []));
}

export async function quitApp(): Promise<void> {
  try {
    await post('/api/quit');
  } catch {
    // Gone already: the same end.
  }
  nav.stopped(null);
}

export function showStopped(): void {
  app.stopped = true;
  stopListening();
  closeConfirm();
  document.body.classList.add('stopped');
  const s = openScreen('haos-rescue has stopped. You can close this window.', 'stopped', true);
  s.section.appendChild(el('p', { cls: 'muted', text: 'To go on, start haos-rescue gui again.' }));
}

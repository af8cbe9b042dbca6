// The user screens: "Reset a password", "Add an administrator" (both end in the confirm dialog) and
// "Show the users" (a table).
import type { UserRow, UsersAnswer } from '../api.js';
import { get } from './client.js';
import { append, checkbox, el, field, textInput } from './dom.js';
import { planAndWrite } from './confirm.js';
import type { Screen } from './ui.js';
import { backButton, loading, openScreen, passwordPair, refusedHere, showError, showProblem } from './ui.js';

/** The users, or null after showing the error (with Back) on the screen. */
async function readUsers(s: Screen): Promise<UserRow[] | null> {
  const wait = loading(s, 'Reading the users…');
  try {
    return (await get<UsersAnswer>('/api/users')).users;
  } catch (err) {
    showError(s, err);
    s.section.appendChild(el('div', { cls: 'row' }, backButton()));
    return null;
  } finally {
    wait.remove();
  }
}

function userText(u: UserRow): string {
  const bits = [u.name, u.role, u.mfa ? 'two-factor on' : null].filter((b): b is string => !!b);
  return `${u.username ?? ''} (${bits.join(', ')})`;
}

function submitRow(text: string): { row: HTMLDivElement; submit: HTMLButtonElement } {
  const submit = el('button', { cls: 'big primary', text, attrs: { type: 'submit' } });
  return { row: el('div', { cls: 'row' }, submit, backButton()), submit };
}

export async function showReset(): Promise<void> {
  const s = openScreen('Reset a password');
  if (refusedHere(s)) return;
  const all = await readUsers(s);
  if (!all) return;
  const users = all.filter((u) => u.passwordSettable && u.username);
  if (users.length === 0) {
    append(s.section, el('p', { text: 'There is no user with a password login on this card. “Add an administrator” makes one.' }), el('div', { cls: 'row' }, backButton()));
    return;
  }
  const select = el('select');
  for (const u of users) select.appendChild(el('option', { text: userText(u), attrs: { value: u.username ?? '' } }));
  const mfa = checkbox('Switch off two-factor login', true);
  const chosen = (): UserRow | undefined => users.find((u) => u.username === select.value);
  const updateMfa = (): void => {
    mfa.wrap.hidden = !chosen()?.mfa;
  };
  select.addEventListener('change', updateMfa);
  updateMfa();
  const pw = passwordPair();
  const { row, submit } = submitRow('Continue');
  const form = el('form', { cls: 'job-form' }, field('User', select), mfa.wrap, pw.wrap, row);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const user = chosen();
    const problem = pw.problem();
    if (!user?.username) return showProblem(s, 'Choose a user first.');
    if (problem) return showProblem(s, problem);
    const action = { kind: 'reset' as const, username: user.username, disableMfa: user.mfa === true && mfa.box.checked };
    void planAndWrite(s, action, submit, pw.first.value);
  });
  s.section.appendChild(form);
}

export function showAdd(): void {
  const s = openScreen('Add an administrator');
  if (refusedHere(s)) return;
  s.section.appendChild(el('p', { cls: 'intro', text: 'This adds a new administrator who can log in and fix the rest from inside Home Assistant.' }));
  const login = textInput('rescue', { autocomplete: 'off', autocapitalize: 'none' });
  const pw = passwordPair();
  const { row, submit } = submitRow('Continue');
  const form = el('form', { cls: 'job-form' }, field('Login name', login), pw.wrap, row);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const username = login.value.trim();
    const problem = pw.problem();
    if (username === '') return showProblem(s, 'Type a login name.');
    if (problem) return showProblem(s, problem);
    void planAndWrite(s, { kind: 'add', username }, submit, pw.first.value);
  });
  s.section.appendChild(form);
}

export async function showUsers(): Promise<void> {
  const s = openScreen('Show the users');
  const users = await readUsers(s);
  if (!users) return;
  const head = el('tr', {}, ...['login', 'name', 'role', 'two-factor'].map((h) => el('th', { text: h, attrs: { scope: 'col' } })));
  const body = el('tbody');
  for (const u of users) {
    body.appendChild(
      el(
        'tr',
        {},
        el('td', { text: u.username ?? (u.passwordSettable ? '—' : '(no password login)') }),
        el('td', { text: u.name ?? '—' }),
        el('td', { text: u.role }),
        el('td', { text: u.mfa === null ? 'unknown' : u.mfa ? 'on' : 'off' }),
      ),
    );
  }
  const caption = el('caption', { text: users.length === 1 ? '1 user on this card' : `${users.length} users on this card` });
  const table = el('table', {}, caption, el('thead', {}, head), body);
  append(s.section, el('div', { cls: 'table-wrap' }, table), el('div', { cls: 'row' }, backButton()));
}

// Pieces every screen uses: opening a screen (its h2 takes focus), the error box, the card picture,
// the two password fields with their strength hint, long jobs with progress and Stop, and the Done screen.
import type { CardSummary, PartialCopy, ResultAnswer } from '../api.js';
import { ApiFailure, onChanged, onProgress, post } from './client.js';
import { announce, append, button, clear, el, field, lineList, uid } from './dom.js';
import { app, nav } from './state.js';

export interface Screen {
  section: HTMLElement;
  heading: HTMLHeadingElement;
  /** role="alert": error message and hint. */
  alert: HTMLDivElement;
}

/** Replaces the page's content by a new screen whose h2 receives focus. */
export function openScreen(title: string, cls = '', force = false): Screen {
  const heading = el('h2', { id: uid('h'), text: title, attrs: { tabindex: '-1' } });
  const alert = el('div', { cls: 'alert', attrs: { role: 'alert' } });
  const section = el('section', { cls: `screen ${cls}`.trim(), attrs: { 'aria-labelledby': heading.id } });
  append(section, heading, alert);
  const main = document.getElementById('main');
  // Once haos-rescue has stopped, late answers build their screen off the page.
  if (main && (force || !app.stopped)) {
    clear(main);
    main.appendChild(section);
    announce('');
    heading.focus();
    window.scrollTo(0, 0);
  }
  return { section, heading, alert };
}

/**
 * Shows an error (an ApiFailure or anything thrown) in the screen's role="alert" box. When the card refused a
 * read, the hint says what that means here and a button offers to copy the card to an image file first.
 */
export function showError(screen: Screen, err: unknown): void {
  const f = err instanceof ApiFailure ? err : new ApiFailure('page', String(err), null);
  if (f.code === 'CARD_GONE') return showGone(screen, f);
  if (f.repairAtStart) {
    showProblem(screen, f.message, f.hint);
    screen.alert.appendChild(repairRow(screen));
    return;
  }
  if (f.code === 'BUSY') return showBusy(screen, f);
  if (!f.cardFailing) return showProblem(screen, f.message, f.hint);
  showProblem(screen, f.message, 'The card may be wearing out, and each further read of it may be its last: copy it once to an image file on this computer, then work on the copy.');
  screen.alert.appendChild(el('div', { cls: 'row' }, button('Copy the card to an image file first', () => nav.image(), 'primary')));
}

/**
 * A job under way (started in another tab, or in this one before a reload, whose progress and Stop this page
 * does not have): refused, with a Stop for it here. It said "wait until it ends, or stop it" with no Stop.
 */
function showBusy(screen: Screen, f: ApiFailure): void {
  showProblem(screen, f.message, f.hint);
  const stop: HTMLButtonElement = button('Stop it', () => {
    stop.disabled = true;
    showNote('Stopping…');
    void post('/api/cancel', {}).then(() => showProblem(screen, 'It was stopped.', 'Try again now.'), (err: unknown) => showError(screen, err));
  }, 'secondary');
  screen.alert.appendChild(el('div', { cls: 'row' }, stop));
}

/**
 * The card went away while open: said on this screen with the way on (the disk list); the card screen is not
 * shown again for it (Back leads to the disk list too, which says it once more).
 */
function showGone(screen: Screen, f: ApiFailure): void {
  app.card = null;
  app.gone = { message: f.message, hint: f.hint };
  showProblem(screen, `The card is gone: ${f.message}.`, f.hint === null ? null : `What to do: ${f.hint}.`);
  screen.alert.appendChild(el('div', { cls: 'row' }, button('Choose the disk again', () => nav.disks(), 'primary')));
}

/**
 * The button that marks the card for the box's full check at its next start (after a confirmation); on a card
 * marked already, what to do instead: the box checks it at its next start.
 */
export function repairRow(screen: Screen): HTMLElement {
  if (app.card?.markedForCheck) {
    // An image file is in no box: what starts the box from it is said (it was "Put the card back").
    const next = app.card.startIt.charAt(0).toUpperCase() + app.card.startIt.slice(1);
    return el('p', { cls: 'marked', text: `The card is marked for repair already: the box checks and repairs it in full at its next start. ${next} once, and let that longer start finish.` });
  }
  const mark: HTMLButtonElement = button('Have the box repair it at its next start', () => nav.repairAtStart(screen, mark), 'secondary');
  return el('div', { cls: 'row' }, mark);
}

export function showProblem(screen: Screen, message: string, hint: string | null = null): void {
  clear(screen.alert);
  append(screen.alert, el('p', { cls: 'alert-message', text: message }), hint ? el('p', { cls: 'alert-hint', text: hint }) : null);
  screen.alert.scrollIntoView({ block: 'nearest' });
}

/**
 * On a card that cannot be changed as it is (writeRefused), a screen that would change it says why and what
 * to do, with Back, instead of its form: true then. A password typed twice and then refused helps no one.
 */
export function refusedHere(screen: Screen): boolean {
  const w = app.card?.writeRefused;
  if (!w) return false;
  showProblem(screen, `This card cannot be changed as it is: ${w.message}.`, w.hint === null ? null : `What to do: ${w.hint}.`);
  if (w.repairAtStart) screen.alert.appendChild(repairRow(screen));
  screen.section.appendChild(el('div', { cls: 'row' }, backButton()));
  return true;
}

export function clearProblem(screen: Screen): void {
  clear(screen.alert);
  announce('');
}

/** Shows a calm note ("Nothing was written.") in the live region at the bottom of the window. */
export function showNote(message: string): void {
  announce(message);
}

export function backButton(): HTMLButtonElement {
  return button('Back', () => nav.card(), 'secondary');
}

/** A paragraph saying something is being read, removed by the caller when the answer is there. */
export function loading(screen: Screen, text: string): HTMLParagraphElement {
  const p = el('p', { cls: 'loading', text });
  screen.section.appendChild(p);
  return p;
}

function row(term: string, value: string, warn = false): HTMLDivElement {
  return el('div', { cls: warn ? 'warn' : '' }, el('dt', { text: term }), el('dd', { text: value }));
}

const count = (n: number | null): string => (n === null ? 'unknown' : String(n));

/** The card picture: what is on the opened card. */
export function cardPicture(card: CardSummary): HTMLElement {
  const box = el('div', { cls: 'card-picture' });
  if (card.full) {
    box.appendChild(
      el(
        'div',
        { cls: 'warning-box full' },
        el('p', { cls: 'warning-title', text: 'The data partition is full.' }),
        el('p', { text: 'Home Assistant may not start like this. “Free space” helps: it shows what takes the room and can delete the history database or old backups.' }),
      ),
    );
  }
  const dl = el('dl', { cls: 'facts' });
  append(
    dl,
    row('Disk', card.path),
    row('Size', card.sizeText),
    card.model ? row('Model', card.model) : null,
    row('Users', count(card.users)),
    row('Backups', count(card.backups)),
    row('State', card.state, !card.clean),
    row('Used', card.usedText, card.full),
    row('Free', card.freeText, card.full),
    card.lastWritten ? row('Last used', new Date(card.lastWritten).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })) : null,
    card.kernelErrors ? row('Errors', card.kernelErrors.charAt(0).toUpperCase() + card.kernelErrors.slice(1), true) : null,
  );
  box.appendChild(dl);
  if (card.warnings.length > 0) {
    box.appendChild(el('div', { cls: 'warning-box' }, el('p', { cls: 'warning-title', text: 'Warnings' }), lineList(card.warnings)));
  }
  return box;
}

/** A password strength hint from length and character variety: a hint, not a rule. */
export function strength(pw: string): string {
  if (pw === '') return 'Use at least 8 characters; longer is better.';
  if (pw.length < 8) return 'weak: under 8 characters';
  const kinds = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^a-zA-Z0-9]/].filter((r) => r.test(pw)).length;
  if (pw.length >= 16 || (pw.length >= 12 && kinds >= 3)) return 'strong';
  if (kinds >= 2 || pw.length >= 12) return 'fair';
  return 'weak: add capitals, digits or other signs';
}

export interface PasswordPair {
  wrap: HTMLDivElement;
  first: HTMLInputElement;
  second: HTMLInputElement;
  /** Why the passwords cannot be used (empty, different), or null. */
  problem(): string | null;
}

/** "New password" and "Type it again", with the strength hint under the first. */
export function passwordPair(): PasswordPair {
  const attrs = { type: 'password', autocomplete: 'new-password' };
  const first = el('input', { id: uid('p'), attrs });
  const second = el('input', { id: uid('p'), attrs });
  const hint = el('p', { id: uid('hint'), cls: 'hint', text: strength('') });
  first.setAttribute('aria-describedby', hint.id);
  first.addEventListener('input', () => {
    hint.textContent = strength(first.value);
    hint.className = `hint strength-${hint.textContent.split(':')[0]?.split(' ')[0] ?? ''}`;
  });
  const wrap = el('div', { cls: 'passwords' }, field('New password', first, hint), field('Type it again', second));
  const problem = (): string | null => {
    if (first.value === '') return 'Type the new password.';
    if (first.value !== second.value) return 'The two passwords are not the same. Type them again.';
    return null;
  };
  return { wrap, first, second, problem };
}

let lastStatus = 0;
/** The progress text line, in the live region: at most once a second, and the last one. */
function progressStatus(text: string, done: boolean): void {
  const now = Date.now();
  if (!done && now - lastStatus < 1000) return;
  lastStatus = now;
  announce(text);
}

/** The Stop button of a long job: it says at once that it is stopping, as the card may take long to answer. */
export function stopButton(screen: Screen): HTMLButtonElement {
  const stop = button('Stop', () => {
    stop.disabled = true;
    stop.textContent = 'Stopping…';
    announce('Stopping… (waiting for the card to answer)');
    post('/api/cancel').catch((err: unknown) => showError(screen, err));
  }, 'big danger-outline');
  return stop;
}

/**
 * Runs a long job (copy, export, backup): a <progress> fed by progress events and a Stop button while the
 * POST is pending, then the Done screen; on an error, the error on this screen and the form as it was, the
 * progress line gone from the status bar and the focus on the first of `disable` (the job's own button).
 */
export async function runLong(screen: Screen, disable: HTMLButtonElement[], call: () => Promise<ResultAnswer>, intro: string): Promise<void> {
  clearProblem(screen);
  const bar = el('progress', { attrs: { 'aria-label': 'Progress' } });
  const stop = stopButton(screen);
  const box = el('div', { cls: 'progress-box' }, bar, stop);
  screen.section.appendChild(box);
  for (const b of disable) b.disabled = true;
  progressStatus(intro, true);
  const off = onProgress((ev) => {
    if (ev.fraction === null) bar.removeAttribute('value');
    else {
      bar.max = 1;
      bar.value = Math.min(1, Math.max(0, ev.fraction));
    }
    if (!stop.disabled) progressStatus(ev.text, ev.done);
  });
  let failed = false;
  try {
    const result = await call();
    showDone(result);
  } catch (err) {
    failed = true;
    announce('');
    showError(screen, err);
  } finally {
    off();
    lastStatus = 0;
    box.remove();
    for (const b of disable) b.disabled = false;
  }
  if (failed) disable[0]?.focus();
}

/** A copy that left files out: said first, with the list and what to do. */
function partialBox(partial: PartialCopy): HTMLElement {
  return el('div', { cls: 'warning-box partial' },
    el('p', { cls: 'warning-title', text: partial.message }),
    el('p', { text: partial.nothing ? 'Why:' : 'Not copied:' }),
    lineList(partial.notCopied),
    el('p', { text: `What to do: ${partial.hint}` }),
    partial.offerImage ? el('div', { cls: 'row' }, button('Copy the card to an image file first', () => nav.image(), 'primary')) : null);
}

/**
 * The Done screen: what was done, as a list in a status region, and Back. A copy that left files out says so
 * in its heading and first; after a write, a change written later from another tab is said under it.
 */
export function showDone(result: ResultAnswer): void {
  if (result.card) app.card = result.card;
  const title = result.partial?.nothing ? 'Not done: nothing was copied' : result.partial ? 'Partly done: not everything was copied' : 'Done';
  const s = openScreen(title, 'done');
  const region = el('div', { cls: 'result', attrs: { role: 'status' } }, result.partial ? partialBox(result.partial) : null, lineList(result.lines));
  append(s.section, region, el('div', { cls: 'row' }, backButton()));
  const version = result.cardVersion;
  if (version === undefined) return;
  const off = onChanged((ev) => {
    if (!s.section.isConnected) return void off();
    if (ev.cardVersion <= version) return;
    off();
    region.prepend(el('p', { cls: 'warning-box changed', text: `Since then the card was changed again, from another tab or window: ${ev.what}. What this screen says may no longer be so.` }));
    announce('The card was changed again from another tab.');
  });
}

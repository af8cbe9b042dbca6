// The page's entry (bundled to dist/page/app.js): wires the screens together, opens the event stream and
// shows the first screen from GET /api/state (the card screen when a card is open, else the disk screen).
import type { StateAnswer } from '../api.js';
import { get, listen, onChanged } from './client.js';
import { keepBackInside } from './back-button.js';
import { initConfirm, planAndWrite } from './confirm.js';
import { announce, el } from './dom.js';
import { showRunning } from './running.js';
import { showImage } from './screens-files.js';
import { showCard, showDisks, showStopped } from './screens-start.js';
import { app, nav } from './state.js';

async function start(): Promise<void> {
  nav.disks = showDisks;
  nav.card = showCard;
  nav.stopped = showStopped;
  nav.image = showImage;
  nav.repairAtStart = (screen, trigger) => void planAndWrite(screen, { kind: 'check-at-start' }, trigger);
  initConfirm();
  let state: StateAnswer;
  try {
    state = await get<StateAnswer>('/api/state');
  } catch {
    showStopped();
    return;
  }
  app.state = state;
  app.card = state.card;
  app.gone = state.gone;
  listen(() => nav.stopped(null));
  keepBackInside();
  // A change written from any tab: the card picture of every tab follows it.
  onChanged((ev) => {
    // The disk closed in another tab ("Choose another disk"): this one goes to the list of disks as well.
    if (ev.card === null) {
      if (app.card === null) return;
      app.card = null;
      if (document.querySelector('dialog[open]') === null) {
        showDisks();
        // Said on the screen (the list's own "N disks found" follows on the status line).
        const words = `${ev.what} in another tab or window: choose the disk to go on with.`;
        document.querySelector('#main > section.screen.disks h2')?.after(el('p', { cls: 'warning-box changed', text: words }));
        announce(words);
      }
      return;
    }
    // The tab that made the change (or opened the disk) has the card as it is now already.
    const known = ev.card !== null && JSON.stringify(ev.card) === JSON.stringify(app.card);
    const wasNone = app.card === null;
    if (ev.card) app.card = ev.card;
    // A disk opened in another tab while this one shows the list of disks (the window has one disk open at a
    // time): this tab goes on with it.
    if (wasNone && !app.opening && document.querySelector('#main > section.screen.disks') !== null && document.querySelector('dialog[open]') === null) {
      showCard();
      announce(`${ev.what} in another tab or window.`);
      return;
    }
    // The card screen in view follows too (a page reloaded during a write showed the card as it was before).
    const onCardScreen = document.querySelector('#main > section.screen.card') !== null;
    if (ev.card && !known && onCardScreen && document.querySelector('dialog[open]') === null) {
      showCard();
      announce(`The card was changed: ${ev.what}.`);
    } else if (!known) {
      staleNote(ev.what);
    }
  });
  // A job under way (this page reloaded during it, or another tab's): its progress, and its end when it comes.
  if (state.busy) showRunning(state.busy, state.finished?.seq ?? 0);
  else if (state.card) showCard();
  else showDisks();
}

/**
 * A step's screen drawn before another tab changed the card (its list of users, its backups): said on it, as
 * the Done screen says it. "Show the users" kept the old list, unsaid.
 */
function staleNote(what: string): void {
  const screen = document.querySelector('#main > section.screen');
  if (!screen || ['card', 'disks', 'running', 'done'].some((c) => screen.classList.contains(c))) return;
  screen.querySelector('.warning-box.stale')?.remove();
  screen.querySelector('h2')?.after(el('p', { cls: 'warning-box changed stale', text: `The card was changed in another tab or window since this was shown: ${what}. Go Back and open this step again to see it as it is now.` }));
  announce('The card was changed from another tab.');
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', () => void start());
else void start();

// A page loaded while a job runs (reloaded during a copy or a write, or a second tab): the job's progress and
// Stop, then its Done screen or its error when it ends. It said only "haos-rescue is busy", and the end of
// the job was never shown: the result went to the request of the page that was gone.
import { type FinishedEvent, type StateAnswer, WRITE_JOB } from '../api.js';
import { failureOf, get, onFinished, onProgress } from './client.js';
import { announce, append, button, el } from './dom.js';
import { app, nav } from './state.js';
import { openScreen, showDone, showError, stopButton } from './ui.js';

/** How often the page asks whether the job is still under way (its end may come before the event stream is open). */
const POLL_MS = 2000;

/** Shows the job `job` under way; `seen` is the last ended job this page knows of (StateAnswer.finished.seq). */
export function showRunning(job: string, seen: number): void {
  const s = openScreen(`${job}: under way`, 'running');
  const bar = el('progress', { attrs: { 'aria-label': 'Progress' } });
  // A write is never stopped halfway (its journal commit runs to the end, a few seconds): no Stop for it, which
  // said "Stopping…" and then "Done".
  const writing = job === WRITE_JOB;
  append(s.section,
    el('p', { text: `It was started before this page was loaded (or in another tab). Its result is shown here when it ends.${writing ? ' A change being written is never stopped halfway: it ends in a few seconds.' : ''}` }),
    el('div', { cls: 'progress-box' }, bar, writing ? null : stopButton(s)));
  announce(`haos-rescue is busy: ${job}`);
  let over = false;
  const end = (ev: FinishedEvent | null): void => {
    if (over || !s.section.isConnected) return void stop();
    over = true;
    stop();
    if (ev === null) return app.card ? nav.card() : nav.disks();
    if (ev.answer) return showDone(ev.answer);
    const failed = openScreen(`${ev.job}: not done`, 'done');
    showError(failed, failureOf(ev.error!));
    failed.section.appendChild(el('div', { cls: 'row' }, button('Back', () => (app.card ? nav.card() : nav.disks()), 'secondary')));
  };
  const offProgress = onProgress((ev) => {
    if (ev.fraction === null) bar.removeAttribute('value');
    else {
      bar.max = 1;
      bar.value = Math.min(1, Math.max(0, ev.fraction));
    }
  });
  const offFinished = onFinished((ev) => ev.seq > seen && end(ev));
  const poll = setInterval(() => void get<StateAnswer>('/api/state').then((state) => {
    if (state.busy !== null) return;
    if (state.card) app.card = state.card;
    end(state.finished !== null && state.finished.seq > seen ? state.finished : null);
  }, () => undefined), POLL_MS);
  function stop(): void {
    offProgress();
    offFinished();
    clearInterval(poll);
  }
}

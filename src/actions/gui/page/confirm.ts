// Changes to the card: POST /api/plan, the "Check before writing" dialog (<dialog id="confirm">), then
// POST /api/write with confirmed:true only after "Write it now". Cancel and Escape write nothing. A plan is
// written only onto the card it was made on: when another tab changed the card meanwhile, the server refuses
// (CARD_CHANGED) and the dialog shows the change again, as it is now, saying why.
import type { PlanAnswer, ResultAnswer, WriteAction, WriteRequest } from '../api.js';
import { ApiFailure, post } from './client.js';
import { append, button, clear, el } from './dom.js';
import type { Screen } from './ui.js';
import { clearProblem, showDone, showError, showNote } from './ui.js';

interface Pending {
  /** The result, null after an error shown on the screen, or 'changed' when the card changed since the plan. */
  write(applyJournal: boolean): Promise<ResultAnswer | null | 'changed'>;
  /** Plans again and shows the new plan in the dialog, still open (after 'changed'). */
  again(): void;
  cancelled(): void;
}

let current: Pending | null = null;
let writing = false;

function parts() {
  const get = <T extends HTMLElement>(id: string): T => {
    const node = document.getElementById(id);
    if (!node) throw new Error(`The page lacks #${id}.`);
    return node as T;
  };
  return {
    dialog: get<HTMLDialogElement>('confirm'),
    lines: get<HTMLUListElement>('confirm-lines'),
    question: get<HTMLParagraphElement>('confirm-question'),
    journal: get<HTMLParagraphElement>('confirm-journal'),
    changed: get<HTMLParagraphElement>('confirm-changed'),
    busy: get<HTMLParagraphElement>('confirm-busy'),
    write: get<HTMLButtonElement>('confirm-write'),
    cancel: get<HTMLButtonElement>('confirm-cancel'),
  };
}

function setWriting(on: boolean): void {
  const p = parts();
  writing = on;
  p.write.disabled = on;
  p.cancel.disabled = on;
  p.busy.hidden = !on;
}

/** Wires the dialog's buttons once, at start. */
export function initConfirm(): void {
  const p = parts();
  p.cancel.addEventListener('click', () => {
    if (!writing) p.dialog.close('cancel');
  });
  // Escape is Cancel, except while writing.
  p.dialog.addEventListener('cancel', (ev) => {
    if (writing) ev.preventDefault();
  });
  p.dialog.addEventListener('close', () => {
    const pending = current;
    current = null;
    if (pending) pending.cancelled();
  });
  p.write.addEventListener('click', () => {
    const pending = current;
    if (!pending || writing) return;
    setWriting(true);
    const applyJournal = !p.journal.hidden;
    void pending.write(applyJournal).then((result) => {
      // The dialog stays open, its plan replaced by the one as the card is now (a close and a new showModal
      // would race the close event, which comes later and would cancel the new plan).
      if (result === 'changed') return pending.again();
      current = null;
      setWriting(false);
      p.dialog.close('written');
      if (result) showDone(result);
    });
  });
}

/** Closes the dialog without a word (haos-rescue has stopped). */
export function closeConfirm(): void {
  const p = parts();
  current = null;
  setWriting(false);
  if (p.dialog.open) p.dialog.close();
}

function openConfirm(plan: PlanAnswer, pending: Pending, changed: string | null): void {
  const p = parts();
  p.changed.hidden = changed === null;
  p.changed.textContent = changed === null ? '' : `Nothing was written: ${changed}. Here is what the change would do now.`;
  clear(p.lines);
  append(p.lines, ...plan.lines.map((line) => el('li', { text: line })));
  p.question.textContent = plan.question;
  p.journal.hidden = plan.journalNote === null;
  p.journal.textContent = plan.journalNote ?? '';
  setWriting(false);
  current = pending;
  p.dialog.returnValue = '';
  if (!p.dialog.open) p.dialog.showModal();
  p.cancel.focus();
  if (changed !== null) showNote('The card was changed in another tab: check the change again.');
}

/**
 * Asks the server what the change will do, shows it for confirmation, and writes it on "Write it now".
 * Errors show on the screen; the form keeps what was typed.
 */
export async function planAndWrite(screen: Screen, action: WriteAction, trigger: HTMLButtonElement, password?: string, changed: string | null = null, noOriginals = false): Promise<void> {
  clearProblem(screen);
  trigger.disabled = true;
  let plan: PlanAnswer;
  try {
    plan = await post<PlanAnswer>('/api/plan', noOriginals ? { action, noOriginals } : { action });
  } catch (err) {
    // Planned again from the open dialog (the card changed): it closes, and the error shows on the screen.
    if (changed !== null) closeConfirm();
    showError(screen, err);
    return;
  } finally {
    trigger.disabled = false;
  }
  const request = (applyJournal: boolean): WriteRequest => {
    const r: WriteRequest = { action, confirmed: true, applyJournal, cardVersion: plan.cardVersion };
    if (password !== undefined) r.password = password;
    if (noOriginals) r.noOriginals = true;
    return r;
  };
  let why = '';
  openConfirm(plan, {
    write: async (applyJournal) => {
      try {
        return await post<ResultAnswer>('/api/write', request(applyJournal));
      } catch (err) {
        if (err instanceof ApiFailure && err.code === 'CARD_CHANGED') {
          why = err.message.replace(/; nothing was written$/, '');
          return 'changed';
        }
        showError(screen, err);
        // No room on this computer for the copies of what a deletion removes: deleting without them, asked again.
        if (err instanceof ApiFailure && err.withoutOriginals && !noOriginals) {
          const without: HTMLButtonElement = button('Delete without keeping copies', () => void planAndWrite(screen, action, without, password, null, true), 'secondary');
          screen.alert.appendChild(el('div', { cls: 'row' }, without));
        }
        return null;
      }
    },
    again: () => void planAndWrite(screen, action, trigger, password, why, noOriginals),
    cancelled: () => {
      showNote('Nothing was written.');
      trigger.focus();
    },
  }, changed);
}

// Changes to the card: POST /api/plan, the "Check before writing" dialog (<dialog id="confirm">), then
// POST /api/write with confirmed:true only after "Write it now". Cancel and Escape write nothing.
import type { PlanAnswer, ResultAnswer, WriteAction, WriteRequest } from '../api.js';
import { post } from './client.js';
import { append, clear, el } from './dom.js';
import type { Screen } from './ui.js';
import { clearProblem, showDone, showError, showNote } from './ui.js';

interface Pending {
  write(applyJournal: boolean): Promise<ResultAnswer | null>;
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
    journalBox: get<HTMLInputElement>('confirm-journal-box'),
    journalText: get<HTMLLabelElement>('confirm-journal-text'),
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
    const applyJournal = !p.journal.hidden && p.journalBox.checked;
    void pending.write(applyJournal).then((result) => {
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

function openConfirm(plan: PlanAnswer, pending: Pending): void {
  const p = parts();
  clear(p.lines);
  append(p.lines, ...plan.lines.map((line) => el('li', { text: line })));
  p.question.textContent = plan.question;
  p.journal.hidden = plan.journalQuestion === null;
  p.journalText.textContent = plan.journalQuestion ?? '';
  p.journalBox.checked = true;
  setWriting(false);
  current = pending;
  p.dialog.returnValue = '';
  p.dialog.showModal();
  p.cancel.focus();
}

/**
 * Asks the server what the change will do, shows it for confirmation, and writes it on "Write it now".
 * Errors show on the screen; the form keeps what was typed.
 */
export async function planAndWrite(screen: Screen, action: WriteAction, trigger: HTMLButtonElement, password?: string): Promise<void> {
  clearProblem(screen);
  trigger.disabled = true;
  let plan: PlanAnswer;
  try {
    plan = await post<PlanAnswer>('/api/plan', { action });
  } catch (err) {
    showError(screen, err);
    return;
  } finally {
    trigger.disabled = false;
  }
  const request = (applyJournal: boolean): WriteRequest =>
    password === undefined ? { action, confirmed: true, applyJournal } : { action, password, confirmed: true, applyJournal };
  openConfirm(plan, {
    write: async (applyJournal) => {
      try {
        return await post<ResultAnswer>('/api/write', request(applyJournal));
      } catch (err) {
        showError(screen, err);
        return null;
      }
    },
    cancelled: () => {
      showNote('Nothing was written.');
      trigger.focus();
    },
  });
}

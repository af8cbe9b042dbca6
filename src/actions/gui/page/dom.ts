// Element helpers for the page: build DOM with createElement and textContent only (never HTML strings),
// so every name, path and message from the server shows as literal text.

export type Child = Node | string | null | undefined | false;

export interface Opts {
  cls?: string;
  id?: string;
  text?: string;
  /** Plain attributes (type, for, autocomplete, aria-*): constants of ours, never server data as markup. */
  attrs?: Record<string, string>;
}

let counter = 0;
/** A fresh element id, for <label for>. */
export function uid(prefix = 'f'): string {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** createElement with class, id, text, attributes and children (strings become text nodes). */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  opts: Opts = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (opts.cls) node.className = opts.cls;
  if (opts.id) node.id = opts.id;
  if (opts.attrs) for (const [k, v] of Object.entries(opts.attrs)) node.setAttribute(k, v);
  if (opts.text !== undefined) node.textContent = opts.text;
  append(node, ...children);
  return node;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    parent.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
  }
}

/** Removes every child. */
export function clear(node: Node): void {
  while (node.firstChild) node.removeChild(node.firstChild);
}

/** A <button type="button"> with its text and click handler. */
export function button(text: string, onClick: (ev: MouseEvent) => void, cls = ''): HTMLButtonElement {
  const b = el('button', { cls, text, attrs: { type: 'button' } });
  b.addEventListener('click', onClick);
  return b;
}

/** A labelled text-like input: the wrapper, with the input inside it. */
export function field(
  label: string,
  input: HTMLInputElement | HTMLSelectElement,
  ...extra: Child[]
): HTMLDivElement {
  if (!input.id) input.id = uid();
  return el('div', { cls: 'field' }, el('label', { text: label, attrs: { for: input.id } }), input, ...extra);
}

/** A checkbox with its label after it. */
export function checkbox(label: string, checked: boolean): { wrap: HTMLDivElement; box: HTMLInputElement } {
  const box = el('input', { id: uid('c'), attrs: { type: 'checkbox' } });
  box.checked = checked;
  const wrap = el('div', { cls: 'check' }, box, el('label', { text: label, attrs: { for: box.id } }));
  return { wrap, box };
}

/** A text input with a starting value. */
export function textInput(value: string, attrs: Record<string, string> = {}): HTMLInputElement {
  const input = el('input', { attrs: { type: 'text', autocomplete: 'off', spellcheck: 'false', ...attrs } });
  input.value = value;
  return input;
}

let again = 0;
/**
 * Says something in the page's polite live region (#status), which is also shown as a bar at the bottom
 * of the window: the one place a short message ("Nothing was written.", "Copied", progress) appears.
 */
export function announce(message: string): void {
  const status = document.getElementById('status');
  if (!status) return;
  window.clearTimeout(again);
  if (status.textContent !== message || message === '') {
    status.textContent = message;
    return;
  }
  // The same words twice in a row are announced again when the region is emptied first.
  status.textContent = '';
  again = window.setTimeout(() => {
    status.textContent = message;
  }, 60);
}

/** A list of lines as <ul>. */
export function lineList(lines: string[], cls = 'lines'): HTMLUListElement {
  return el('ul', { cls }, ...lines.map((line) => el('li', { text: line })));
}

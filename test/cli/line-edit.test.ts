// The hidden prompt's line editing: what a raw terminal sends for each key (xterm's CSI and SS3 forms, as
// tmux and the terminals of Windows and macOS send them) and the password it leaves.

import { describe, expect, it } from 'vitest';
import { HiddenLine } from '../../src/cli/line-edit.js';

function typed(...chunks: string[]): { value: string; key: string | null } {
  const line = new HiddenLine();
  let key: string | null = null;
  for (const c of chunks) key = line.feed(c) ?? key;
  return { value: line.value, key };
}

describe('HiddenLine', () => {
  it('arrows, Home, End and Delete edit the line; none of their bytes enter it', () => {
    expect(typed('ab', '\x1b[D', 'c', '\r')).toEqual({ value: 'acb', key: 'enter' });
    expect(typed('ab', '\x1bOD', 'c\r')).toEqual({ value: 'acb', key: 'enter' });
    expect(typed('bc', '\x1b[H', 'a', '\x1b[F', 'd\r').value).toBe('abcd');
    expect(typed('bc', '\x1b[1~', 'a', '\x1b[4~', 'd\r').value).toBe('abcd');
    expect(typed('abc', '\x1b[D\x1b[D', '\x1b[3~', '\r').value).toBe('ac');
    expect(typed('abc', '\x1b[D', '\x1b[C', 'd\r').value).toBe('abcd');
    // Ctrl-Left as xterm sends it (a modifier parameter): a move, not text.
    expect(typed('ab', '\x1b[1;5D', 'c\r').value).toBe('acb');
  });

  it('keys that are not edits (F5, Page Up, Alt-x, a pasted bracket) are left out', () => {
    expect(typed('a', '\x1b[15~', '\x1b[5~', '\x1bx', 'b', '\x1b[200~', 'c', '\x1b[201~', '\r').value).toBe('abc');
    expect(typed('a', '\x1bOP', 'b\r').value).toBe('ab');
  });

  it('a sequence split across chunks is still one key', () => {
    expect(typed('ab', '\x1b', '[', 'D', 'c\r').value).toBe('acb');
    expect(typed('ab\x1b[', '3', '~c\r').value).toBe('abc');
  });

  it('Backspace, Ctrl-U, Ctrl-A and Ctrl-E; Ctrl-C cancels; other control keys are left out', () => {
    expect(typed('abc\x7f\bd\r').value).toBe('ad');
    expect(typed('wrong\x15right\r').value).toBe('right');
    expect(typed('bc\x01a\x05d\r').value).toBe('abcd');
    expect(typed('a\tb\x00c\r').value).toBe('abc');
    expect(typed('secret\x03').key).toBe('cancel');
    // Backspace at the start of the line and Delete at its end change nothing.
    expect(typed('\x7fab\x1b[3~\r').value).toBe('ab');
  });

  it('non-ASCII letters are one character each (a password in any language)', () => {
    expect(typed('pässwörd', '\x1b[D\x1b[D', '\x7f', '\r').value).toBe('pässwrd');
    expect(typed('ключ🔑', '\x1b[D', 'x\r').value).toBe('ключx🔑');
  });
});

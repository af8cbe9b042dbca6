// The keys of a hidden entry on a raw terminal (a password typed at the command line's prompt): nothing is
// shown, but the arrow, Home, End, Delete and Backspace keys edit the line as they do everywhere else (and as
// in the guided flow), and any other key that sends an escape sequence (F1, Page Up, a pasted bracket) is
// left out. Taken as text, Left sent ESC [ D into the password: "ab", Left, "c" set "ab\x1b[Dc", which the
// owner could never type again.

export type LineKey = 'enter' | 'cancel';

/** What a finished escape sequence does to the line (CSI and SS3 forms). */
const MOVES: Record<string, 'left' | 'right' | 'home' | 'end' | 'delete'> = {
  D: 'left',
  C: 'right',
  H: 'home',
  F: 'end',
  '1~': 'home',
  '7~': 'home',
  '4~': 'end',
  '8~': 'end',
  '3~': 'delete',
};

export class HiddenLine {
  private chars: string[] = [];
  private cursor = 0;
  /** The escape sequence being read: null outside one, else what came after ESC so far. */
  private escape: string | null = null;

  get value(): string {
    return this.chars.join('');
  }

  /** Takes a chunk of the terminal's input; 'enter' or 'cancel' when the line ends (the rest is dropped). */
  feed(chunk: string): LineKey | null {
    for (const ch of chunk) {
      if (this.escape !== null) {
        this.escapeChar(ch);
        continue;
      }
      if (ch === '\r' || ch === '\n') return 'enter';
      if (ch === '\u0003') return 'cancel';
      if (ch === '\u001b') this.escape = '';
      else if (ch === '\u007f' || ch === '\b') this.backspace();
      else if (ch === '\u0015') this.cutToStart();
      else if (ch === '\u0001') this.cursor = 0;
      else if (ch === '\u0005') this.cursor = this.chars.length;
      else if (ch >= ' ') this.chars.splice(this.cursor++, 0, ch);
    }
    return null;
  }

  /** One character of an escape sequence: ESC [ params final, ESC O final, or ESC and one key (Alt). */
  private escapeChar(ch: string): void {
    const seq = (this.escape += ch);
    if (seq === '[' || seq === 'O') return;
    const csi = seq.startsWith('[');
    const ss3 = seq.startsWith('O');
    // A CSI sequence ends at a byte from @ to ~; its parameters and intermediates come before.
    if (csi && !/^[@-~]$/.test(ch)) {
      if (seq.length > 32) this.escape = null;
      return;
    }
    this.escape = null;
    const move = csi || ss3 ? MOVES[seq.slice(1)] ?? MOVES[seq.slice(1).replace(/^1;\d+/, '')] : undefined;
    if (move) this.move(move);
  }

  private move(move: (typeof MOVES)[string]): void {
    if (move === 'left') this.cursor = Math.max(0, this.cursor - 1);
    else if (move === 'right') this.cursor = Math.min(this.chars.length, this.cursor + 1);
    else if (move === 'home') this.cursor = 0;
    else if (move === 'end') this.cursor = this.chars.length;
    else if (this.cursor < this.chars.length) this.chars.splice(this.cursor, 1);
  }

  private backspace(): void {
    if (this.cursor === 0) return;
    this.chars.splice(--this.cursor, 1);
  }

  private cutToStart(): void {
    this.chars.splice(0, this.cursor);
    this.cursor = 0;
  }
}

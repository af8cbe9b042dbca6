// LVM2's text metadata (lvm2 lib/config/config.c): sections `name { ... }`, settings `name = value`, values
// a number, a "string" (\" and \\ escaped) or an [array] of them; `#` starts a comment. Read from the disk, so
// every limit is checked: the text's size is bounded by the caller, the nesting here, and a malformed text is
// a CorruptError (exit 65), never a crash.

import { CorruptError } from '../errors.js';

export type LvmValue = number | string | LvmValue[] | LvmSection;
export interface LvmSection {
  [key: string]: LvmValue;
}

const MAX_DEPTH = 16;

class Tokens {
  private at = 0;
  constructor(private readonly text: string) {}

  /** The next token: a name, a string (as ["str", value]), a number, a punctuation mark, or null at the end. */
  next(): string | { str: string } | { num: number } | null {
    this.skipSpace();
    if (this.at >= this.text.length) return null;
    const c = this.text[this.at]!;
    if ('{}[]=,'.includes(c)) {
      this.at++;
      return c;
    }
    if (c === '"') return { str: this.string() };
    const m = /^[A-Za-z0-9_.+\-/]+/.exec(this.text.slice(this.at, this.at + 256));
    if (m === null) throw bad(`an unexpected character ${JSON.stringify(c)}`);
    this.at += m[0].length;
    return /^-?\d+$/.test(m[0]) ? { num: safeNumber(m[0]) } : m[0];
  }

  peek(): ReturnType<Tokens['next']> {
    const at = this.at;
    const token = this.next();
    this.at = at;
    return token;
  }

  private skipSpace(): void {
    for (;;) {
      while (this.at < this.text.length && /\s/.test(this.text[this.at]!)) this.at++;
      if (this.text[this.at] !== '#') return;
      while (this.at < this.text.length && this.text[this.at] !== '\n') this.at++;
    }
  }

  private string(): string {
    let out = '';
    for (this.at++; this.at < this.text.length; this.at++) {
      const c = this.text[this.at]!;
      if (c === '"') {
        this.at++;
        return out;
      }
      if (c === '\\') this.at++;
      out += this.text[this.at] ?? '';
    }
    throw bad('a string without its closing quote');
  }
}

function safeNumber(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw bad(`the number ${text.slice(0, 30)} is too large`);
  return n;
}

/** A damaged LVM label, metadata area or metadata text (exit 65). */
export function lvmDamaged(what: string): CorruptError {
  return new CorruptError('LVM_BAD_METADATA', `an LVM physical volume is damaged: ${what}`, {
    hint: 'its volumes cannot be read here; on Linux, pvck and vgcfgrestore (from /etc/lvm/backup) can check and mend it',
  });
}

const bad = (what: string): CorruptError => lvmDamaged(`its metadata text: ${what}`);

/** Parses LVM2 text metadata into nested sections. */
export function parseLvmText(text: string): LvmSection {
  const tokens = new Tokens(text);
  const root = section(tokens, 0);
  if (tokens.next() !== null) throw bad('a closing brace too many');
  return root;
}

function section(tokens: Tokens, depth: number): LvmSection {
  if (depth > MAX_DEPTH) throw bad('sections nested too deep');
  const out: LvmSection = Object.create(null) as LvmSection;
  for (;;) {
    const t = tokens.peek();
    if (t === null || t === '}') return out;
    const name = tokens.next();
    if (typeof name !== 'string' || '{}[]=,'.includes(name)) throw bad('a setting without a name');
    const after = tokens.next();
    if (after === '{') {
      out[name] = section(tokens, depth + 1);
      if (tokens.next() !== '}') throw bad(`section ${name} is not closed`);
    } else if (after === '=') {
      out[name] = value(tokens, depth);
    } else {
      throw bad(`${name} is neither a section nor a setting`);
    }
  }
}

function value(tokens: Tokens, depth: number): LvmValue {
  const t = tokens.next();
  if (t !== null && typeof t === 'object') return 'str' in t ? t.str : t.num;
  if (t !== '[') throw bad('a setting without a value');
  const list: LvmValue[] = [];
  if (depth > MAX_DEPTH) throw bad('arrays nested too deep');
  for (;;) {
    if (tokens.peek() === ']') {
      tokens.next();
      return list;
    }
    list.push(value(tokens, depth + 1));
    const sep = tokens.next();
    if (sep === ']') return list;
    if (sep !== ',') throw bad('an array item without a comma after it');
  }
}

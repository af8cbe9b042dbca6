// A reader for Apple's XML property lists, the format `diskutil ... -plist` prints (DTD PropertyList-1.0:
// plist, dict, key, array, string, integer, real, true, false, date, data). Enough XML for that: a prolog,
// a DOCTYPE, comments, empty-element tags and the five named entities plus numeric character references.
// CDATA and nested DTDs are not plist output and are refused. Dictionaries have no prototype, so a key
// like "__proto__" is only a key. Integers beyond 2^53 stay exact as bigint.

import { IoError } from '../errors.js';

export type PlistValue = string | number | bigint | boolean | PlistValue[] | PlistDict;
export interface PlistDict {
  [key: string]: PlistValue;
}

const MAX_INPUT = 32 * 1024 * 1024;
const MAX_DEPTH = 64;
const TAG = /<(\/?)([A-Za-z][A-Za-z0-9._-]*)(?:\s[^<>]*?)?\s*(\/?)>/y;
const NAMED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

interface Tag {
  name: string;
  closing: boolean;
  empty: boolean;
}

function fail(message: string, pos: number): IoError {
  return new IoError('PLIST_INVALID', `not a valid property list: ${message} at character ${pos}`, {
    details: { position: pos },
  });
}

export function isPlistDict(v: PlistValue | undefined): v is PlistDict {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses an XML property list; throws IoError PLIST_INVALID on anything else. */
export function parsePlist(text: string): PlistValue {
  if (text.length > MAX_INPUT) throw fail(`${text.length} characters is more than a disk listing`, 0);
  const reader = new PlistReader(text);
  const open = reader.tag();
  let value: PlistValue;
  if (open.name === 'plist' && !open.closing && !open.empty) {
    value = reader.value(reader.tag(), 0);
    reader.expectClose('plist');
  } else {
    value = reader.value(open, 0);
  }
  reader.end();
  return value;
}

class PlistReader {
  private pos = 0;

  constructor(private readonly text: string) {}

  /** Skips whitespace, the XML declaration, DOCTYPE and comments. */
  private skip(): void {
    for (;;) {
      const rest = this.text.slice(this.pos, this.pos + 9);
      if (/^\s/.test(rest)) this.pos++;
      else if (rest.startsWith('<?')) this.pos = this.after('?>');
      else if (rest.startsWith('<!--')) this.pos = this.after('-->');
      else if (rest.startsWith('<!DOCTYPE')) this.pos = this.after('>');
      else return;
    }
  }

  private after(end: string): number {
    const i = this.text.indexOf(end, this.pos);
    if (i < 0) throw fail(`unterminated markup (no "${end}")`, this.pos);
    return i + end.length;
  }

  tag(): Tag {
    this.skip();
    TAG.lastIndex = this.pos;
    const m = TAG.exec(this.text);
    if (m === null) throw fail(this.pos >= this.text.length ? 'unexpected end' : 'expected a tag', this.pos);
    this.pos = TAG.lastIndex;
    return { closing: m[1] === '/', name: m[2]!, empty: m[3] === '/' };
  }

  expectClose(name: string): void {
    const t = this.tag();
    if (!t.closing || t.name !== name) throw fail(`expected </${name}>, found <${t.closing ? '/' : ''}${t.name}>`, this.pos);
  }

  end(): void {
    this.skip();
    if (this.pos < this.text.length) throw fail('text after the end of the property list', this.pos);
  }

  /** Character data up to the next tag, with entities decoded. */
  private chars(): string {
    const i = this.text.indexOf('<', this.pos);
    if (i < 0) throw fail('unexpected end inside an element', this.pos);
    const raw = this.text.slice(this.pos, i);
    const start = this.pos;
    this.pos = i;
    return raw.replace(/&([^;&<]{0,10});?/g, (whole, ent: string) => decodeEntity(whole, ent, start));
  }

  value(t: Tag, depth: number): PlistValue {
    if (t.closing) throw fail(`unexpected </${t.name}>`, this.pos);
    if (depth > MAX_DEPTH) throw fail(`nested more than ${MAX_DEPTH} deep`, this.pos);
    switch (t.name) {
      case 'dict':
        return t.empty ? (Object.create(null) as PlistDict) : this.dict(depth);
      case 'array':
        return t.empty ? [] : this.array(depth);
      case 'true':
      case 'false':
        if (!t.empty) this.expectClose(t.name);
        return t.name === 'true';
      case 'string':
      case 'date':
      case 'data':
        return t.empty ? '' : this.leaf(t.name);
      case 'integer':
        return parseInteger(t.empty ? '' : this.leaf('integer'), this.pos);
      case 'real':
        return parseReal(t.empty ? '' : this.leaf('real'), this.pos);
      default:
        throw fail(`unknown element <${t.name}>`, this.pos);
    }
  }

  private leaf(name: string): string {
    const s = this.chars();
    this.expectClose(name);
    return s;
  }

  private dict(depth: number): PlistDict {
    const out = Object.create(null) as PlistDict;
    for (;;) {
      const t = this.tag();
      if (t.closing && t.name === 'dict') return out;
      if (t.name !== 'key' || t.closing) throw fail(`expected <key> in <dict>, found <${t.name}>`, this.pos);
      const key = t.empty ? '' : this.leaf('key');
      out[key] = this.value(this.tag(), depth + 1);
    }
  }

  private array(depth: number): PlistValue[] {
    const out: PlistValue[] = [];
    for (;;) {
      const t = this.tag();
      if (t.closing && t.name === 'array') return out;
      out.push(this.value(t, depth + 1));
    }
  }
}

function decodeEntity(whole: string, ent: string, pos: number): string {
  if (!whole.endsWith(';')) throw fail(`bare "&" or unterminated entity "${whole}"`, pos);
  const named = NAMED[ent];
  if (named !== undefined) return named;
  const m = /^#(?:x([0-9A-Fa-f]{1,6})|([0-9]{1,7}))$/.exec(ent);
  if (m === null) throw fail(`unknown entity "&${ent};"`, pos);
  const code = m[1] !== undefined ? parseInt(m[1], 16) : Number(m[2]);
  if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) throw fail(`character reference "&${ent};" out of range`, pos);
  return String.fromCodePoint(code);
}

function parseInteger(s: string, pos: number): number | bigint {
  const t = s.trim();
  if (!/^[+-]?\d{1,40}$/.test(t)) throw fail(`"${t.slice(0, 40)}" is not an integer`, pos);
  const n = Number(t);
  return Number.isSafeInteger(n) ? n : BigInt(t);
}

function parseReal(s: string, pos: number): number {
  const t = s.trim();
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,4})?$/.test(t)) throw fail(`"${t.slice(0, 40)}" is not a real number`, pos);
  return Number(t);
}

// JSON text exactly as Home Assistant reads and writes its `.storage` files (haos-format.md §4.1, §7 item 16).
//
// Reading: HA loads with orjson, which is strict RFC 8259 JSON over valid UTF-8: no BOM, no comments, no
// trailing commas, no NaN/Infinity, no raw control characters in strings, no lone surrogate escapes.
// Duplicate keys keep the first key's position and the last value (a Python dict), as JSON.parse does.
//
// Writing: orjson with OPT_INDENT_2 gives what JSON.stringify(v, null, 2) gives (same escapes: `"`, `\`,
// \b \t \n \f \r, other controls as lowercase \u00xx; non-ASCII kept as UTF-8; `[]`/`{}` when empty), with
// three differences that a plain JSON.parse → JSON.stringify round trip gets wrong, all seen in real files:
//   1. Python floats keep their float form: `.storage/auth` stores `"access_token_expiration": 1800.0`,
//      which JS would write back as `1800`. We remember every number whose text formatNumber() would not
//      reproduce and write that text again as long as the value is unchanged. (Integers beyond 2^64, which
//      orjson reads as floats, therefore keep their digits where HA would write a float; never seen.)
//   2. Registries embed pre-serialised entries (orjson.Fragment via `as_storage_fragment`), so entries in
//      `core.entity_registry`, `core.device_registry`, `core.config_entries` and `core.restore_state` are
//      compact one-line JSON inside the indented document. We remember which containers were compact and
//      write them compact again. A document that is compact as a whole is re-indented, as HA would.
//   3. JS objects list integer-like keys ("1", "42") first; Python keeps insertion order. We remember the
//      parsed key order and write it back, then any keys added later.
// The memory is kept per container object in WeakMaps, so the parsed values stay plain JS values; a copy of
// a container (spread, structuredClone) loses it and is written as plain JSON.stringify would.

import { hasLoneSurrogate } from './py-unicode.js';

/** A syntax error with its position; store.ts turns it into a CorruptError naming the file. */
export class JsonSyntaxError extends Error {
  constructor(
    readonly reason: string,
    readonly offset: number,
    readonly line: number,
    readonly column: number,
  ) {
    super(`${reason} at line ${line}, column ${column}`);
  }
}

interface ContainerMemory {
  /** Source text of numbers that formatNumber() would not reproduce, by key (array index as a string). */
  numbers?: Map<string, { value: number; text: string }>;
  /** Key order as parsed, when it differs from the JS own-key order. */
  order?: string[];
}

const memory = new WeakMap<object, ContainerMemory>();
const compactContainers = new WeakSet<object>();

/** orjson.loads accepts 1024 nested arrays/objects and refuses 1025 (checked with orjson 3.12.0). */
const MAX_DEPTH = 1024;

/** Parses JSON text with the strictness of orjson and remembers what the writer needs to reproduce it. */
export function parseJsonText(text: string): unknown {
  return new Parser(text).parseDocument();
}

class Parser {
  private pos = 0;
  private whitespaceRuns = 0;
  private readonly compact: object[] = [];

  constructor(private readonly text: string) {}

  parseDocument(): unknown {
    if (this.text.length === 0) this.fail('empty document');
    if (this.text.charCodeAt(0) === 0xfeff) this.fail('UTF-8 byte-order mark before the JSON, which orjson rejects');
    this.skipWhitespace();
    const root = this.parseValue(0);
    this.skipWhitespace();
    if (this.pos < this.text.length) this.fail('unexpected text after the JSON value');
    // A one-line document was not written by HA's indenting writer: let everything be re-indented.
    if (!(typeof root === 'object' && root !== null && this.compact.includes(root))) {
      for (const c of this.compact) compactContainers.add(c);
    }
    return root;
  }

  private parseValue(depth: number): unknown {
    const c = this.text.charCodeAt(this.pos);
    if (c === 0x7b) return this.parseObject(depth + 1); // {
    if (c === 0x5b) return this.parseArray(depth + 1); // [
    if (c === 0x22) return this.parseString(); // "
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.parseNumber().value;
    for (const [word, value] of LITERALS) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return value;
      }
    }
    this.fail(this.pos >= this.text.length ? 'unexpected end of data (truncated?)' : `unexpected character ${describe(this.text, this.pos)}`);
  }

  private parseObject(depth: number): Record<string, unknown> {
    if (depth > MAX_DEPTH) this.fail(`nested deeper than ${MAX_DEPTH} levels`);
    this.pos++;
    const runsBefore = this.whitespaceRuns;
    const obj: Record<string, unknown> = {};
    const order: string[] = [];
    let numbers: ContainerMemory['numbers'];
    this.skipWhitespace();
    if (this.text.charCodeAt(this.pos) === 0x7d) {
      this.pos++;
      return obj;
    }
    for (;;) {
      if (this.text.charCodeAt(this.pos) !== 0x22) this.fail("expected '\"' to start a key");
      const key = this.parseString();
      this.skipWhitespace();
      if (this.text.charCodeAt(this.pos) !== 0x3a) this.fail("expected ':' after a key");
      this.pos++;
      this.skipWhitespace();
      const start = this.pos;
      const value = this.parseValue(depth);
      if (!Object.hasOwn(obj, key)) order.push(key);
      // defineProperty: a "__proto__" key must become an own property, as with JSON.parse.
      Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
      if (typeof value === 'number') numbers = this.rememberNumber(numbers, key, value, start);
      else numbers?.delete(key);
      this.skipWhitespace();
      const c = this.text.charCodeAt(this.pos++);
      if (c === 0x2c) {
        this.skipWhitespace();
        continue;
      }
      if (c === 0x7d) break;
      this.pos--;
      this.fail("expected ',' or '}'");
    }
    const keys = Object.keys(obj);
    const orderDiffers = keys.some((k, i) => k !== order[i]);
    if (numbers || orderDiffers) memory.set(obj, { numbers, order: orderDiffers ? order : undefined });
    if (this.whitespaceRuns === runsBefore) this.compact.push(obj);
    return obj;
  }

  private parseArray(depth: number): unknown[] {
    if (depth > MAX_DEPTH) this.fail(`nested deeper than ${MAX_DEPTH} levels`);
    this.pos++;
    const runsBefore = this.whitespaceRuns;
    const arr: unknown[] = [];
    let numbers: ContainerMemory['numbers'];
    this.skipWhitespace();
    if (this.text.charCodeAt(this.pos) === 0x5d) {
      this.pos++;
      return arr;
    }
    for (;;) {
      const start = this.pos;
      const value = this.parseValue(depth);
      if (typeof value === 'number') numbers = this.rememberNumber(numbers, String(arr.length), value, start);
      arr.push(value);
      this.skipWhitespace();
      const c = this.text.charCodeAt(this.pos++);
      if (c === 0x2c) {
        this.skipWhitespace();
        continue;
      }
      if (c === 0x5d) break;
      this.pos--;
      this.fail("expected ',' or ']'");
    }
    if (numbers) memory.set(arr, { numbers });
    if (this.whitespaceRuns === runsBefore) this.compact.push(arr);
    return arr;
  }

  private rememberNumber(numbers: ContainerMemory['numbers'], key: string, value: number, start: number): ContainerMemory['numbers'] {
    const text = this.text.slice(start, this.pos);
    // "-0" is the int 0 to orjson, written back as "0"; every other text we cannot reproduce is kept.
    if (formatNumber(value) === text || text === '-0') {
      numbers?.delete(key);
      return numbers;
    }
    const map = numbers ?? new Map();
    map.set(key, { value, text });
    return map;
  }

  private parseNumber(): { value: number } {
    const re = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
    re.lastIndex = this.pos;
    const m = re.exec(this.text);
    if (!m) this.fail('malformed number');
    const value = Number(m[0]);
    if (!Number.isFinite(value)) this.fail(`number ${m[0]} is out of range`);
    this.pos += m[0].length;
    const next = this.text.charCodeAt(this.pos);
    if (next === 0x2e || next === 0x65 || next === 0x45 || (next >= 0x30 && next <= 0x39)) this.fail('malformed number');
    return { value };
  }

  private parseString(): string {
    const text = this.text;
    let i = this.pos + 1;
    let out = '';
    let runStart = i;
    for (;;) {
      if (i >= text.length) this.failAt(i, 'unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) break;
      if (c < 0x20) this.failAt(i, `raw control character 0x${c.toString(16).padStart(2, '0')} in a string`);
      if (c !== 0x5c) {
        i++;
        continue;
      }
      out += text.slice(runStart, i);
      const e = text.charCodeAt(i + 1);
      const simple = ESCAPES.get(e);
      if (simple !== undefined) {
        out += simple;
        i += 2;
      } else if (e === 0x75) {
        const unit = this.hex4(i + 2);
        if (unit >= 0xd800 && unit <= 0xdbff) {
          const low = text.startsWith('\\u', i + 6) ? this.hex4(i + 8) : -1;
          if (low < 0xdc00 || low > 0xdfff) this.failAt(i, 'lone surrogate in a \\u escape');
          out += String.fromCharCode(unit, low);
          i += 12;
        } else {
          if (unit >= 0xdc00 && unit <= 0xdfff) this.failAt(i, 'lone surrogate in a \\u escape');
          out += String.fromCharCode(unit);
          i += 6;
        }
      } else {
        this.failAt(i, 'invalid escape in a string');
      }
      runStart = i;
    }
    out += text.slice(runStart, i);
    this.pos = i + 1;
    return out;
  }

  private hex4(at: number): number {
    const digits = this.text.slice(at, at + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(digits)) this.failAt(at, 'invalid \\u escape');
    return parseInt(digits, 16);
  }

  private skipWhitespace(): void {
    const start = this.pos;
    for (;;) {
      const c = this.text.charCodeAt(this.pos);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      this.pos++;
    }
    if (this.pos !== start) this.whitespaceRuns++;
  }

  private fail(reason: string): never {
    this.failAt(this.pos, reason);
  }

  private failAt(offset: number, reason: string): never {
    if (offset >= this.text.length && !reason.startsWith('unexpected end')) reason = `unexpected end of data, ${reason} (truncated?)`;
    const before = this.text.slice(0, offset);
    const line = (before.match(/\n/g)?.length ?? 0) + 1;
    const column = offset - (before.lastIndexOf('\n') + 1) + 1;
    throw new JsonSyntaxError(reason, offset, line, column);
  }
}

const LITERALS: ReadonlyArray<readonly [string, boolean | null]> = [['true', true], ['false', false], ['null', null]];

const ESCAPES = new Map<number, string>([
  [0x22, '"'], [0x5c, '\\'], [0x2f, '/'], [0x62, '\b'], [0x66, '\f'], [0x6e, '\n'], [0x72, '\r'], [0x74, '\t'],
]);

function describe(text: string, pos: number): string {
  const ch = String.fromCodePoint(text.codePointAt(pos)!);
  return /^[\x21-\x7e]$/.test(ch) ? `'${ch}'` : `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * How a number is written when we have no source text for it. JS has one number type, so a whole number
 * is written as a Python int (`1800`, not `1800.0`); anything else as orjson 3.12 writes a Python float:
 * the same shortest round-trip digits as JS, but in exponent form below 1e-5 and from 1e16 up (`1e+16`,
 * `5.1e-6`). Checked against orjson 3.12.0 on 22,000 doubles.
 */
export function formatNumber(value: number): string {
  if (Number.isSafeInteger(value)) return String(value); // also -0 → "0", as a Python int
  const [mantissa, exponentText] = value.toExponential().split('e') as [string, string];
  const exponent = Number(exponentText);
  const sign = mantissa.startsWith('-') ? '-' : '';
  const digits = mantissa.replace('-', '').replace('.', '');
  if (exponent < -5 || exponent >= 16) {
    const fraction = digits.length > 1 ? `.${digits.slice(1)}` : '';
    return `${sign}${digits[0]}${fraction}e${exponent < 0 ? '-' : '+'}${Math.abs(exponent)}`;
  }
  if (exponent < 0) return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
  const whole = digits.slice(0, exponent + 1).padEnd(exponent + 1, '0');
  return `${sign}${whole}.${digits.slice(exponent + 1) || '0'}`;
}

/** Thrown for values orjson could not write; only reachable through a bug in our own edits. */
export class JsonValueError extends Error {}

/** Writes a value as orjson OPT_INDENT_2 would, reproducing remembered numbers, fragments and key order. */
export function formatJsonText(value: unknown): string {
  const out: string[] = [];
  writeValue(value, out, '', false, undefined, '');
  return out.join('');
}

function writeValue(value: unknown, out: string[], indent: string, compact: boolean, parent: object | undefined, key: string): void {
  if (value === null) return void out.push('null');
  switch (typeof value) {
    case 'boolean':
      return void out.push(value ? 'true' : 'false');
    case 'string':
      return void out.push(quote(value));
    case 'number': {
      if (!Number.isFinite(value)) throw new JsonValueError(`cannot write ${value} at ${JSON.stringify(key)}`);
      const remembered = parent ? memory.get(parent)?.numbers?.get(key) : undefined;
      return void out.push(remembered && Object.is(remembered.value, value) ? remembered.text : formatNumber(value));
    }
    case 'object':
      break;
    default:
      throw new JsonValueError(`cannot write a ${typeof value} at ${JSON.stringify(key)}`);
  }
  const container = value as object;
  const isCompact = compact || compactContainers.has(container);
  const inner = indent + '  ';
  const sep = isCompact ? ',' : ',\n' + inner;
  if (Array.isArray(container)) {
    if (container.length === 0) return void out.push('[]');
    out.push(isCompact ? '[' : '[\n' + inner);
    container.forEach((item, i) => {
      if (i > 0) out.push(sep);
      writeValue(item, out, inner, isCompact, container, String(i));
    });
    return void out.push(isCompact ? ']' : '\n' + indent + ']');
  }
  const proto = Object.getPrototypeOf(container);
  if (proto !== Object.prototype && proto !== null) throw new JsonValueError(`cannot write a ${proto?.constructor?.name ?? 'object'} at ${JSON.stringify(key)}`);
  const keys = orderedKeys(container as Record<string, unknown>);
  if (keys.length === 0) return void out.push('{}');
  out.push(isCompact ? '{' : '{\n' + inner);
  keys.forEach((k, i) => {
    if (i > 0) out.push(sep);
    out.push(quote(k), isCompact ? ':' : ': ');
    writeValue((container as Record<string, unknown>)[k], out, inner, isCompact, container, k);
  });
  out.push(isCompact ? '}' : '\n' + indent + '}');
}

function orderedKeys(obj: Record<string, unknown>): string[] {
  const keys = Object.keys(obj);
  const order = memory.get(obj)?.order;
  if (!order) return keys;
  const present = new Set(keys);
  const first = order.filter((k) => present.has(k));
  const seen = new Set(first);
  return first.concat(keys.filter((k) => !seen.has(k)));
}

function quote(s: string): string {
  // orjson refuses strings that are not valid UTF-8; for well-formed strings JSON.stringify escapes alike.
  if (hasLoneSurrogate(s)) throw new JsonValueError(`cannot write a string with a lone surrogate: ${JSON.stringify(s)}`);
  return JSON.stringify(s);
}

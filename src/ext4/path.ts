// Paths inside a filesystem are byte strings. Users type them as text; names that are not valid UTF-8 are
// shown with \xNN escapes (displayName), a literal backslash in them as \x5c, and can be typed the same
// way (lookup tries the literal bytes first, then the escaped reading).

import { UsageError } from '../errors.js';

/** Splits an absolute or relative path into its non-empty components, resolving "." (".." is kept). */
export function splitPath(path: string): string[] {
  if (path.includes('\0')) throw new UsageError('BAD_PATH', `path ${JSON.stringify(path.length > 80 ? `${path.slice(0, 80)}...` : path)} contains a NUL byte`);
  return path.split('/').filter((c) => c !== '' && c !== '.');
}

/** The alternative byte reading of a component with \xNN escapes, or null when it has none. */
export function unescapeComponent(component: string): Buffer | null {
  if (!/\\x[0-9a-fA-F]{2}/.test(component)) return null;
  const parts: Buffer[] = [];
  let last = 0;
  for (const m of component.matchAll(/\\x([0-9a-fA-F]{2})/g)) {
    parts.push(Buffer.from(component.slice(last, m.index), 'utf8'), Buffer.from([parseInt(m[1]!, 16)]));
    last = m.index! + m[0].length;
  }
  parts.push(Buffer.from(component.slice(last), 'utf8'));
  return Buffer.concat(parts);
}

// ignoreBOM: a name starting with EF BB BF keeps those bytes in its display form.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Text that reads as an escape: a name holding it is shown with its backslashes escaped. */
const LOOKS_ESCAPED = /\\x[0-9a-fA-F]{2}/;

/**
 * A name for display: UTF-8 as is; otherwise each byte that is not part of valid UTF-8, and "\\", as \xNN. A
 * UTF-8 name holding text that reads as an escape ("a\\xff.tar") is escaped too ("a\\x5cxff.tar"): shown as
 * it is, it was the same text as the name with the byte FF, and the two were taken for one.
 */
export function displayName(name: Uint8Array): string {
  let text: string | null = null;
  try {
    text = decoder.decode(name);
  } catch {
    // not UTF-8: escaped below
  }
  return text !== null && !LOOKS_ESCAPED.test(text) ? text : escaped(name);
}

function escaped(name: Uint8Array): string {
  let out = '';
  let i = 0;
  while (i < name.length) {
    const len = utf8SequenceLength(name, i);
    if (len > 0 && name[i] !== 0x5c) {
      out += Buffer.from(name.subarray(i, i + len)).toString('utf8');
      i += len;
    } else {
      out += `\\x${name[i]!.toString(16).padStart(2, '0')}`;
      i++;
    }
  }
  return out;
}

/** Length of a valid UTF-8 sequence starting at i, or 0 when the byte there does not start one. */
function utf8SequenceLength(b: Uint8Array, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
  if (len === 0 || i + len > b.length) return 0;
  for (let k = 1; k < len; k++) if ((b[i + k]! & 0xc0) !== 0x80) return 0;
  try {
    decoder.decode(b.subarray(i, i + len));
    return len;
  } catch {
    return 0;
  }
}

export function isValidUtf8(name: Uint8Array): boolean {
  try {
    decoder.decode(name);
    return true;
  } catch {
    return false;
  }
}

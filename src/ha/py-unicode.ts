// Python's str.strip() and str.casefold() for JavaScript, as Home Assistant normalises usernames with
// `username.strip().casefold()` (haos-format.md §4.2). JS has neither: String.prototype.trim() strips a
// different whitespace set, and toLowerCase() is lower-casing, not case folding.
//
// casefold: Python folds each code point on its own (CaseFolding.txt statuses C and F, no context), so
// we fold per code point: the exceptions below where the fold differs from that code point's own
// toLowerCase(), else toLowerCase() of the single code point (which also avoids JS's Final_Sigma rule:
// 'ΑΣ'.toLowerCase() is 'ας', but Python folds Σ to σ everywhere). The table was produced by comparing
// Python 3.11 (Unicode 14) str.casefold() with Node 20 toLowerCase() for every code point Python knows;
// test/ha/py-unicode.test.ts repeats that comparison whenever python3 is installed. Letters added in later
// Unicode versions are simple case pairs whose fold equals their lower case, so toLowerCase() covers them.

/** Python str.isspace() code points: what str.strip() removes (adds \x1c-\x1f and \x85, lacks \ufeff vs JS trim). */
const PY_WHITESPACE = new Set<number>([
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680,
  0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a,
  0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
]);

/** Code points whose Python casefold differs from their own toLowerCase() (Cherokee is handled in code). */
const FOLD_EXCEPTIONS = new Map<number, string>([
  [0xb5, '\u03bc'], [0xdf, 'ss'], [0x149, '\u02bcn'], [0x17f, 's'], [0x1f0, 'j\u030c'], [0x345, '\u03b9'],
  [0x390, '\u03b9\u0308\u0301'], [0x3b0, '\u03c5\u0308\u0301'], [0x3c2, '\u03c3'], [0x3d0, '\u03b2'], [0x3d1, '\u03b8'], [0x3d5, '\u03c6'],
  [0x3d6, '\u03c0'], [0x3f0, '\u03ba'], [0x3f1, '\u03c1'], [0x3f5, '\u03b5'], [0x587, '\u0565\u0582'], [0x1c80, '\u0432'],
  [0x1c81, '\u0434'], [0x1c82, '\u043e'], [0x1c83, '\u0441'], [0x1c84, '\u0442'], [0x1c85, '\u0442'], [0x1c86, '\u044a'],
  [0x1c87, '\u0463'], [0x1c88, '\ua64b'], [0x1e96, 'h\u0331'], [0x1e97, 't\u0308'], [0x1e98, 'w\u030a'], [0x1e99, 'y\u030a'],
  [0x1e9a, 'a\u02be'], [0x1e9b, '\u1e61'], [0x1e9e, 'ss'], [0x1f50, '\u03c5\u0313'], [0x1f52, '\u03c5\u0313\u0300'], [0x1f54, '\u03c5\u0313\u0301'],
  [0x1f56, '\u03c5\u0313\u0342'], [0x1f80, '\u1f00\u03b9'], [0x1f81, '\u1f01\u03b9'], [0x1f82, '\u1f02\u03b9'], [0x1f83, '\u1f03\u03b9'], [0x1f84, '\u1f04\u03b9'],
  [0x1f85, '\u1f05\u03b9'], [0x1f86, '\u1f06\u03b9'], [0x1f87, '\u1f07\u03b9'], [0x1f88, '\u1f00\u03b9'], [0x1f89, '\u1f01\u03b9'], [0x1f8a, '\u1f02\u03b9'],
  [0x1f8b, '\u1f03\u03b9'], [0x1f8c, '\u1f04\u03b9'], [0x1f8d, '\u1f05\u03b9'], [0x1f8e, '\u1f06\u03b9'], [0x1f8f, '\u1f07\u03b9'], [0x1f90, '\u1f20\u03b9'],
  [0x1f91, '\u1f21\u03b9'], [0x1f92, '\u1f22\u03b9'], [0x1f93, '\u1f23\u03b9'], [0x1f94, '\u1f24\u03b9'], [0x1f95, '\u1f25\u03b9'], [0x1f96, '\u1f26\u03b9'],
  [0x1f97, '\u1f27\u03b9'], [0x1f98, '\u1f20\u03b9'], [0x1f99, '\u1f21\u03b9'], [0x1f9a, '\u1f22\u03b9'], [0x1f9b, '\u1f23\u03b9'], [0x1f9c, '\u1f24\u03b9'],
  [0x1f9d, '\u1f25\u03b9'], [0x1f9e, '\u1f26\u03b9'], [0x1f9f, '\u1f27\u03b9'], [0x1fa0, '\u1f60\u03b9'], [0x1fa1, '\u1f61\u03b9'], [0x1fa2, '\u1f62\u03b9'],
  [0x1fa3, '\u1f63\u03b9'], [0x1fa4, '\u1f64\u03b9'], [0x1fa5, '\u1f65\u03b9'], [0x1fa6, '\u1f66\u03b9'], [0x1fa7, '\u1f67\u03b9'], [0x1fa8, '\u1f60\u03b9'],
  [0x1fa9, '\u1f61\u03b9'], [0x1faa, '\u1f62\u03b9'], [0x1fab, '\u1f63\u03b9'], [0x1fac, '\u1f64\u03b9'], [0x1fad, '\u1f65\u03b9'], [0x1fae, '\u1f66\u03b9'],
  [0x1faf, '\u1f67\u03b9'], [0x1fb2, '\u1f70\u03b9'], [0x1fb3, '\u03b1\u03b9'], [0x1fb4, '\u03ac\u03b9'], [0x1fb6, '\u03b1\u0342'], [0x1fb7, '\u03b1\u0342\u03b9'],
  [0x1fbc, '\u03b1\u03b9'], [0x1fbe, '\u03b9'], [0x1fc2, '\u1f74\u03b9'], [0x1fc3, '\u03b7\u03b9'], [0x1fc4, '\u03ae\u03b9'], [0x1fc6, '\u03b7\u0342'],
  [0x1fc7, '\u03b7\u0342\u03b9'], [0x1fcc, '\u03b7\u03b9'], [0x1fd2, '\u03b9\u0308\u0300'], [0x1fd3, '\u03b9\u0308\u0301'], [0x1fd6, '\u03b9\u0342'], [0x1fd7, '\u03b9\u0308\u0342'],
  [0x1fe2, '\u03c5\u0308\u0300'], [0x1fe3, '\u03c5\u0308\u0301'], [0x1fe4, '\u03c1\u0313'], [0x1fe6, '\u03c5\u0342'], [0x1fe7, '\u03c5\u0308\u0342'], [0x1ff2, '\u1f7c\u03b9'],
  [0x1ff3, '\u03c9\u03b9'], [0x1ff4, '\u03ce\u03b9'], [0x1ff6, '\u03c9\u0342'], [0x1ff7, '\u03c9\u0342\u03b9'], [0x1ffc, '\u03c9\u03b9'], [0xfb00, 'ff'],
  [0xfb01, 'fi'], [0xfb02, 'fl'], [0xfb03, 'ffi'], [0xfb04, 'ffl'], [0xfb05, 'st'], [0xfb06, 'st'],
  [0xfb13, '\u0574\u0576'], [0xfb14, '\u0574\u0565'], [0xfb15, '\u0574\u056b'], [0xfb16, '\u057e\u0576'], [0xfb17, '\u0574\u056d'],
]);

export function isPythonWhitespace(codePoint: number): boolean {
  return PY_WHITESPACE.has(codePoint);
}

/** Python `s.strip()` with no arguments. Every whitespace code point is in the BMP, so UTF-16 indexing is safe. */
export function pyStrip(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && PY_WHITESPACE.has(s.charCodeAt(start))) start++;
  while (end > start && PY_WHITESPACE.has(s.charCodeAt(end - 1))) end--;
  return s.slice(start, end);
}

/** Python `s.casefold()`. */
export function pyCasefold(s: string): string {
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    out += foldCodePoint(cp, ch);
  }
  return out;
}

function foldCodePoint(cp: number, ch: string): string {
  if (cp < 0x80) return cp >= 0x41 && cp <= 0x5a ? String.fromCharCode(cp + 0x20) : ch;
  const special = FOLD_EXCEPTIONS.get(cp);
  if (special !== undefined) return special;
  // Cherokee folds to the upper-case letters (CaseFolding.txt maps the small letters up), unlike toLowerCase().
  if (cp >= 0x13a0 && cp <= 0x13f5) return ch;
  if (cp >= 0x13f8 && cp <= 0x13fd) return String.fromCodePoint(cp - 8);
  if (cp >= 0xab70 && cp <= 0xabbf) return String.fromCodePoint(cp - 0xab70 + 0x13a0);
  return ch.toLowerCase();
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Whether a JS string holds an unpaired surrogate, which Python's str.encode() and orjson refuse. */
export function hasLoneSurrogate(s: string): boolean {
  return LONE_SURROGATE.test(s);
}

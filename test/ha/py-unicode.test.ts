import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { hasLoneSurrogate, isPythonWhitespace, pyCasefold, pyStrip } from '../../src/ha/py-unicode.js';

describe('pyStrip (Python str.strip())', () => {
  it.each([
    [' Alice ', 'Alice'],
    ['\t\n\v\f\r x \r\n', 'x'],
    ['\x1c\x1d\x1ex\x1f', 'x'], // JS trim keeps these
    ['\x85x\xa0', 'x'], // NEL: JS trim keeps it
    ['\u3000x\u2028', 'x'],
    ['\ufeffx', '\ufeffx'], // JS trim strips the BOM, Python does not
    ['\u200bx', '\u200bx'], // zero-width space is not whitespace
    ['   ', ''],
    ['a b', 'a b'],
  ])('%j → %j', (input, expected) => {
    expect(pyStrip(input)).toBe(expected);
  });
});

describe('pyCasefold (Python str.casefold())', () => {
  it.each([
    ['ALICE', 'alice'],
    ['straße', 'strasse'],
    ['STRASSE', 'strasse'],
    ['ẞ', 'ss'],
    ['ﬁle', 'file'],
    ['ﬀ', 'ff'],
    ['ΟΔΥΣΣΕΥΣ', 'οδυσσευσ'], // no final-sigma rule, unlike toLowerCase()
    ['ς', 'σ'],
    ['µ', 'μ'], // MICRO SIGN → GREEK SMALL MU
    ['ſ', 's'],
    ['İ', 'i\u0307'],
    ['ᾈ', 'ἀι'],
    ['Ꭰꭰ', 'ᎠᎠ'], // Cherokee folds to upper case
    ['K', 'k'], // KELVIN SIGN
    ['Ω', 'ω'], // OHM SIGN
    ['😀x', '😀x'],
  ])('%j → %j', (input, expected) => {
    expect(pyCasefold(input)).toBe(expected);
  });

  it('differs from toLowerCase where Python does', () => {
    expect('ΑΣ'.toLowerCase()).toBe('ας');
    expect(pyCasefold('ΑΣ')).toBe('ασ');
    expect('ß'.toLowerCase()).toBe('ß');
  });
});

describe('hasLoneSurrogate', () => {
  it('tells pairs from lone halves', () => {
    expect(hasLoneSurrogate('😀')).toBe(false);
    expect(hasLoneSurrogate('\ud83d')).toBe(true);
    expect(hasLoneSurrogate('x\ude00')).toBe(true);
    expect(hasLoneSurrogate('\ude00\ud83d')).toBe(true);
  });
});

// The real thing, when python3 is installed: every code point Python knows, folded and stripped by Python.
const python = spawnSync('python3', ['-c', 'print(1)'], { encoding: 'utf8' });
const hasPython = python.status === 0;

describe.skipIf(!hasPython)('against python3 itself', () => {
  it('casefold matches for every assigned code point', () => {
    const script = [
      'import sys, unicodedata, json',
      'out = {}',
      'for c in range(0x110000):',
      '    if 0xd800 <= c <= 0xdfff or unicodedata.category(chr(c)) == "Cn": continue',
      '    f = chr(c).casefold()',
      '    if f != chr(c): out[c] = f',
      'json.dump({"assigned": [c for c in range(0x110000) if not 0xd800 <= c <= 0xdfff and unicodedata.category(chr(c)) != "Cn"], "folds": out}, sys.stdout)',
    ].join('\n');
    const run = spawnSync('python3', ['-c', script], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    expect(run.status).toBe(0);
    const { assigned, folds } = JSON.parse(run.stdout) as { assigned: number[]; folds: Record<string, string> };
    const wrong: string[] = [];
    for (const cp of assigned) {
      const ch = String.fromCodePoint(cp);
      const expected = folds[cp] ?? ch;
      if (pyCasefold(ch) !== expected) wrong.push(cp.toString(16));
    }
    expect(wrong).toEqual([]);
    expect(assigned.length).toBeGreaterThan(100_000);
  });

  it('strip uses the same whitespace set', () => {
    const run = spawnSync('python3', ['-c', 'import json; print(json.dumps([c for c in range(0x110000) if chr(c).isspace()]))'], { encoding: 'utf8' });
    const spaces = JSON.parse(run.stdout) as number[];
    const ours: number[] = [];
    for (let c = 0; c < 0x110000; c++) if (isPythonWhitespace(c)) ours.push(c);
    expect(ours).toEqual(spaces);
  });
});

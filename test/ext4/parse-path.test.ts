// Pure unit tests for the ext4 parsers (style.md "Tests": bytes in, value or error code out): a valid input
// taken from a real mke2fs image (located with debugfs/dumpe2fs, never with our own reader), targeted
// corruptions that must give one specific error code, truncated prefixes, and seeded garbage that must
// end in an AppError or a sane value, never a RangeError/TypeError. Regression tests for bugs found while
// writing them are named after what they guard. Shared images and helpers: parsers-setup.ts.
// This file: displayName, unescapeComponent, isValidUtf8 and splitPath (no image needed).

import { describe, expect, it } from 'vitest';
import type { DirEntry } from '../../src/ext4/dir.js';
import { matchComponent } from '../../src/ext4/lookup.js';
import { displayName, isValidUtf8, splitPath, unescapeComponent } from '../../src/ext4/path.js';
import { prng } from '../helpers/images.js';
import { codeOf } from './fixtures-debugfs.js';

// ---------------------------------------------------------------------------------------------------
describe('path: displayName / unescapeComponent', () => {
  it('shows valid UTF-8 as is and needs no escape reading', () => {
    const name = Buffer.from('utf8-été-🏠');
    expect(displayName(name)).toBe('utf8-été-🏠');
    expect(unescapeComponent(displayName(name))).toBeNull();
  });

  it.each<[string, number[], string]>([
    ['latin-1 é', [0x6c, 0xe9, 0x74, 0xe9], 'l\\xe9t\\xe9'],
    ['overlong "/"', [0xc0, 0xaf], '\\xc0\\xaf'],
    ['UTF-16 surrogate', [0xed, 0xa0, 0x80], '\\xed\\xa0\\x80'],
    ['cut 3-byte sequence', [0x61, 0xe2, 0x82], 'a\\xe2\\x82'],
    ['beyond U+10FFFF', [0xf4, 0x90, 0x80, 0x80], '\\xf4\\x90\\x80\\x80'],
    ['0xff among valid UTF-8', [0xf0, 0x9f, 0x8f, 0xa0, 0xff, 0xc3, 0xa9], '🏠\\xffé'],
  ])('escapes %s and reads it back byte for byte', (_n, bytes, shown) => {
    const name = Buffer.from(bytes);
    expect(displayName(name)).toBe(shown);
    expect(unescapeComponent(shown)).toEqual(name);
  });

  it('unescapeComponent: upper-case hex works, no escapes gives null', () => {
    expect(unescapeComponent('a\\xE9')).toEqual(Buffer.from([0x61, 0xe9]));
    expect(unescapeComponent('plain')).toBeNull();
    expect(unescapeComponent('a\\x4')).toBeNull();
  });

  it('2000 random non-UTF-8 names (no backslash) round-trip through displayName and unescapeComponent', () => {
    let tested = 0;
    for (let seed = 1; seed <= 2000; seed++) {
      const raw = prng(seed, 1 + (seed % 40));
      const name = Buffer.from([...raw].filter((c) => c !== 0 && c !== 0x2f && c !== 0x5c));
      if (name.length === 0 || isValidUtf8(name)) continue;
      tested++;
      expect(unescapeComponent(displayName(name)), `seed ${seed}`).toEqual(name);
    }
    expect(tested).toBeGreaterThan(1500);
  });

  it('splitPath refuses NUL with BAD_PATH and drops empty and "." components', () => {
    expect(codeOf(() => splitPath('/a\0b'))).toBe('BAD_PATH');
    expect(splitPath('/a//./b/')).toEqual(['a', 'b']);
  });

  // BUG (path.ts displayName): the shared `new TextDecoder('utf-8', { fatal: true })` strips a leading
  // byte-order mark (ignoreBOM defaults to false), so the valid UTF-8 name EF BB BF 61 is shown as "a".
  // Looking up that displayed name finds a different file named "a" (or nothing): `ls` and `cat` disagree.
  it('a name starting with a UTF-8 BOM keeps its BOM in displayName', () => {
    const name = Buffer.from([0xef, 0xbb, 0xbf, 0x61]);
    expect(Buffer.from(displayName(name), 'utf8')).toEqual(name);
  });

  // BUG (path.ts displayName/unescapeComponent): a literal backslash is never escaped, so a non-UTF-8 name
  // that contains the text "\x41" is ambiguous: bytes 5C 78 34 31 FF display as "\x41\xff", whose escaped
  // reading is 41 FF ("A\xff"). volume.ts findComponent tries the literal bytes, then that reading, so the
  // file cannot be opened by the name `ls` shows — and if "A\xff" exists too, the wrong file is returned.
  it('a non-UTF-8 name containing a literal "\\x41" round-trips', () => {
    const name = Buffer.concat([Buffer.from('\\x41', 'latin1'), Buffer.from([0xff])]);
    expect(unescapeComponent(displayName(name))).toEqual(name);
  });

  // A valid UTF-8 name holding the text "\xff" showed as itself, the same text as the name with the byte FF: a
  // backup listing showed one backup twice and copied it twice, the other never (lookup took the literal first).
  it('a UTF-8 name holding the text "\\xNN" shows its backslash escaped, and each of the two names is found by its own', () => {
    const literal = Buffer.from('a\\xff.tar', 'utf8');
    const byte = Buffer.from([0x61, 0xff, 0x2e, 0x74, 0x61, 0x72]);
    expect(displayName(literal)).toBe('a\\x5cxff.tar');
    expect(displayName(byte)).toBe('a\\xff.tar');
    expect(displayName(Buffer.from('plain\\name', 'utf8'))).toBe('plain\\name');
    const entries = [literal, byte].map((name, i) => ({ name, ino: 20 + i, fileType: 1 }) as DirEntry);
    for (const e of entries) expect(matchComponent(entries, displayName(e.name))?.ino).toBe(e.ino);
    // Typed as it reads, with the name of byte FF absent: the literal name is still found.
    expect(matchComponent([entries[0]!], 'a\\xff.tar')?.ino).toBe(20);
  });
});


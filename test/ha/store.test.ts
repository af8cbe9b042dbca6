import { describe, expect, it } from 'vitest';
import { CorruptError } from '../../src/errors.js';
import { parseStore, parseStoreJson, serializeStore } from '../../src/ha/store.js';
import { codeOf, demoFile, demoFileNames, hasDemo, storeBytes } from './helpers.js';

describe.skipIf(!hasDemo)('serializeStore on the real demo .storage files', () => {
  const names = demoFileNames();

  it('finds the files', () => {
    expect(names.length).toBeGreaterThan(20);
    expect(names).toContain('auth');
  });

  // core.config_entries is the one file the demo repo changed later (commit f0a3e17a, 2025-07-02, per
  // PROVENANCE.tsv); it ends in a newline, which HA's writer never adds, so it was edited outside HA.
  const handEdited = new Set(['core.config_entries']);

  it.each(names)('%s round-trips byte for byte', (name) => {
    const bytes = demoFile(name);
    const file = parseStore(bytes, name, `.storage/${name}`);
    expect(file.key).toBe(name);
    const expected = handEdited.has(name) ? bytes.subarray(0, bytes.length - 1) : bytes;
    if (handEdited.has(name)) expect(bytes.at(-1)).toBe(0x0a);
    expect(serializeStore(file.doc).toString('utf8')).toBe(expected.toString('utf8'));
    expect(serializeStore(file.doc).equals(expected)).toBe(true);
  });

  it('only the hand-edited file ends in a newline', () => {
    expect(names.filter((n) => demoFile(n).at(-1) === 0x0a)).toEqual([...handEdited]);
  });

  // Why a plain JSON.parse → JSON.stringify is not enough (documented in src/ha/store-json.ts).
  it('JSON.stringify alone would change auth (Python float 1800.0) and the registries (orjson fragments)', () => {
    const differs = names.filter((n) => {
      const text = demoFile(n).toString('utf8');
      return JSON.stringify(JSON.parse(text), null, 2) !== text;
    });
    expect(differs).toEqual(['auth', 'core.config_entries', 'core.device_registry', 'core.entity_registry', 'core.restore_state']);
    expect(demoFile('auth').toString('utf8')).toContain('"access_token_expiration": 1800.0,');
    expect(demoFile('core.entity_registry').toString('utf8')).toMatch(/\n {6}\{"aliases":\[\],"area_id":null,/);
  });

  it('keeps 1800.0 after an edit elsewhere, and writes a changed number the JS way', () => {
    const file = parseStore(demoFile('auth'), 'auth', '.storage/auth');
    const data = file.data as { users: Array<{ name: string }>; refresh_tokens: Array<{ access_token_expiration: number }> };
    data.users[0]!.name = 'Renamed';
    const floats = demoFile('auth').toString('utf8').match(/"access_token_expiration": \d+\.0,/g)!;
    expect(floats.length).toBe(data.refresh_tokens.length);
    let text = serializeStore(file.doc).toString('utf8');
    expect(text).toContain('"name": "Renamed"');
    expect(text.match(/"access_token_expiration": \d+\.0,/g)).toEqual(floats);
    expect(data.refresh_tokens[0]!.access_token_expiration).toBe(1800);
    data.refresh_tokens[0]!.access_token_expiration = 3600;
    text = serializeStore(file.doc).toString('utf8');
    expect(text).toContain('"access_token_expiration": 3600,');
  });

  it('keeps registry entries compact after an edit', () => {
    const bytes = demoFile('core.entity_registry');
    const file = parseStore(bytes, 'core.entity_registry', '.storage/core.entity_registry');
    const entities = (file.data as { entities: Array<Record<string, unknown>> }).entities;
    const removed = entities.splice(1, 1)[0]!;
    const out = serializeStore(file.doc).toString('utf8');
    const removedLine = bytes.toString('utf8').split('\n').find((l) => l.includes(`"entity_id":${JSON.stringify(removed.entity_id)}`))!;
    expect(removedLine).toBeDefined();
    // A middle entry: its whole line (with its trailing comma) goes, every other byte stays.
    expect(removedLine.endsWith('},')).toBe(true);
    expect(out).toBe(bytes.toString('utf8').replace(removedLine + '\n', ''));
  });
});

describe('serializeStore format (orjson OPT_INDENT_2)', () => {
  it('writes 2-space indent, ": " and "," separators, empty containers, no trailing newline', () => {
    const doc = { version: 1, minor_version: 1, key: 'k', data: { a: [], b: {}, c: [1, 'x', null, true], d: { e: false } } };
    const out = serializeStore(doc).toString('utf8');
    expect(out).toBe(JSON.stringify(doc, null, 2));
    expect(out.endsWith('\n')).toBe(false);
    expect(out).toContain('"a": [],\n    "b": {},');
  });

  it('keeps non-ASCII as UTF-8 and escapes like orjson', () => {
    const data = { s: 'straße ☃ 😀 "q" \\ \b\f\n\r\t \u0000\u001f\u007f \u2028/' };
    const out = serializeStore({ version: 1, key: 'k', data }).toString('utf8');
    expect(out).toContain('"straße ☃ 😀 \\"q\\" \\\\ \\b\\f\\n\\r\\t \\u0000\\u001f\u007f \u2028/"');
    expect(parseStore(Buffer.from(out), 'k', 'x').data).toEqual(data);
  });

  it('keeps integer-like keys in file order (Python dict order, not JS order)', () => {
    const text = '{\n  "version": 1,\n  "key": "k",\n  "data": {\n    "b": 1,\n    "10": 2,\n    "a": 3,\n    "2": 4\n  }\n}';
    const file = parseStore(Buffer.from(text), 'k', 'x');
    expect(Object.keys(file.data as object)).toEqual(['2', '10', 'b', 'a']);
    expect(serializeStore(file.doc).toString('utf8')).toBe(text);
    (file.data as Record<string, number>).z = 5;
    delete (file.data as Record<string, number>)['10'];
    expect(serializeStore(file.doc).toString('utf8')).toBe(
      '{\n  "version": 1,\n  "key": "k",\n  "data": {\n    "b": 1,\n    "a": 3,\n    "2": 4,\n    "z": 5\n  }\n}',
    );
  });

  it('keeps number text that JS would not reproduce, while the value is unchanged', () => {
    const text = '{\n  "version": 1,\n  "key": "k",\n  "data": [\n    1.0,\n    -0.0,\n    1e16,\n    1.5E-7,\n    2,\n    0.25\n  ]\n}';
    const file = parseStore(Buffer.from(text), 'k', 'x');
    expect(file.data).toEqual([1, -0, 1e16, 1.5e-7, 2, 0.25]);
    expect(serializeStore(file.doc).toString('utf8')).toBe(text);
  });

  // Golden values: orjson 3.12.0 dumps of the same Python floats.
  it.each([
    [0.1, '0.1'],
    [2.5, '2.5'],
    [123456789.123, '123456789.123'],
    [1e-5, '0.00001'],
    [1.5e-7, '1.5e-7'],
    [-5.137716631876371e-6, '-5.137716631876371e-6'],
    [1e16, '1e+16'],
    [1e21, '1e+21'],
    [1e300, '1e+300'],
    [5e-324, '5e-324'],
  ])('writes a new float %d as orjson does: %s', (value, text) => {
    expect(serializeStore({ version: 1, key: 'k', data: [value] }).toString('utf8')).toBe(`{\n  "version": 1,\n  "key": "k",\n  "data": [\n    ${text}\n  ]\n}`);
  });

  it('writes whole numbers as ints, and "-0" as orjson would (0)', () => {
    const file = parseStore(Buffer.from('{"version": 1, "key": "k", "data": [-0, 1800]}'), 'k', 'x');
    (file.data as number[]).push(3600);
    expect(serializeStore(file.doc).toString('utf8')).toContain('[\n    0,\n    1800,\n    3600\n  ]');
  });

  it('accepts 1024 levels of nesting and refuses 1025, like orjson', () => {
    expect(() => parseStoreJson(Buffer.from('['.repeat(1024) + ']'.repeat(1024)), 'x')).not.toThrow();
    expect(codeOf(() => parseStoreJson(Buffer.from('['.repeat(1025) + ']'.repeat(1025)), 'x'))).toBe('BAD_STORE_JSON');
  });

  it('re-indents a document that is compact as a whole, as Home Assistant would write it', () => {
    const compact = '{"version":1,"key":"k","data":{"users":[{"username":"a"}]}}';
    const file = parseStore(Buffer.from(compact), 'k', 'x');
    expect(serializeStore(file.doc).toString('utf8')).toBe(JSON.stringify(JSON.parse(compact), null, 2));
  });

  it('refuses values orjson could not write', () => {
    expect(codeOf(() => serializeStore({ version: 1, key: 'k', data: { x: undefined } }))).toBe('STORE_SERIALIZE');
    expect(codeOf(() => serializeStore({ version: 1, key: 'k', data: [NaN] }))).toBe('STORE_SERIALIZE');
    expect(codeOf(() => serializeStore({ version: 1, key: 'k', data: '\ud800' }))).toBe('STORE_SERIALIZE');
    expect(codeOf(() => serializeStore({ version: 1, key: 'k', data: new Date(0) }))).toBe('STORE_SERIALIZE');
  });
});

describe('parseStore errors', () => {
  const good = storeBytes('auth', { users: [] });

  it('accepts a good envelope and defaults minor_version to 1', () => {
    const file = parseStore(Buffer.from('{"version": 1, "key": "auth", "data": {"users": []}}'), 'auth', '.storage/auth');
    expect(file).toMatchObject({ version: 1, minorVersion: 1, key: 'auth', data: { users: [] } });
    expect(parseStore(good, 'auth', '.storage/auth').minorVersion).toBe(1);
  });

  it('garbage → BAD_STORE_JSON naming the path and what Home Assistant does', () => {
    let err: unknown;
    try {
      parseStore(Buffer.from('hello'), 'auth', '.storage/auth');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CorruptError);
    const e = err as CorruptError;
    expect(e.code).toBe('BAD_STORE_JSON');
    expect(e.exitCode).toBe(65);
    expect(e.message).toContain('.storage/auth');
    expect(e.message).toContain('auth.corrupt.<timestamp>');
    expect(e.message).toContain('empty');
    expect(e.details).toMatchObject({ path: '.storage/auth', line: 1, column: 1 });
  });

  it('every truncation of a real-shaped file → BAD_STORE_JSON', () => {
    for (let n = 0; n < good.length; n++) {
      expect(codeOf(() => parseStore(good.subarray(0, n), 'auth', '.storage/auth'))).toBe('BAD_STORE_JSON');
    }
  });

  it('reports the line and column of the damage', () => {
    const bad = Buffer.from(good.toString('utf8').replace('"key": "auth",', '"key": "auth"'));
    try {
      parseStore(bad, 'auth', '.storage/auth');
      expect.unreachable();
    } catch (e) {
      expect((e as CorruptError).details).toMatchObject({ line: 5, column: 3 });
      expect((e as CorruptError).message).toContain("expected ',' or '}'");
    }
  });

  it.each([
    ['BOM', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), good])],
    ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])],
    ['trailing comma', Buffer.from('{"version": 1, "key": "auth", "data": {},}')],
    ['comment', Buffer.from('{"version": 1, // x\n "key": "auth", "data": {}}')],
    ['NaN', Buffer.from('{"version": NaN, "key": "auth", "data": {}}')],
    ['single quotes', Buffer.from("{'version': 1}")],
    ['raw newline in a string', Buffer.from('{"version": 1, "key": "au\nth", "data": {}}')],
    ['lone surrogate escape', Buffer.from('{"version": 1, "key": "auth", "data": "\\ud83d"}')],
    ['leading zero', Buffer.from('{"version": 01, "key": "auth", "data": {}}')],
    ['huge number', Buffer.from('{"version": 1e999, "key": "auth", "data": {}}')],
    ['two documents', Buffer.concat([good, good])],
    ['deep nesting', Buffer.from('{"version": 1, "key": "auth", "data": ' + '['.repeat(5000) + ']'.repeat(5000) + '}')],
    ['empty file', Buffer.alloc(0)],
    ['NUL bytes', Buffer.alloc(64)],
  ])('%s → BAD_STORE_JSON', (_name, bytes) => {
    expect(codeOf(() => parseStore(bytes, 'auth', '.storage/auth'))).toBe('BAD_STORE_JSON');
  });

  it('wrong key → BAD_STORE_KEY', () => {
    expect(codeOf(() => parseStore(good, 'auth_provider.homeassistant', '.storage/auth_provider.homeassistant'))).toBe('BAD_STORE_KEY');
    expect(codeOf(() => parseStore(Buffer.from('{"version": 1, "data": {}}'), 'auth', 'x'))).toBe('BAD_STORE_KEY');
  });

  it.each([
    ['no data', '{"version": 1, "minor_version": 1, "key": "auth"}'],
    ['{}', '{}'],
    ['a list', '[]'],
    ['a string', '"auth"'],
    ['no version', '{"key": "auth", "data": {}}'],
    ['float version', '{"version": 1.5, "key": "auth", "data": {}}'],
    ['string minor_version', '{"version": 1, "minor_version": "1", "key": "auth", "data": {}}'],
  ])('%s → BAD_STORE', (_name, text) => {
    expect(codeOf(() => parseStore(Buffer.from(text), 'auth', '.storage/auth'))).toBe('BAD_STORE');
  });

  it('keeps the last of duplicate keys at the first position, like a Python dict', () => {
    const value = parseStoreJson(Buffer.from('{"a": 1, "b": 2, "a": 3}'), 'x');
    expect(Object.entries(value as object)).toEqual([['a', 3], ['b', 2]]);
  });

  it('keeps "__proto__" as a plain key', () => {
    const value = parseStoreJson(Buffer.from('{"__proto__": {"polluted": true}}'), 'x') as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.keys(value)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

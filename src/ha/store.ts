// The `.storage/<key>` envelope (haos-format.md §4.1, §7 items 12 and 16):
// {"version": int, "minor_version": int, "key": "<key>", "data": <payload>}, written by orjson with a
// 2-space indent and no trailing newline. parseStore validates the envelope; serializeStore writes a parsed
// (and possibly edited) document back byte for byte as Home Assistant would (see store-json.ts).
//
// Why a bad file matters: on invalid JSON Home Assistant renames the file to `<key>.corrupt.<timestamp>`,
// raises a repair issue and loads the store as empty. For `auth` that is an empty user database.

import { CorruptError, InternalError, UnsupportedError } from '../errors.js';
import { formatJsonText, JsonSyntaxError, JsonValueError, parseJsonText } from './store-json.js';

/** The parsed envelope as Home Assistant stores it; key order and number text are remembered for writing. */
export interface StoreDocument extends Record<string, unknown> {
  version: number;
  minor_version?: number;
  key: string;
  data: unknown;
}

export interface StoreFile<T = unknown> {
  version: number;
  /** `minor_version`, 1 when absent (as Home Assistant reads it). */
  minorVersion: number;
  key: string;
  /** The same object as `doc.data`: edit it in place, then serializeStore(doc). */
  data: T;
  doc: StoreDocument;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Parses and validates one `.storage` file. `path` is only used in messages. */
export function parseStore(bytes: Buffer, expectedKey: string, path: string): StoreFile {
  const doc = parseStoreJson(bytes, path);
  const fail = (what: string, details: Record<string, unknown> = {}): never => {
    throw new CorruptError('BAD_STORE', `bad Home Assistant store ${path}: ${what}`, {
      details: { path, ...details },
      hint: 'restore the file from a backup; Home Assistant cannot use it as it is',
    });
  };
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return fail(`top level is ${kindOf(doc)}, not an object`);
  const obj = doc as Record<string, unknown>;
  if (Object.keys(obj).length === 0) return fail('the file is {}, which Home Assistant treats as no data at all', { empty: true });
  if (!Number.isSafeInteger(obj.version)) return fail(`"version" is ${describeValue(obj.version)}, not an integer`);
  if (obj.minor_version !== undefined && !Number.isSafeInteger(obj.minor_version)) {
    return fail(`"minor_version" is ${describeValue(obj.minor_version)}, not an integer`);
  }
  if (obj.key !== expectedKey) {
    throw new CorruptError(
      'BAD_STORE_KEY',
      `bad Home Assistant store ${path}: "key" is ${describeValue(obj.key)}, expected ${JSON.stringify(expectedKey)}`,
      { details: { path, key: obj.key, expectedKey }, hint: 'this is not the file it is named as; check where it came from' },
    );
  }
  if (!Object.hasOwn(obj, 'data')) return fail('no "data" member');
  const envelope = obj as StoreDocument;
  return {
    version: envelope.version,
    minorVersion: envelope.minor_version ?? 1,
    key: envelope.key,
    data: envelope.data,
    doc: envelope,
  };
}

/** Decodes and parses the JSON of a store file, with errors that say what Home Assistant would do. */
export function parseStoreJson(bytes: Buffer, path: string): unknown {
  const name = path.split('/').pop() || path;
  const corrupt = (reason: string, details: Record<string, unknown>): never => {
    throw new CorruptError(
      'BAD_STORE_JSON',
      `corrupt Home Assistant store ${path}: ${reason}; Home Assistant would rename it to ${name}.corrupt.<timestamp> and start as if it were empty`,
      {
        details: { path, sizeBytes: bytes.length, ...details },
        hint: 'repair or restore this file before Home Assistant starts, or its contents will be set aside',
      },
    );
  };
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return corrupt('not valid UTF-8', {});
  }
  try {
    return parseJsonText(text);
  } catch (err) {
    if (!(err instanceof JsonSyntaxError)) throw err;
    return corrupt(`invalid JSON, ${err.message}`, { line: err.line, column: err.column, charOffset: err.offset });
  }
}

/** The bytes Home Assistant would write for this document: 2-space indent, UTF-8, no trailing newline. */
export function serializeStore(doc: object): Buffer {
  try {
    return Buffer.from(formatJsonText(doc), 'utf8');
  } catch (err) {
    if (!(err instanceof JsonValueError)) throw err;
    throw new InternalError('STORE_SERIALIZE', `cannot write store document: ${err.message}`, { cause: err });
  }
}

/** Refuses to edit a store whose major version is newer than the format this tool knows. */
export function assertStoreVersion(file: StoreFile, knownMajor: number, path: string): void {
  if (file.version > knownMajor) {
    throw new UnsupportedError(
      'STORE_VERSION_UNSUPPORTED',
      `Home Assistant store ${path} has version ${file.version}; this tool knows version ${knownMajor} only`,
      { details: { path, version: file.version, knownMajor }, hint: 'use a newer haos-rescue, or edit it with Home Assistant itself' },
    );
  }
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return `a ${typeof v}`;
}

function describeValue(v: unknown): string {
  if (v === undefined) return 'missing';
  const s = JSON.stringify(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

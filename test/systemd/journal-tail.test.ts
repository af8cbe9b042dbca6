// The last entries of a journal file read from its end through the entry arrays (journal-tail.ts), against
// journalctl on files from systemd-journal-remote, compact and regular: the same lines for one program and for
// all, at any count; a file whose arrays are damaged answers null (the caller then walks it), never a wrong line;
// 300 damaged copies end with entries, null or the tool's own error.

import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { JournalFile, readJournalHeader } from '../../src/systemd/journal-file.js';
import { PieceCache, tailEntries } from '../../src/systemd/journal-tail.js';
import { tempDir } from '../helpers/images.js';
import { type ExportEntry, journalToolsMissing, journalctl, writeJournal } from '../helpers/journal.js';

const work = tempDir('journal-tail-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

const NAMES = ['homeassistant', 'hassio_supervisor', 'homeassistant', 'kernel'];
const ENTRIES: ExportEntry[] = Array.from({ length: 3000 }, (_, i) => ({
  __REALTIME_TIMESTAMP: String(1_764_800_000_000_000 + i * 10_000),
  __MONOTONIC_TIMESTAMP: String(i),
  _BOOT_ID: i < 1500 ? 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' : 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb',
  MESSAGE: `line ${i}`,
  SYSLOG_IDENTIFIER: NAMES[i % NAMES.length]!,
}));
const CORE = [Buffer.from('CONTAINER_NAME=homeassistant'), Buffer.from('SYSLOG_IDENTIFIER=homeassistant')];
const files: Record<string, { path: string; bytes: Buffer }> = {};

const pieces = (bytes: Buffer): PieceCache => new PieceCache(async (start, end) => bytes.subarray(start, end), bytes.length);
const messages = (r: Awaited<ReturnType<typeof tailEntries>>): string[] => r!.entries.map((e) => e.fields.get('MESSAGE')!.toString());

describe.skipIf(journalToolsMissing !== null)(`journal files read from the end${journalToolsMissing ? ` (skipped: ${journalToolsMissing})` : ''}`, () => {
  beforeAll(() => {
    for (const compact of [true, false]) {
      const path = join(work, `${compact}.journal`);
      writeJournal(path, ENTRIES, { compact });
      files[String(compact)] = { path, bytes: readFileSync(path) };
    }
  });

  it.each(['true', 'false'])('compact %s: the last 1, 7, 500 and all lines of one program, and of all, as journalctl gives them', async (compact) => {
    const { path, bytes } = files[compact]!;
    const header = readJournalHeader(bytes, bytes.length);
    const core = journalctl([path], 'homeassistant').map((e) => e.message);
    const all = journalctl([path]).map((e) => e.message);
    for (const limit of [1, 7, 500, 5000]) {
      const r = await tailEntries(pieces(bytes), header, CORE, limit);
      expect(messages(r)).toEqual(core.slice(-limit));
      expect(r!.reachedStart).toBe(limit >= core.length);
      expect(messages(await tailEntries(pieces(bytes), header, null, limit))).toEqual(all.slice(-limit));
    }
    const first = (await tailEntries(pieces(bytes), header, CORE, 1))!.entries[0]!;
    expect(first.bootId).toBe('b'.repeat(32));
    expect(first.realtimeUs).toBe(1_764_800_000_000_000 + 2998 * 10_000);
    expect(messages(await tailEntries(pieces(bytes), header, [Buffer.from('SYSLOG_IDENTIFIER=nobody')], 10))).toEqual([]);
  });

  it('damaged entry arrays: null, never another line', async () => {
    const bytes = Buffer.from(files['true']!.bytes);
    const header = readJournalHeader(bytes, bytes.length);
    bytes[header.entryArrayOffset] = 0; // the first array is no longer one
    expect(await tailEntries(pieces(bytes), header, CORE, 10)).toBeNull();
    const cut = files['true']!.bytes.subarray(0, header.tailObjectOffset - 4096);
    expect(await tailEntries(pieces(cut), readJournalHeader(cut, cut.length), CORE, 10)).toBeNull();
  });

  it('300 copies with bytes changed: entries, null or an AppError; what it gives is lines of the file', async () => {
    const pristine = files['true']!.bytes;
    const known = new Set(ENTRIES.map((e) => e['MESSAGE'] as string));
    const tail = Number(pristine.readBigUInt64LE(136));
    let seed = 7;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let n = 0; n < 300; n++) {
      const bytes = Buffer.from(pristine);
      for (let k = 0; k < 1 + Math.floor(rnd() * 6); k++) bytes[Math.floor(rnd() * (tail + 64))] = Math.floor(rnd() * 256);
      try {
        const r = await tailEntries(pieces(bytes), readJournalHeader(bytes, bytes.length), CORE, 50);
        for (const e of r?.entries ?? []) {
          const m = e.fields.get('MESSAGE')?.toString();
          // A byte changed inside a line's text changes the text, not its length ("line 0" to "line 2999").
          if (m !== undefined) expect(known.has(m) || (m.length >= 6 && m.length <= 9), `copy ${n}: ${m}`).toBe(true);
        }
      } catch (err) {
        expect(err, `copy ${n}`).toBeInstanceOf(AppError);
      }
    }
  });

  // Crafted files (a fuzz campaign's finds): one entry that names one field 200,000 times, and entries whose
  // small zstd fields each unpack to 1 MiB. Before, the first took 78 s (the field read again for every
  // mention) and the second grew with every entry; now a field is read once per entry, at most 4096 fields
  // of an entry are read, and a reading of a file unpacks at most 64 MiB (past it a field is named
  // unreadable, as one that does not unpack).
  it('an entry naming one 1 MiB field 200,000 times: read once, the tail and the walk answer the same line', async () => {
    const bytes = craftedJournal(files['false']!.bytes, [[{ payload: Buffer.concat([Buffer.from('MESSAGE='), Buffer.alloc(1 << 20, 0x61)]), times: 200_000 }]]);
    const header = readJournalHeader(bytes, bytes.length);
    const r = await tailEntries(pieces(bytes), header, CORE, 10);
    expect(r!.entries).toHaveLength(1);
    expect(r!.entries[0]!.fields.get('MESSAGE')!.length).toBe(1 << 20);
    const file = new JournalFile(bytes, header);
    const walked = [...file.entries()].map((ref) => file.entry(ref));
    expect(walked).toHaveLength(1);
    expect(walked[0]!.fields.get('MESSAGE')!.length).toBe(1 << 20);
  });

  it.skipIf(spawnSync('zstd', ['--version']).status !== 0)('200 entries of a zstd field that unpacks to 1 MiB each: the first 64 MiB unpack, the rest are named unreadable', async () => {
    // 1 MiB unpacked in all: the largest field that unpacks (a bigger one is named unreadable by itself). From a
    // file, so that zstd records the size and sizes its window to it, as journald's one-shot compression does.
    const plain = join(work, 'message.bin');
    writeFileSync(plain, Buffer.concat([Buffer.from('MESSAGE='), Buffer.alloc((1 << 20) - 8, 0x61)]));
    const frame = execFileSync('zstd', ['-19', '-c', plain]);
    expect(frame.length).toBeLessThan(1024);
    const bytes = craftedJournal(files['false']!.bytes, Array.from({ length: 200 }, () => [{ payload: frame, times: 1, zstd: true }]), true);
    const header = readJournalHeader(bytes, bytes.length);
    const r = await tailEntries(pieces(bytes), header, CORE, 500);
    const read = r!.entries.filter((e) => e.fields.has('MESSAGE')).length;
    const unreadable = r!.entries.filter((e) => e.unreadable.includes('zstd')).length;
    expect(r!.entries).toHaveLength(200);
    expect(read).toBe(64);
    expect(unreadable).toBe(136);
    const file = new JournalFile(bytes, header);
    const walked = [...file.entries()].map((ref) => file.entry(ref));
    expect(walked.filter((e) => e.fields.has('MESSAGE')).length).toBe(64);
  });
});

interface CraftedField {
  payload: Buffer;
  /** How many times the entry names it. */
  times: number;
  zstd?: boolean;
}

/**
 * A regular (not compact) journal file with the header of `real` and, after a CONTAINER_NAME=homeassistant
 * field, one entry per element of `entries` naming each of its fields `times` times; each field is its own
 * data object. Layouts as journal-file.ts reads them (data payload at 64, entry items of 16 bytes).
 */
function craftedJournal(real: Buffer, entries: CraftedField[][], zstd = false): Buffer {
  const headerSize = Number(real.readBigUInt64LE(88));
  const objects: Buffer[] = [];
  let end = headerSize;
  const add = (type: number, flags: number, body: Buffer): number => {
    const at = end;
    const head = Buffer.alloc(16);
    head[0] = type;
    head[1] = flags;
    head.writeBigUInt64LE(BigInt(16 + body.length), 8);
    const whole = Buffer.concat([head, body, Buffer.alloc((8 - ((16 + body.length) % 8)) % 8)]);
    objects.push(whole);
    end += whole.length;
    return at;
  };
  const data = (payload: Buffer, flags = 0): number => add(1, flags, Buffer.concat([Buffer.alloc(48), payload]));
  const name = data(Buffer.from('CONTAINER_NAME=homeassistant'));
  const t = 1_748_779_200_000_000;
  const entryAt: number[] = [];
  entries.forEach((fields, i) => {
    const items: Buffer[] = [u64le(name), u64le(0)];
    for (const f of fields) {
      const at = data(f.payload, f.zstd ? 4 : 0);
      for (let k = 0; k < f.times; k++) items.push(u64le(at), u64le(0));
    }
    const boot = Buffer.from('0123456789abcdef0123456789abcdef', 'hex');
    entryAt.push(add(3, 0, Buffer.concat([u64le(i + 1), u64le(t + i), u64le(1000 + i), boot, u64le(0), ...items])));
  });
  const array = add(6, 0, Buffer.concat([u64le(0), ...entryAt.map(u64le)]));
  const header = Buffer.from(real.subarray(0, headerSize));
  header.writeUInt32LE(zstd ? 8 : 0, 12);
  header[16] = 0; // offline
  for (const [at, value] of [[96, end - headerSize], [104, 0], [112, 0], [120, 0], [128, 0], [136, array], [144, objects.length], [152, entries.length], [176, array], [184, t], [192, t + entries.length - 1]] as const) header.writeBigUInt64LE(BigInt(value), at);
  return Buffer.concat([header, ...objects]);
}

function u64le(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

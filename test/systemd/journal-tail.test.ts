// The last entries of a journal file read from its end through the entry arrays (journal-tail.ts), against
// journalctl on files from systemd-journal-remote, compact and regular: the same lines for one program and for
// all, at any count; a file whose arrays are damaged answers null (the caller then walks it), never a wrong line;
// 300 damaged copies end with entries, null or the tool's own error.

import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { readJournalHeader } from '../../src/systemd/journal-file.js';
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
});

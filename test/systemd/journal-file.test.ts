// The journal file reader on real files from systemd-journal-remote, in both layouts (compact, the default
// since systemd 252, and the older one with 64-bit offsets), against journalctl; and on damaged copies (bytes
// changed at random, the file cut short): it ends, never throws anything but the tool's own errors, and
// gives no entry that is not in the file.

import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { type JournalEntry, JournalFile, readJournalHeader } from '../../src/systemd/journal-file.js';
import { tempDir } from '../helpers/images.js';
import { type ExportEntry, journalToolsMissing, journalctl, writeJournal } from '../helpers/journal.js';

const work = tempDir('journal-file-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

const ENTRIES: ExportEntry[] = Array.from({ length: 120 }, (_, i) => ({
  __REALTIME_TIMESTAMP: String(1_764_800_000_000_000 + i * 250_000),
  __MONOTONIC_TIMESTAMP: String(5_000 + i),
  _BOOT_ID: i < 60 ? 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' : 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb',
  MESSAGE: i % 10 === 0 ? `multi-line ${i}\n  second line` : `message ${i}`,
  SYSLOG_IDENTIFIER: i % 2 ? 'homeassistant' : 'hassio_supervisor',
  _TRANSPORT: 'journal',
}));

function read(bytes: Buffer): { entries: JournalEntry[]; stoppedAt: number | null } {
  const report = { stoppedAt: null as number | null, entries: 0 };
  const file = new JournalFile(bytes, readJournalHeader(bytes, bytes.length));
  const entries = [...file.entries(report)].map((ref) => file.entry(ref));
  return { entries, stoppedAt: report.stoppedAt };
}

/** A small deterministic generator (mulberry32), so a failure names its seed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe.skipIf(journalToolsMissing !== null)(`journal files${journalToolsMissing ? ` (skipped: ${journalToolsMissing})` : ''}`, () => {
  it.each([true, false])('compact %s: every entry, its time, boot and fields, as journalctl reads them', (compact) => {
    const path = join(work, `${compact ? 'compact' : 'regular'}.journal`);
    writeJournal(path, ENTRIES, { compact });
    const bytes = readFileSync(path);
    const header = readJournalHeader(bytes, bytes.length);
    expect(header.compact).toBe(compact);
    const { entries, stoppedAt } = read(bytes);
    expect(stoppedAt).toBeNull();
    const oracle = journalctl([path]);
    expect(entries.length).toBe(oracle.length);
    const file = new JournalFile(bytes, header);
    const homeassistant = [...file.entries(undefined, [Buffer.from('SYSLOG_IDENTIFIER=homeassistant')])].map((ref) => file.entry(ref).fields.get('MESSAGE')?.toString());
    expect(homeassistant).toEqual(journalctl([path], 'homeassistant').map((e) => e.message));
    expect(entries.map((e) => ({ realtimeUs: e.realtimeUs, bootId: e.bootId, identifier: e.fields.get('SYSLOG_IDENTIFIER')?.toString(), message: e.fields.get('MESSAGE')?.toString() }))).toEqual(oracle);
  });

  it('damaged copies: 400 with bytes changed, 100 cut short; each read ends with entries or an AppError', () => {
    const file = join(work, 'fuzz.journal');
    writeJournal(file, ENTRIES);
    const pristine = readFileSync(file);
    const tail = Number(pristine.readBigUInt64LE(136));
    const known = new Set(ENTRIES.map((e) => `${e['__REALTIME_TIMESTAMP']}`));
    for (let seed = 1; seed <= 500; seed++) {
      const rnd = random(seed);
      let bytes = Buffer.from(pristine);
      if (seed <= 400) {
        for (let k = 0; k < 1 + Math.floor(rnd() * 8); k++) bytes[Math.floor(rnd() * (k === 0 ? 272 : tail + 64))] = Math.floor(rnd() * 256);
      } else {
        bytes = bytes.subarray(0, Math.floor(rnd() * (tail + 64)));
      }
      try {
        const { entries } = read(bytes);
        const file = new JournalFile(bytes, readJournalHeader(bytes, bytes.length));
        const matched = [...file.entries(undefined, [Buffer.from('SYSLOG_IDENTIFIER=homeassistant')])].map((ref) => file.entry(ref));
        expect(matched.length, `seed ${seed}`).toBeLessThanOrEqual(entries.length);
        expect(entries.length, `seed ${seed}`).toBeLessThanOrEqual(ENTRIES.length + 10);
        if (seed > 400) for (const e of entries) expect(known.has(String(e.realtimeUs)), `seed ${seed}: an entry not in the file`).toBe(true);
      } catch (err) {
        expect(err, `seed ${seed}`).toBeInstanceOf(AppError);
      }
    }
  });
});

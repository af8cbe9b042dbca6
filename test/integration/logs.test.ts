// `logs`: Home Assistant's log lines read from the journal files on the card. The files are real: written by
// systemd-journal-remote (compact format, large fields compressed with zstd, as journald writes them) into
// /logs/<machine-id>/ of the sample card with debugfs; the oracle is journalctl reading the same files.
// Also: a file journald was still writing, a file torn by a power cut (the lines before the tear), a file that
// is not a journal, a Supervised host's /var/log/journal, an empty and a missing log folder.

import { closeSync, copyFileSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAMPLE } from '../../fixtures/index.js';
import { inodeLocation } from '../ext4/fixtures-debugfs.js';
import { cli, cliJson } from '../helpers/cli.js';
import { mkfs, tempDir } from '../helpers/images.js';
import { type ExportEntry, MACHINE, type OracleEntry, cardWithLogs, journalToolsMissing, journalctl, writeJournal } from '../helpers/journal.js';

const work = tempDir('logs-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

const BOOT_OLD = '0123456789abcdef0123456789abcdef';
const BOOT_NEW = 'fedcba9876543210fedcba9876543210';
const LONG = `2025-12-04 10:00:00.000 ERROR (MainThread) [custom_components.foo] ${'a very long line '.repeat(200)}`;
const names = ['homeassistant', 'homeassistant', 'homeassistant', 'hassio_supervisor', 'addon_core_mosquitto', 'kernel'];

/** `count` entries of one boot, a second apart from `startUs`, with a few special messages among them. */
function entries(boot: string, startUs: number, count: number, tag: string): ExportEntry[] {
  return Array.from({ length: count }, (_, i) => {
    const name = names[i % names.length]!;
    let message = `2025-12-04 10:${String(i % 60).padStart(2, '0')}:00.000 ${i % 7 === 0 ? 'ERROR' : 'INFO'} (MainThread) [homeassistant.${tag}] line ${i} of ${tag}`;
    if (i === 30) message = LONG;
    if (i === 31) message = 'Température 21 °C ✓ (UTF-8)';
    if (i === 32) message = '\x1b[31m2025-12-04 ERROR coloured\x1b[0m';
    const entry: ExportEntry = {
      __REALTIME_TIMESTAMP: String(startUs + i * 1_000_000),
      __MONOTONIC_TIMESTAMP: String(1_000 + i),
      _BOOT_ID: boot,
      MESSAGE: message,
      SYSLOG_IDENTIFIER: name,
      PRIORITY: i % 7 === 0 ? '3' : '6',
      _TRANSPORT: 'journal',
    };
    if (name !== 'kernel') entry['CONTAINER_NAME'] = name;
    return entry;
  });
}

const oldFile = join(work, `system@00000000000000000000000000000001-0000000000000001-0005f0000000000.journal`);
const newFile = join(work, 'system.journal');
let card: string;

const cardWith = (name: string, files: Array<[string, string]>, extra = ''): string => cardWithLogs(work, name, files, extra);

interface Line {
  time: string;
  bootId: string;
  identifier: string;
  priority: number | null;
  message: string;
}

/** What `logs --json` must show for an oracle entry: its text without colour codes. */
function expected(e: OracleEntry): Partial<Line> {
  // eslint-disable-next-line no-control-regex
  const message = e.message?.replace(/\x1b\[[0-9;]*m/g, '');
  return { time: new Date(e.realtimeUs / 1000).toISOString(), bootId: e.bootId, message };
}

describe.skipIf(journalToolsMissing !== null)(`logs: the journal on the card${journalToolsMissing ? ` (skipped: ${journalToolsMissing})` : ''}`, () => {
  beforeAll(() => {
    writeJournal(oldFile, entries(BOOT_OLD, 1_764_800_000_000_000, 300, 'old'));
    writeJournal(newFile, entries(BOOT_NEW, 1_764_900_000_000_000, 200, 'new'));
    card = cardWith('card.img', [[oldFile, 'system@old.journal'], [newFile, 'system.journal']]);
  });

  it('every line of Home Assistant Core, from both files, as journalctl reads them', () => {
    const oracle = journalctl([oldFile, newFile], 'homeassistant');
    expect(oracle.length).toBe(251);
    const r = cliJson<{ lines: Line[]; matched: number; files: Array<{ path: string; state: string; entries: number; problem: string | null }> }>(['logs', card, '-n', '0']);
    expect(r.matched).toBe(oracle.length);
    expect(r.lines.map((l) => ({ time: l.time, bootId: l.bootId, message: l.message }))).toEqual(oracle.map(expected));
    expect(new Set(r.lines.map((l) => l.identifier))).toEqual(new Set(['homeassistant']));
    expect(r.files).toEqual([
      { path: `/logs/${MACHINE}/system.journal`, sizeBytes: expect.any(Number), state: 'offline', entries: 200, problem: null, read: true },
      { path: `/logs/${MACHINE}/system@old.journal`, sizeBytes: expect.any(Number), state: 'offline', entries: 300, problem: null, read: true },
    ].sort((a, b) => a.path.localeCompare(b.path)));
    expect(r.lines.find((l) => l.message.startsWith('Température'))?.message).toBe('Température 21 °C ✓ (UTF-8)');
    // The long ERROR line (a custom integration's, as a traceback would be) is stored zstd-compressed: unpacked
    // by fzstd on every Node (zlib has zstd only from 22.15).
    expect(readFileSync(newFile).readUInt32LE(12) & 8, 'HEADER_INCOMPATIBLE_COMPRESSED_ZSTD').toBe(8);
    expect(r.lines.filter((l) => l.message === LONG)).toHaveLength(2);
  });

  it('the last N lines (the default 100), the older file not read when the newer holds enough; the text has the boots', () => {
    const oracle = journalctl([oldFile, newFile], 'homeassistant');
    const r = cliJson<{ lines: Line[]; skippedOlder: number }>(['logs', card]);
    expect(r.lines.map((l) => l.time)).toEqual(oracle.slice(-100).map((e) => new Date(e.realtimeUs / 1000).toISOString()));
    expect(r.skippedOlder).toBe(1);
    const text = cli(['logs', card, '-n', '140']);
    expect(text.code, text.stderr).toBe(0);
    const shown = text.text.trimEnd().split('\n');
    expect(shown[0]).toBe(`-- boot ${BOOT_OLD.slice(0, 12)} --`);
    expect(shown).toContain(`-- the box started again: boot ${BOOT_NEW.slice(0, 12)} --`);
    expect(shown.length).toBe(142);
    expect(shown.at(-1)).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d {2}2025-12-04 10:\d\d:00\.000 (INFO|ERROR) \(MainThread\) \[homeassistant\.new\] line 199 of new$/);
    // Colours are shown as colours are meant: not at all (no escape codes, not even made visible).
    expect(text.text).toContain('  2025-12-04 ERROR coloured\n');
    expect(text.stderr).toMatch(/The last 140 line\(s\) from Home Assistant Core, from 2 log file\(s\) in \/logs; --lines 700 shows more, --lines 0 all\./);
  });

  it('a file journald was still writing (online: read whole and walked) gives the same last lines as a closed one (read from its end)', () => {
    const online = join(work, 'online.journal');
    const bytes = readFileSync(newFile);
    bytes[16] = 1; // state: online
    writeFileSync(online, bytes);
    const image = cardWith('online.img', [[oldFile, 'system@old.journal'], [online, 'system.journal']]);
    const closed = cliJson<{ lines: Line[]; files: Array<{ state: string }> }>(['logs', card, '-n', '30']);
    const open = cliJson<{ lines: Line[]; files: Array<{ state: string }> }>(['logs', image, '-n', '30']);
    expect(open.files.map((f) => f.state)).toContain('online');
    expect(open.lines).toEqual(closed.lines);
    expect(closed.lines.map((l) => l.message)).toEqual(journalctl([oldFile, newFile], 'homeassistant').slice(-30).map((e) => expected(e).message));
  });

  it('--of all, --of supervisor, --of an app: the lines journalctl gives for each', () => {
    const all = cliJson<{ lines: Line[] }>(['logs', card, '--of', 'all', '-n', '0']);
    expect(all.lines.length).toBe(journalctl([oldFile, newFile]).length);
    for (const [of, name] of [['supervisor', 'hassio_supervisor'], ['addon_core_mosquitto', 'addon_core_mosquitto'], ['kernel', 'kernel']]) {
      const r = cliJson<{ lines: Line[] }>(['logs', card, '--of', of!, '-n', '0']);
      expect(r.lines.map((l) => l.message)).toEqual(journalctl([oldFile, newFile], name).map((e) => e.message));
    }
    const none = cli(['logs', card, '--of', 'addon_core_zwave_js']);
    expect(none.code).toBe(0);
    expect(none.stderr).toMatch(/No lines from addon_core_zwave_js in 2 log file\(s\) in \/logs: --of all shows every program's lines\. The programs in it, by lines: homeassistant \(251\), addon_core_mosquitto \(83\), hassio_supervisor \(83\), kernel \(83\); name one with --of NAME\./);
    expect(cli(['logs', card, '--of', 'a b']).stderr).toMatch(/error: "a b" is not a program's name in the log\nhint: use --of core/);
    expect(cli(['logs', card, '-n', '-3']).code).toBe(64);
  });

  it('a file torn by a power cut: the lines before the tear, with a warning; a file that is not a journal is named and passed over', () => {
    const bytes = readFileSync(newFile);
    // Cut 60 % of the way through the objects after the hash tables (header fields at 104..136).
    const at = (o: number): number => Number(bytes.readBigUInt64LE(o));
    const objects = Math.max(at(104) + at(112), at(120) + at(128));
    const torn = join(work, 'torn.journal');
    writeFileSync(torn, bytes.subarray(0, objects + Math.floor((at(136) - objects) * 0.6)));
    const garbage = join(work, 'garbage.journal');
    writeFileSync(garbage, Buffer.alloc(5000, 0x41));
    const image = cardWith('torn.img', [[oldFile, 'system@old.journal'], [torn, 'system.journal'], [garbage, 'user-1000.journal']]);
    const r = cli(['logs', image, '-n', '0']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`warning: /logs/${MACHINE}/system.journal: damaged from byte \\d+ on \\(a power cut while it was written\\?\\): the entries before were read`));
    expect(r.stderr).toMatch(new RegExp(`warning: /logs/${MACHINE}/user-1000.journal: not a systemd journal file`));
    const json = cliJson<{ lines: Line[] }>(['logs', image, '-n', '0']);
    const oracle = journalctl([oldFile, newFile], 'homeassistant');
    const newLines = json.lines.filter((l) => l.bootId === BOOT_NEW);
    expect(newLines.length).toBeGreaterThan(20);
    expect(newLines.length).toBeLessThan(oracle.filter((e) => e.bootId === BOOT_NEW).length);
    // Exactly a prefix of the file's lines: nothing invented at the tear.
    expect(json.lines.map((l) => l.message)).toEqual(oracle.slice(0, json.lines.length).map((e) => expected(e).message));
  });

  it('a machine folder that cannot be read (its inode damaged) is named; the lines of the other folder are shown', () => {
    const other = 'abcdefabcdefabcdefabcdefabcdef00';
    const image = cardWith('damaged-folder.img', [[newFile, 'system.journal']], `mkdir /logs/${other}\nwrite ${oldFile} /logs/${other}/system@old.journal`);
    // A changed byte in the folder's inode (i_size), its checksum left stale, as a flipped bit on a card leaves it.
    const at = SAMPLE.dataOffsetBytes + inodeLocation(`${image}?offset=${SAMPLE.dataOffsetBytes}`, `/logs/${other}`, 4096).byteOffset + 4;
    const fd = openSync(image, 'r+');
    writeSync(fd, Buffer.from([0x5a]), 0, 1, at);
    closeSync(fd);
    const r = cli(['logs', image, '-n', '5']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`^warning: /logs/${other}: this folder cannot be read, so the log files in it are missing: .*checksum`, 'm'));
    const json = cliJson<{ lines: Line[] }>(['logs', image, '-n', '5']);
    expect(json.lines.map((l) => l.message)).toEqual(journalctl([newFile], 'homeassistant').slice(-5).map((e) => expected(e).message));
  });

  it('a Supervised install: the host journal, /var/log/journal on its root filesystem', () => {
    const stage = join(work, 'supervised');
    mkdirSync(join(stage, 'etc'), { recursive: true });
    writeFileSync(join(stage, 'etc/hassio.json'), JSON.stringify({ data: '/var/lib/homeassistant' }));
    mkdirSync(join(stage, 'var/lib/homeassistant/homeassistant'), { recursive: true });
    writeFileSync(join(stage, 'var/lib/homeassistant/homeassistant/.HA_VERSION'), '2025.5.3');
    mkdirSync(join(stage, `var/log/journal/${MACHINE}`), { recursive: true });
    copyFileSync(newFile, join(stage, `var/log/journal/${MACHINE}/system.journal`));
    const image = join(work, 'supervised.img');
    mkfs(image, stage, { sizeMiB: 48, label: 'rootfs' });
    const r = cliJson<{ folder: string; lines: Line[] }>(['logs', image, '-n', '20']);
    expect(r.folder).toBe('/var/log/journal');
    expect(r.lines.map((l) => l.message)).toEqual(journalctl([newFile], 'homeassistant').slice(-20).map((e) => expected(e).message));
  });

  it('an empty log folder says so; no log folder at all: NO_LOGS (exit 66) with a hint', () => {
    const empty = cardWith('empty.img', []);
    const r = cli(['logs', empty]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/No log files in \/logs: the box kept its logs in memory only, or they were deleted\./);
    const none = cardWith('none.img', [], `rmdir /logs/${MACHINE}\nrmdir /logs`);
    const gone = cli(['logs', none]);
    expect(gone.code).toBe(66);
    expect(gone.stderr).toMatch(/^error: no saved logs on this card \(\/logs is missing\)\nhint: /m);
  });

  // A card with no journal but Home Assistant's own log file: the answer was "no saved logs", with the file
  // that says why Home Assistant stopped right there.
  it('no log folder, but home-assistant.log in the configuration folder: named, with how to read it', () => {
    const log = join(work, 'home-assistant.log');
    writeFileSync(log, '2026-12-01 10:00:00.000 ERROR (MainThread) [homeassistant.setup] Setup failed for custom integration x\n');
    const card = cardWith('ha-log.img', [], `rmdir /logs/${MACHINE}\nrmdir /logs\nwrite ${log} /supervisor/homeassistant/home-assistant.log`);
    const r = cli(['logs', card]);
    expect(r.code, r.stderr).toBe(66);
    expect(r.stderr).toMatch(/^hint: Home Assistant's own log file is in its configuration folder \(\d+ bytes\): its last lines say why it stopped \(haos-rescue cat \S+ha-log\.img \/supervisor\/homeassistant\/home-assistant\.log\)$/m);
  });
});

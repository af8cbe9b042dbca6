// Options every command that reads a SOURCE shares (design.md §3), and how they map to SourceOptions.

import { existsSync } from 'node:fs';
import type { Argv } from 'yargs';
import type { OpenedSource, SourceOptions } from '../../actions/source.js';
import { UsageError } from '../../errors.js';
import { noteSource } from '../remedies.js';

export interface GlobalArgs {
  partition?: number;
  /** Bytes, or the text given when it is not an offset (refused by sourceOptions). */
  offset?: number | string;
  replay?: boolean;
  map?: string;
  json?: boolean;
  verbose?: boolean;
}

/** A word typed where a disk or an image fits: a path of this computer, a drive, a disk image's name, or what exists here. */
export function looksLikeSource(word: string): boolean {
  return /[\\]/.test(word) || /^[a-z]:$/i.test(word) || /^\.{0,2}\//.test(word) || /\.(img|raw|bin|iso|qcow2|vdi|vhdx?|vmdk|ova|tar|gz|xz|zip)$/i.test(word) || existsSync(word);
}

export function withSourceArg<T>(y: Argv<T>): Argv<T & { source?: string }> {
  return y.positional('source', {
    type: 'string',
    describe: 'image file, disk (/dev/sdb, /dev/rdisk4, \\\\.\\PhysicalDrive2) or partition; left out: the one disk with Home Assistant data',
  }) as Argv<T & { source?: string }>;
}

/**
 * SOURCE as given, or else the only disk with Home Assistant data (said on stderr); with several, the
 * user picks on a terminal and anything else is exit 64 naming them.
 */
export async function resolveSource(argv: { source?: string | undefined; json?: boolean | undefined }): Promise<string> {
  // Noted for the commands a hint names (remedies.ts).
  const source = await chooseSource(argv);
  noteSource(source);
  return source;
}

async function chooseSource(argv: { source?: string | undefined; json?: boolean | undefined }): Promise<string> {
  if (argv.source !== undefined && argv.source !== '') return argv.source;
  const { chooseAutomatically, describeDisk, severalDisksError, surveyDisks } = await import('../../actions/disks.js');
  const choice = chooseAutomatically(await surveyDisks());
  if (choice.kind === 'one') {
    const ha = choice.disk.homeAssistant!;
    process.stderr.write(`Using ${describeDisk(choice.disk)}: the only disk with Home Assistant data (${ha.version ?? 'version unknown'}).\n`);
    return choice.disk.path;
  }
  const { isInteractive } = await import('../prompt.js');
  if (argv.json || !isInteractive()) throw severalDisksError(choice.disks);
  const { select } = await import('@inquirer/prompts');
  return select({
    message: 'Several disks hold Home Assistant data. Which one?',
    choices: choice.disks.map((d) => ({ name: `${describeDisk(d)}: Home Assistant ${d.homeAssistant!.version ?? '?'}`, value: d.path })),
  }, { output: process.stderr });
}

/** Opens the SOURCE the arguments name (or the one found automatically) with the global options. */
export async function withArgsSource<T>(argv: GlobalArgs & { source?: string | undefined }, fn: (s: OpenedSource) => Promise<T>): Promise<T> {
  const { withSource } = await import('../../actions/source.js');
  return withSource(await resolveSource(argv), sourceOptions(argv), fn);
}

const OFFSET_UNITS: Record<string, number> = { '': 1, b: 1, s: 512, k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3 };

/**
 * --offset as bytes, or as `info` shows offsets: 11534336, 11M, 11MiB, "11 MiB", 22528s (512-byte sectors,
 * as fdisk counts). Units are binary: M is MiB.
 */
export function parseOffset(value: unknown): number | string | unknown[] {
  // Given twice: left for the check of repeated options (main.ts) to say so.
  if (Array.isArray(value)) return value;
  const m = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(String(value));
  const unit = m ? OFFSET_UNITS[m[2]!.toLowerCase()] : undefined;
  const bytes = m && unit !== undefined ? Number(m[1]) * unit : NaN;
  // Left as given when it is no offset: sourceOptions says so (an error thrown here would reach the user as yargs' own).
  return Number.isSafeInteger(bytes) ? bytes : String(value);
}

/** The options that take several values; any other given twice is refused (`-u a -u b`: which one?). */
const MANY_VALUES = new Set(['_', '--', 'slug', 'inner', 'paths']);

/**
 * Refuses an option given twice with different values (yargs made an array of them, which reached the
 * commands as a value of the wrong type: "internal error: s.charCodeAt is not a function"); the same value
 * twice is taken once.
 */
export function refuseRepeated(argv: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(argv)) {
    if (MANY_VALUES.has(key) || !Array.isArray(value)) continue;
    if (value.every((v) => v === value[0])) {
      // --offset's coercion was left for here (parseOffset).
      argv[key] = key === 'offset' ? parseOffset(value[0]) : value[0];
      continue;
    }
    // yargs keeps -u, --username and --dry-run's dryRun side by side: the long, dashed name is the one typed.
    const same = JSON.stringify(value);
    const names = Object.keys(argv).filter((k) => JSON.stringify(argv[k]) === same && k.length > 1 && k === k.toLowerCase());
    const name = names[0] ?? key;
    throw new UsageError('REPEATED_OPTION', `--${name} was given more than once (${value.map((v) => String(v)).join(', ')})`, { hint: `give --${name} once, with the value you mean` });
  }
}

/**
 * A switch given a value other than true or false (`--dry-run=1`, `--off=yes`): yargs takes it as false,
 * so a rehearsal asked for so was a real write, and `--off=1` switched safe mode on. Refused before anything.
 */
export function refuseSwitchValues(args: readonly string[], switches: () => readonly string[]): void {
  for (const arg of args) {
    if (arg === '--') return;
    const m = /^--(?:no-)?([^=]+)=([\s\S]*)$/.exec(arg);
    // The switches are asked for only then: yargs' list of them costs start-up time (its help's text widths).
    if (m === null || m[2] === 'true' || m[2] === 'false' || !switches().includes(m[1]!)) continue;
    throw new UsageError('BAD_SWITCH_VALUE', `--${m[1]} is switched on by its name alone: it takes no value (it was given "${m[2]}")`, {
      hint: `write --${m[1]} alone (or --no-${m[1]} to switch it off); nothing was done`,
    });
  }
}

/**
 * An option that takes a value given none (`--partition` last, `--what` before another option): yargs left a
 * number or a choice unset, and the command went on without it (`info --partition` read the disk it chose).
 */
export function refuseMissingValues(args: readonly string[], valued: () => ReadonlySet<string>): void {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return;
    const m = /^--([^=]+)$/.exec(arg) ?? /^-([A-Za-z])$/.exec(arg);
    const next = args[i + 1];
    if (m === null || (next !== undefined && !next.startsWith('-'))) continue;
    // The list is asked for only then: yargs' list of options costs start-up time.
    if (!valued().has(m[1]!)) continue;
    const name = m[1]!.length === 1 ? arg : `--${m[1]}`;
    throw new UsageError('EMPTY_OPTION', `${name} was given without a value`, { hint: `write the value after it: ${name} VALUE` });
  }
}

/** Options that name something; given without a value (`--out` last, `--slug` before another option) yargs made them ''. */
const NAMING_OPTIONS = ['inner', 'name', 'of', 'open', 'originals', 'out', 'slug', 'username', 'what'];

export function refuseEmpty(argv: Record<string, unknown>): void {
  for (const key of NAMING_OPTIONS) {
    const value = argv[key];
    if (value === '' || (Array.isArray(value) && (value.length === 0 || value.includes('')))) throw new UsageError('EMPTY_OPTION', `--${key} was given without a value`, { hint: `write the value after it: --${key} VALUE` });
  }
}

/** For the commands whose output is a file's own bytes: --json would have them mixed into, or taken for, JSON. */
export function refuseJson(argv: GlobalArgs, command: string): void {
  if (argv.json) throw new UsageError('JSON_NOT_HERE', `${command} writes the file's own bytes to standard output: --json has no meaning for it`, { hint: `leave --json out (haos-rescue ${command} ... > FILE saves the file)` });
}

export function sourceOptions(argv: GlobalArgs): SourceOptions {
  if (argv.partition !== undefined && argv.offset !== undefined) {
    throw new UsageError('CONFLICTING_OPTIONS', '--partition and --offset cannot be used together', { hint: 'give one of them' });
  }
  const o: SourceOptions = { replay: argv.replay !== false };
  // --no-map: read the image without the map that lies beside it.
  if ((argv.map as unknown) === false) o.mapPath = null;
  else if (argv.map !== undefined) {
    if (argv.map === '') throw new UsageError('BAD_MAP', '--map needs the path of a rescue map file');
    o.mapPath = argv.map;
  }
  if (argv.partition !== undefined) {
    if (!Number.isInteger(argv.partition) || argv.partition < 1) {
      const got = Number.isNaN(argv.partition) ? 'not a number' : `got ${argv.partition}`;
      throw new UsageError('BAD_PARTITION', `--partition takes a partition number from 1 (${got})`, { hint: 'the # column of haos-rescue info SOURCE lists them' });
    }
    o.partition = argv.partition;
  }
  if (argv.offset !== undefined) {
    if (typeof argv.offset !== 'number' || !Number.isSafeInteger(argv.offset) || argv.offset < 0) {
      throw new UsageError('BAD_OFFSET', `--offset takes a byte offset (e.g. 11534336, 11MiB or 22528s in sectors), not "${argv.offset}"`, { hint: 'the offset column of haos-rescue info SOURCE shows where each partition starts' });
    }
    o.offsetBytes = argv.offset;
  }
  return o;
}

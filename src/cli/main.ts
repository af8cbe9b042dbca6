// The command line (design.md §3): yargs commands, global options, and the one place that decides the
// process exit code. Errors print as `error: ...` plus `hint: ...`; a stack trace only with --verbose.

import { constants as osConstants } from 'node:os';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { deferInterrupt, hasInterruptCleanup, inCriticalSection, removeUnfinishedFiles, runInterruptCleanups, writesMade } from '../actions/critical.js';
import { permissionHint } from '../device/map-os-error.js';
import { AppError, ExitCode, UsageError, toAppError } from '../errors.js';
import { keepFreedMemory } from '../process-memory.js';
import { shellWord } from '../shell-word.js';
import { VERSION } from '../version.js';
import { authCommand } from './commands/auth.js';
import { backupCommand } from './commands/backup.js';
import { catCommand } from './commands/cat.js';
import { dfCommand } from './commands/df.js';
import { disksCommand } from './commands/disks.js';
import { exportCommand } from './commands/export.js';
import { guiCommand, runGui } from './commands/gui.js';
import { imageCommand } from './commands/image.js';
import { type GlobalArgs, looksLikeSource, parseOffset, refuseEmpty, refuseMissingValues, refuseRepeated, refuseSwitchValues } from './commands/common.js';
import { infoCommand } from './commands/info.js';
import { logsCommand } from './commands/logs.js';
import { lsCommand } from './commands/ls.js';
import { mvCommand } from './commands/mv.js';
import { putCommand } from './commands/put.js';
import { rmCommand } from './commands/rm.js';
import { safeModeCommand } from './commands/safe-mode.js';
import { checkAtStartCommand } from './commands/check-at-start.js';
import { isInteractive } from './prompt.js';
import { remedyFor } from './remedies.js';
import { errorLines, hintFor } from './render.js';
import { printJsonError } from './output.js';
import { COMMANDS, usageError } from './usage-errors.js';

export { VERSION };

type UsageInternals = { getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: () => void } } };

/**
 * yargs renders the whole help text whenever a command starts (cacheHelpMessage), to print it should the
 * command fail; ours never prints it then (fail() throws), and the rendering costs ~25 ms of every run.
 */
function withoutHelpCache<T>(y: T): T {
  const usage = (y as UsageInternals).getInternalMethods?.().getUsageInstance?.();
  if (usage && typeof usage.cacheHelpMessage === 'function') usage.cacheHelpMessage = () => {};
  return y;
}

function parser(args: string[]) {
  const root = withoutHelpCache(yargs(args));
  // The names the command being run takes, asked for only when it fails (yargs' list costs start-up time).
  const known = (): string[] => Object.keys((root as unknown as { getOptions(): { key: Record<string, unknown> } }).getOptions().key);
  return root
    .scriptName('haos-rescue')
    .usage('$0 <command> [SOURCE] [options]\n\nReads the Home Assistant data on a pulled SD card, SSD or disk image, or a virtual machine disk file (qcow2, VDI, VHD, VHDX, VMDK, OVA). Only `auth reset`, `auth add`, `safe-mode`, `rm`, `put`, `mv` and `check-at-start` write to it, after safety checks (and a rehearsal in memory); everything else only reads. Without SOURCE, the one disk with Home Assistant data is used.\n\nStarted in a terminal without arguments, haos-rescue guides you step by step; `haos-rescue gui` does the same in a browser window.')
    .option('partition', { type: 'number', global: true, describe: 'use partition N (Linux numbering, logical partitions from 5)' })
    .option('offset', { type: 'string', global: true, coerce: parseOffset, describe: 'use the filesystem at this byte offset (also 11MiB, or 22528s in 512-byte sectors, whatever sector size the disk uses)' })
    .option('replay', { type: 'boolean', global: true, default: true, describe: 'show the state with the ext4 journal replayed in memory (--no-replay: the on-disk state)' })
    .option('map', { type: 'string', global: true, describe: 'the rescue map of an image made by `haos-rescue image` or ddrescue: parts not rescued read as errors, never as zeros (IMG.map beside IMG is found by itself)' })
    .option('json', { type: 'boolean', global: true, describe: 'print one JSON document on stdout' })
    .option('verbose', { type: 'boolean', global: true, describe: 'show error codes and stack traces' })
    .command(disksCommand as never)
    .command(infoCommand as never)
    .command(dfCommand as never)
    .command(lsCommand as never)
    .command(catCommand as never)
    .command(logsCommand as never)
    .command(authCommand as never)
    .command(backupCommand as never)
    .command(exportCommand as never)
    .command(imageCommand as never)
    .command(guiCommand as never)
    .command(safeModeCommand as never)
    .command(checkAtStartCommand as never)
    .command(rmCommand as never)
    .command(putCommand as never)
    .command(mvCommand as never)
    .middleware((argv) => refuseRepeated(argv as Record<string, unknown>), true)
    .middleware((argv) => refuseEmpty(argv as Record<string, unknown>), true)
    .middleware(((_argv: unknown, y: { getOptions(): { boolean: string[] } }) => refuseSwitchValues(args, () => y.getOptions().boolean)) as never, true)
    .middleware(((_argv: unknown, y: { getOptions(): YargsOptionLists }) => refuseMissingValues(args, () => valuedOptions(y.getOptions()))) as never, true)
    .demandCommand(1, 'name a command: gui, disks, info, df, ls, cat, logs, auth, backup, export, image, safe-mode, check-at-start, rm, put or mv')
    .recommendCommands()
    .strict()
    .version(VERSION)
    .help()
    .alias('h', 'help')
    .epilogue('Exit codes: 0 ok, 64 usage, 65 corrupt data, 66 not found, 69 unsupported, 70 bug, 74 I/O error, 77 refused, 130 interrupted (Ctrl-C; 129 the terminal closed, 143 kill).')
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((msg, err) => {
      throw err ?? usageError(msg ?? '', args, known);
    });
}

/** What yargs says of the options the command being run takes. */
interface YargsOptionLists {
  string: string[];
  number: string[];
  array: string[];
  alias: Record<string, string[]>;
}

/** The options that take a value, by every name they have (-u, --username). */
function valuedOptions(o: YargsOptionLists): Set<string> {
  const names = new Set([...o.string, ...o.number, ...o.array]);
  for (const name of [...names]) for (const alias of o.alias[name] ?? []) names.add(alias);
  return names;
}

/**
 * `haos-rescue card.img` or `haos-rescue /dev/sdb` (what an owner tries first): yargs said "Unknown argument"
 * or "did you mean gui?" (for g.img). A first word that names a disk or an image is said as one, with the
 * commands that take it.
 */
function refuseSourceFirst(args: string[]): void {
  const first = args[0];
  if (first === undefined || !isSourceWord(first)) return;
  throw new UsageError('SOURCE_WITHOUT_COMMAND', `${first} is a disk or an image, not a command: name what to do with it first`, {
    hint: `haos-rescue info ${shellWord(first)} shows what it holds; haos-rescue alone guides you step by step (in a terminal; haos-rescue ${shellWord(first)} there starts with this one), haos-rescue gui ${shellWord(first)} does the same in a browser window`,
  });
}

function isSourceWord(word: string): boolean {
  return !word.startsWith('-') && !COMMANDS.has(word) && (/\//.test(word) || looksLikeSource(word));
}

/**
 * What the guided flow or the window starts with: no command at all (null: they ask for the disk), or one
 * disk or image alone (a file dropped on the program, or the owner's first try); undefined: a command line.
 */
function flowStart(args: string[]): { source: string | null } | undefined {
  const words = args.filter((a) => a !== '--verbose');
  if (words.length === 0) return { source: null };
  return words.length === 1 && isSourceWord(words[0]!) ? { source: words[0]! } : undefined;
}

/**
 * `--`, the end of the options as in any command line: the words after it are names. yargs lost them (a path
 * after it read as none, `info -- card.img` an internal error), so they are passed on as plain words; one that
 * begins with "-" would be read as an option there, and is refused with the way to write it.
 */
function endOfOptions(args: string[]): string[] {
  const at = args.indexOf('--');
  if (at === -1) return args;
  const after = args.slice(at + 1);
  const dashed = after.find((a) => a.startsWith('-'));
  if (dashed !== undefined) {
    throw new UsageError('DASH_NAME', `${dashed} after -- is a name, and haos-rescue takes no name that begins with "-"`, {
      hint: `write it as ./${dashed} (a file in this folder) or as its full path; an option goes before the --`,
    });
  }
  return [...args.slice(0, at), ...after];
}

/** Runs the CLI and returns the exit code; never calls process.exit itself. */
export async function run(args: string[]): Promise<number> {
  let verbose = args.includes('--verbose');
  // No command: the guided flow (or the window); --verbose alone asks for it with the errors' details.
  const start = flowStart(args);
  const bare = start?.source === null;
  const flow = start !== undefined && isInteractive() && process.stdout.isTTY;
  // The guided flow shows its questions on standard output: with that sent to a file, it ran unseen. A
  // terminal that cannot move its cursor (TERM=dumb: Emacs' shell) showed them as escape codes.
  if (flow && process.env['TERM'] !== 'dumb') {
    // Loaded only here: the prompt library costs ~100 ms of start-up that no other command needs.
    const { runWizard } = await import('./wizard/index.js');
    return runWizard({ verbose, ...(start.source === null ? {} : { source: start.source }) });
  }
  try {
    if (start !== undefined && (await startsWindow())) {
      // Started from a desktop without a terminal (a launcher, a double-click, a file dropped on it): the window.
      await runGui(start.source === null ? {} : { source: start.source });
      return ExitCode.OK;
    }
    if (bare && isInteractive() && process.stdout.isTTY) {
      throw new UsageError('DUMB_TERMINAL', 'the guided flow needs a terminal that can move its cursor for its questions, and this one cannot (TERM=dumb)', {
        hint: 'run haos-rescue gui for the same steps in a browser window, or run haos-rescue in a terminal program (Terminal, Windows Terminal, a desktop terminal), or name a command (haos-rescue --help lists them)',
      });
    }
    if (bare && isInteractive()) {
      throw new UsageError('NO_TERMINAL', 'the guided flow needs a terminal for its questions: its output goes to a file or a pipe here', { hint: 'run haos-rescue without > or |, or name a command (haos-rescue --help lists them)' });
    }
    args = endOfOptions(args);
    refuseSourceFirst(args);
    const argv = (await parser(args).parseAsync()) as GlobalArgs;
    verbose = argv.verbose ?? verbose;
    return ExitCode.OK;
  } catch (raw) {
    if (isBrokenPipe(raw)) return ExitCode.OK;
    if (raw instanceof Error && raw.name === 'ExitPromptError') {
      // Ctrl-C at a question (which disk?): nothing had been done yet.
      process.stderr.write('\nStopped: nothing was written.\n');
      return ExitCode.INTERRUPTED;
    }
    const err = withCommandInHint(raw instanceof AppError ? raw : toAppError(raw), args);
    process.stderr.write(`${errorLines(err, verbose || err.exitCode === ExitCode.INTERNAL)}\n`);
    if (args.includes('--json')) await printJsonError({ code: err.code, exitCode: err.exitCode, message: err.message, hint: hintFor(err) }).catch(() => undefined);
    return err.exitCode;
  }
}

/** A missing-rights error names the exact command to run again (with sudo, or as administrator). */
function withCommandInHint(err: AppError, args: string[]): AppError {
  const remedy = remedyFor(err.details);
  if (remedy !== null && err.hint !== undefined) {
    return new AppError(err.code, err.exitCode, err.message, { hint: `${err.hint} (${remedy})`, details: err.details, cause: err.cause });
  }
  if (err.code !== 'NO_PERMISSION') return err;
  const hint = permissionHint(process.platform, ['haos-rescue', ...args.map(shellWord)].join(' '));
  return new AppError(err.code, err.exitCode, err.message, { hint, details: err.details, cause: err.cause });
}

async function startsWindow(): Promise<boolean> {
  const { hasDesktop } = await import('../actions/gui/open-browser.js');
  return !process.stdin.isTTY && !process.stdout.isTTY && hasDesktop();
}

function isBrokenPipe(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: string }).code === 'EPIPE';
}

let stopping = false;

/**
 * A stop asked for from outside: a write under way finishes first, a long copy saves what it has done; the
 * exit code is 130 for Ctrl-C, 128 + the signal's number otherwise. The terminal may be gone (SIGHUP): what
 * cannot be said is not said.
 */
function stopOnSignal(signal: 'SIGINT' | 'SIGTERM' | 'SIGHUP'): void {
  const code = signal === 'SIGINT' ? ExitCode.INTERRUPTED : 128 + osConstants.signals[signal];
  // A second Ctrl-C while a copy saves itself (a stalled card may hold it) ends the process at once.
  const again = stopping;
  stopping = true;
  const say = (text: string): void => {
    try {
      process.stderr.write(text);
    } catch {
      // no terminal left to say it on
    }
  };
  const what = signal === 'SIGINT' ? 'interrupt' : signal === 'SIGHUP' ? 'the terminal closed' : 'asked to stop';
  if (inCriticalSection()) {
    say(`\n${what}: finishing the write that is under way first (a few seconds)...\n`);
    void deferInterrupt().then((ended) => {
      say(ended === 'written'
        ? 'stopped: the change under way was written in full first, then haos-rescue stopped before saying so; start it again on the same card or image to see the state it left\n'
        : 'stopped: the write under way ended with an error; the card or image holds the state before it or after it, never a mix (its journal sees to that): start haos-rescue again on it to see where it stands\n');
      process.exit(code);
    });
    return;
  }
  if (hasInterruptCleanup() && !again) {
    // No "Ctrl-C again to quit at once": a read the card does not answer holds the process until it returns,
    // whatever is pressed (the words after the save say so, and that unplugging the reader ends it).
    say(`\n${what}: saving what was done so far...\n`);
    void runInterruptCleanups().then((lines) => {
      for (const line of lines) say(`${line}\n`);
      process.exit(code);
    });
    return;
  }
  const unfinished = removeUnfinishedFiles() > 0 ? ' (the unfinished file was removed)' : '';
  say(writesMade() === 0 ? `\ninterrupted: nothing was written to the card${unfinished}\n` : `\ninterrupted (the changes reported done above were written to the card)${unfinished}\n`);
  process.exit(code);
}

export async function main(): Promise<void> {
  keepFreedMemory();
  // A terminal that is gone (SIGHUP) fails writes to stderr later, as 'error' events: they must not end the
  // process in the middle of a write to the card.
  process.stderr.on('error', () => undefined);
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') return;
    // The reader went away (`| head`): nothing more to show, but a write under way finishes first.
    if (inCriticalSection()) void deferInterrupt().then(() => process.exit(ExitCode.OK));
    else process.exit(ExitCode.OK);
  });
  // Ctrl-C, a closed terminal window (SIGHUP; Windows too, which then ends the process ~10 s later) and a
  // shutdown or `kill` (SIGTERM) all stop the same careful way.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => stopOnSignal(signal));
  const code = await run(hideBin(process.argv));
  process.exitCode = code;
}

// `haos-rescue` with no arguments on a terminal: the guided flow (issue 6). Find the disk, show what is on
// it, then offer the jobs. Nothing is written unless a step says what it will change and the user agrees;
// Esc at a question inside a job goes back to the menu; Ctrl-C at a question leaves everything as it was,
// and during a write waits for the write to finish.

import { writesMade } from '../../actions/critical.js';
import { importantNotWhole } from '../../actions/image/files-hit.js';
import { BACK, orBack, select } from './ask.js';
import { type InfoResult, copyFirstReason, info, kernelErrorSummary, lastWritten, stateText } from '../../actions/info.js';
import { type OpenedSource, openSource } from '../../actions/source.js';
import { isMediumError } from '../../device/map-os-error.js';
import { AppError, ExitCode } from '../../errors.js';
import { localTime } from '../render.js';
import { visible } from '../visible.js';
import { offerImage } from './image-step.js';
import { flowError, flowErrorsVerbose } from './flow-error.js';
import { pickSource } from './pick.js';
import { type Say, Session, offerRepairAtStart, stepAdd, stepExport, stepReset, stepUsers } from './steps.js';
import { stepCreate, stepExtract, stepKey } from './backup-steps.js';
import { stepFreeSpace, stepSafeMode } from './repair-steps.js';
import { stepLogs } from './logs-step.js';
import { stepFileFromBackup } from './restore-step.js';

const say: Say = (text) => process.stdout.write(`${visible(text)}\n`);

const STEPS = [
  { value: 'reset', name: 'Reset a password (and switch off two-factor login)', run: stepReset },
  { value: 'add', name: 'Add an administrator login', run: stepAdd },
  { value: 'users', name: 'Show the users', run: stepUsers },
  { value: 'extract', name: 'Copy the backups to this computer', run: stepExtract },
  { value: 'export', name: 'Export the configuration folder', run: stepExport },
  { value: 'key', name: 'Show the backup encryption key', run: stepKey },
  { value: 'create', name: 'Make a backup Home Assistant can restore, from this card', run: stepCreate },
  { value: 'logs', name: "Show Home Assistant's last log lines (why it stopped or does not start)", run: stepLogs },
  { value: 'space', name: 'Free space (see what fills the card, delete the history database)', run: stepFreeSpace },
  { value: 'safe', name: 'Start Home Assistant in safe mode next time (without custom integrations)', run: stepSafeMode },
  { value: 'restore-file', name: 'Put back a configuration file from a backup (undo a broken edit)', run: stepFileFromBackup },
] as const;

/** The steps that make sense on a disk without Home Assistant's configuration (as the window offers them). */
const WITHOUT_CONFIG = new Set<string>(['logs', 'space']);

async function hasConfig(source: OpenedSource): Promise<boolean> {
  const config = source.layout.configPath;
  return config !== null && (await source.volume.exists(config).catch(() => true));
}

async function summary(source: OpenedSource): Promise<InfoResult> {
  const r = await info(source);
  const ha = r.homeAssistant;
  const state = stateText(r.data);
  say('');
  if (!ha.version && ha.users === null && ha.backups === null && !ha.unreadable && !r.readFailed) {
    // As `info` says "no configuration found": not a Home Assistant whose version is unknown.
    say(`No Home Assistant configuration was found on ${source.path} (filesystem ${state}).`);
    say('  It may be another disk or partition, or a data partition that was wiped: choose Another disk below if you have one.');
  } else {
    say(`Home Assistant ${ha.version ?? '(version unknown)'} on ${source.path}`);
    // Files that could not be read are not counted as none ("0 backup(s)" on an image cut short).
    if (ha.unreadable) say(`  Some of its files could not be read here (see the warnings below); users: ${ha.users ?? 'not read'}, backups: ${ha.backups ?? 'not read'}; filesystem ${state}`);
    else say(`  ${ha.users ?? '?'} user(s), ${ha.backups ?? 0} backup(s); filesystem ${state}`);
  }
  const written = lastWritten(r.data.times);
  if (written) say(`  last written by the box: ${localTime(written.at)} (by its clock)`);
  const errors = kernelErrorSummary(r.data);
  if (errors) say(`  ${errors}`);
  for (const w of r.warnings) say(`  warning: ${w}`);
  if (r.data.writeRefused) say(`  Changes to this card are refused as it is: ${r.data.writeRefused.message}.`);
  if (r.space.full) {
    say('  The data partition is FULL: Home Assistant cannot save its data and may not start.');
    say('  "Free space" below shows what fills it and can delete the history database.');
  }
  say('');
  return r;
}

/**
 * Asks for a disk or image until one can be read (a wrong image file is not the end of the session); `given`
 * (named on the command line) is tried first, without asking.
 */
async function pickReadable(given?: string): Promise<Session | null> {
  for (let first = given; ; first = undefined) {
    const path = first ?? (await pickSource(say));
    if (path === null) return null;
    let source: OpenedSource | null = null;
    try {
      source = await openSource(path);
      const why = await copyFirstReason(await summary(source));
      if (why !== null) {
        // Parts of the card refused a read already, or the box met read errors on it: the copy comes before any step.
        const copy = await openCopy(path, why);
        if (copy !== null) {
          await source.device.close().catch(() => undefined);
          return new Session(copy);
        }
      }
      return new Session(source);
    } catch (err) {
      await source?.device.close().catch(() => undefined);
      if (!(err instanceof AppError)) throw err;
      process.stderr.write(flowError(err));
      const copy = isMediumError(err) ? await openCopy(path) : null;
      if (copy !== null) return new Session(copy);
      say('Choose another disk or image file.\n');
    }
  }
}

/**
 * After the card failed a read: offers to copy it to an image file, and opens the copy (its map beside it
 * is found by itself). Null when the user declines, the copy stops, or it cannot be made (said why).
 */
async function openCopy(path: string, why: 'read-failed' | 'box-read-errors' = 'read-failed'): Promise<OpenedSource | null> {
  let source: OpenedSource | null = null;
  try {
    const image = await offerImage(path, say, why);
    if (image === null) return null;
    source = await openSource(image);
    await summary(source);
    // What the copy lost of what a rescue is for, said now rather than when a step fails on it.
    const lost = await importantNotWhole(source);
    if (lost.length > 0) say(`Not whole in the copy: ${lost.map((f) => f.path).join(', ')}. Keep the card: copying it again to the same file tries the missing parts once more.`);
    else say('The logins, the configuration and the backups are whole in the copy: you can take the card out.');
    return source;
  } catch (err) {
    await source?.device.close().catch(() => undefined);
    if (!(err instanceof AppError)) throw err;
    process.stderr.write(flowError(err));
    return null;
  }
}

/** The menu's answer to open another disk: the session is closed and the disk asked for again. */
const ANOTHER = 'another';

/** The menu of jobs, on the session's source, until the user quits (an exit code) or asks for another disk. */
async function chooseSteps(session: Session): Promise<number | typeof ANOTHER> {
  for (;;) {
    const steps = (await hasConfig(session.source)) ? STEPS : STEPS.filter((s) => WITHOUT_CONFIG.has(s.value));
    const choices = [
      ...steps.map(({ value, name }) => ({ value, name })),
      { value: ANOTHER, name: 'Another disk or image file' },
      { value: 'quit', name: 'Quit' },
    ];
    // Every job at once (inquirer shows 7 and scrolls the rest out of sight), as far as the terminal has room:
    // a menu taller than the screen left copies of itself behind, the chosen entry out of sight.
    const room = Math.max(3, (process.stdout.rows ?? choices.length + 3) - 3);
    const choice = await select({ message: 'What do you want to do?', choices, pageSize: Math.min(choices.length, room) });
    if (choice === 'quit') return ExitCode.OK;
    if (choice === ANOTHER) return ANOTHER;
    const writesBefore = writesMade();
    try {
      const step = STEPS.find((s) => s.value === choice)!;
      if ((await orBack(() => step.run(session, say))) === BACK) say(writesMade() > writesBefore ? 'Back to the menu.' : 'Back to the menu: nothing was written.');
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      process.stderr.write(flowError(err));
      if (err.details['remedy'] === 'check-at-start') await offerRepairAtStart(session, say);
      // An image file cut short by another program (SOURCE_SHRANK) is not a medium error: no copy is offered.
      if (err.code === 'SOURCE_SHRANK') say('Open the file again when it is whole: Another disk or image file.');
      const copy = isMediumError(err) ? await openCopy(session.source.path) : null;
      if (copy !== null) await session.replace(copy);
    }
    say('');
  }
}

function isPromptExit(err: unknown): boolean {
  return err instanceof Error && (err.name === 'ExitPromptError' || err.name === 'AbortPromptError');
}

/** Runs the guided flow; returns the exit code. */
export async function runWizard(options: { verbose?: boolean; source?: string } = {}): Promise<number> {
  flowErrorsVerbose(options.verbose ?? false);
  say('haos-rescue: get your Home Assistant back from its SD card or disk.');
  say('It only reads the card, unless you choose a step that writes: that step shows what it will change and asks first.');
  say('Esc at a question goes back; Ctrl-C ends haos-rescue.');
  if (process.platform === 'win32') say('If Windows offered to format the card: choose Cancel. Never format it; the data is on it.');
  if (process.platform === 'darwin') say('If macOS said the disk is not readable: choose Ignore, never Initialize. The data is on it.');
  // Ctrl-D (end of input) at some questions closes the terminal's input without an answer or an error: the
  // question is dropped and nothing is left to run. Said and ended as Ctrl-C (it ended silently with exit 0).
  const dropped = (): void => {
    process.stderr.write(stoppedText());
    process.exitCode = ExitCode.INTERRUPTED;
  };
  process.once('beforeExit', dropped);
  try {
    for (let given = options.source; ; given = undefined) {
      const session = await pickReadable(given);
      if (session === null) return ExitCode.OK;
      let done: number | typeof ANOTHER;
      try {
        done = await chooseSteps(session);
      } finally {
        await session.close();
      }
      if (done !== ANOTHER) return done;
      say('');
    }
  } catch (err) {
    if (isPromptExit(err)) {
      process.stderr.write(stoppedText());
      return ExitCode.INTERRUPTED;
    }
    if (err instanceof AppError) {
      process.stderr.write(flowError(err));
      return err.exitCode;
    }
    throw err;
  } finally {
    process.off('beforeExit', dropped);
  }
}

/** The words on a stop at a question: the changes made before in this session were written and checked. */
function stoppedText(): string {
  return writesMade() > 0 ? '\nStopped. The changes made before were written and checked; nothing more was written.\n' : '\nStopped: nothing was written.\n';
}

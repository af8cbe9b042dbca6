// `haos-rescue gui [SOURCE] [--no-open]`: the browser window for people who have never used a terminal. A
// local server on 127.0.0.1 serves one page with the wizard's steps; it stops when the page is closed,
// after a long idle time, on Quit in the page, or on Ctrl-C here.

import { isAbsolute, resolve } from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { UsageError } from '../../errors.js';
import type { LifetimeOptions } from '../../actions/gui/index.js';
import { writeOut } from '../output.js';
import { type GlobalArgs, sourceOptions } from './common.js';

type GuiArgs = GlobalArgs & { source?: string; open?: boolean };

/** Test and kiosk overrides of when the server stops by itself (milliseconds), from the environment. */
function lifetimeFromEnv(defaults: LifetimeOptions): LifetimeOptions {
  const ms = (name: string, fallback: number): number => {
    const v = Number(process.env[name]);
    return Number.isFinite(v) && v > 0 ? v : fallback;
  };
  return {
    graceMs: ms('HAOS_RESCUE_GUI_GRACE_MS', defaults.graceMs),
    firstPageMs: ms('HAOS_RESCUE_GUI_FIRST_PAGE_MS', defaults.firstPageMs),
    idleMs: ms('HAOS_RESCUE_GUI_IDLE_MS', defaults.idleMs),
  };
}

export async function runGui(argv: GuiArgs): Promise<void> {
  if (argv.json) throw new UsageError('JSON_NOT_HERE', 'gui opens a window and prints only its address: --json has no meaning for it', { hint: 'leave --json out' });
  const { DEFAULT_LIFETIME, downloadsFolder, openBrowser, startGui } = await import('../../actions/gui/index.js');
  const handle = await startGui({
    // A relative path is this folder's: the window (whose own field takes full paths) names it in full, and
    // opens it again by that name (it was refused as "not a full path" once the card had gone and come back).
    ...(argv.source ? { sourcePath: isAbsolute(argv.source) ? argv.source : resolve(argv.source) } : {}),
    sourceOptions: sourceOptions(argv),
    downloads: downloadsFolder(),
    lifetime: lifetimeFromEnv(DEFAULT_LIFETIME),
  });
  const opened = argv.open !== false && (await openBrowser(handle.url));
  await writeOut(
    `${opened ? 'haos-rescue is open in your browser.' : 'Open this address in your browser (Chrome, Edge, Firefox or Safari):'}\n` +
      `Address: ${handle.url}\n` +
      'Keep this window open while you work. Closing the page (or Ctrl-C here) stops haos-rescue.\n',
  );
  const reason = await handle.stopped;
  await writeOut(`Stopped: ${reason}.\n`);
}

export const guiCommand: CommandModule<GlobalArgs, GuiArgs> = {
  command: 'gui [source]',
  describe: 'Open haos-rescue in a browser window (the same steps as the guided flow, with buttons)',
  builder: (y: Argv<GlobalArgs>) =>
    y.positional('source', { type: 'string', describe: 'a disk or image file to open at once; left out: the window starts at the list of disks' }).option('open', { type: 'boolean', default: true, describe: 'open the default browser (--no-open: only print the address)' }) as Argv<GuiArgs>,
  handler: runGui,
};

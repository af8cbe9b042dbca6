// `haos-rescue logs [SOURCE] [--of core|supervisor|all|NAME] [--lines N]`: the last lines Home Assistant wrote
// before the box stopped, from the journal files on the card, as `ha core logs` would have shown them.

import type { CommandModule } from 'yargs';
import type { LogsResult } from '../../actions/logs/index.js';
import { LOG_SUBJECTS, type LogSubject, MAX_LINES, filesRead, noLogFiles } from '../../actions/logs/subjects.js';
import { UsageError } from '../../errors.js';
import { printJson, warn, writeOut } from '../output.js';
import { localTime } from '../render.js';
import { type GlobalArgs, withArgsSource, withSourceArg } from './common.js';

type LogsArgs = GlobalArgs & { source?: string; of: string; lines: number };

/** What `--of` names: core, supervisor, all, or a container name or syslog identifier as it is. */
export function logSubject(of: string): { subject: LogSubject; title: string } {
  if (of === 'all') return { subject: 'all', title: 'every program' };
  const known = LOG_SUBJECTS[of];
  if (known) return { subject: { name: known.name }, title: known.title };
  if (!/^[\w.@:-]{1,128}$/.test(of)) throw new UsageError('BAD_LOG_NAME', `"${of}" is not a program's name in the log`, { hint: 'use --of core, supervisor, all, or an app container name such as addon_core_mosquitto' });
  return { subject: { name: of }, title: of };
}

/** The lines as journalctl shows them, local time first, a line between starts of the box. */
export function renderLogs(r: LogsResult, showName: boolean): string {
  const out: string[] = [];
  let boot: string | null = null;
  for (const line of r.lines) {
    if (line.bootId !== boot) {
      out.push(boot === null ? `-- boot ${line.bootId.slice(0, 12)} --` : `-- the box started again: boot ${line.bootId.slice(0, 12)} --`);
      boot = line.bootId;
    }
    out.push(`${localTime(line.time, true)}  ${showName ? `${line.identifier}: ` : ''}${line.message}`);
  }
  return out.length ? `${out.join('\n')}\n` : '';
}

/** One line on what was shown, and where from. */
export function logsSummary(r: LogsResult, title: string, asked: number): string {
  const read = filesRead(r);
  if (r.files.length === 0) return noLogFiles(r.folder);
  if (r.matched === 0) {
    const names = r.names.slice(0, 12).map((n) => `${n.name} (${n.lines})`).join(', ');
    const which = names ? ` The programs in it, by lines: ${names}${r.names.length > 12 ? ', ...' : ''}; name one with --of NAME.` : '';
    return `No lines from ${title} in ${read} log file(s) in ${r.folder}: --of all shows every program's lines.${which}`;
  }
  // Every line was asked for (or more than are ever kept): the older ones were left out by that limit alone.
  const all = asked === 0 || asked >= MAX_LINES;
  const more = !r.more ? '' : all ? `; older lines were left out (${MAX_LINES.toLocaleString('en-US')} at most are shown)` : `; --lines ${Math.max(asked * 5, 500)} shows more, --lines 0 all`;
  return `The last ${r.lines.length} line(s) from ${title}, from ${read} log file(s) in ${r.folder}${more}.`;
}

export const logsCommand: CommandModule<GlobalArgs, LogsArgs> = {
  command: 'logs [source]',
  describe: "Show the last lines Home Assistant wrote to its log before the box stopped (why it does not start)",
  builder: (y) =>
    withSourceArg(y)
      .option('of', { type: 'string', default: 'core', describe: 'whose lines: core (Home Assistant), supervisor, all, or an app container name (addon_...)' })
      .option('lines', { alias: 'n', type: 'number', default: 100, describe: 'how many of the last lines; 0 for all (at most 1,000,000)' }) as never,
  handler: async (argv) => {
    const { subject, title } = logSubject(argv.of);
    if (!Number.isInteger(argv.lines) || argv.lines < 0) throw new UsageError('BAD_LINES', `--lines takes a number of lines (${Number.isNaN(argv.lines) ? 'not a number' : `got ${argv.lines}`})`, { hint: 'give a whole number, or 0 for all' });
    const { readLogs } = await import('../../actions/logs/index.js');
    const result = await withArgsSource(argv, async (s) => {
      if (!argv.json) for (const w of s.warnings) warn(w);
      return readLogs(s, { subject, lines: argv.lines });
    });
    if (argv.json) return printJson(result);
    for (const f of result.files) if (f.problem !== null) warn(`${f.path}: ${f.problem}`);
    if (result.unreadable > 0) warn(`${result.unreadable} long line(s) are stored compressed and do not unpack (damaged, or xz, which is not read here): each is named in its place`);
    await writeOut(renderLogs(result, subject === 'all'));
    process.stderr.write(`${logsSummary(result, title, argv.lines)}\n`);
  },
};

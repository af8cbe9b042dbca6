// yargs' own messages ("Missing required argument: out", "Not enough non-option arguments: got 1, need at
// least 3", "Unknown argument: nope", "Did you mean list?") said in the project's words: which command, what
// it needs, and how to see what it takes. A message not recognised is kept as yargs wrote it.

import { UsageError } from '../errors.js';

/** The commands (main.ts names them when none is given). */
export const COMMANDS = new Set(['gui', 'disks', 'info', 'df', 'ls', 'cat', 'logs', 'auth', 'backup', 'export', 'image', 'safe-mode', 'check-at-start', 'rm', 'put', 'mv']);

/** The commands that group others, and theirs. */
const GROUPS: Record<string, string[]> = {
  auth: ['list', 'reset', 'add'],
  backup: ['list', 'ls', 'cat', 'extract', 'key', 'create'],
};

/** What the commands with required arguments take, as the help writes it. */
const USAGE: Record<string, string> = {
  cat: 'haos-rescue cat SOURCE PATH (or PATH alone)',
  mv: 'haos-rescue mv SOURCE FROM TO',
  put: 'haos-rescue put SOURCE LOCALFILE PATH',
  rm: 'haos-rescue rm SOURCE PATH...',
};

/** The command words typed: `put`, `auth reset`; the group alone when its command is missing or unknown. */
function commandOf(args: string[]): { words: string[]; group: string | null } {
  // From the first word that is a command: an option's value before it (--partition 8) is none.
  const all = args.filter((a) => !a.startsWith('-'));
  const plain = all.slice(Math.max(0, all.findIndex((w) => COMMANDS.has(w))));
  const first = plain[0];
  if (first === undefined || !COMMANDS.has(first)) return { words: [], group: null };
  const sub = GROUPS[first];
  if (!sub) return { words: [first], group: null };
  const second = plain[1];
  return second !== undefined && sub.includes(second) ? { words: [first, second], group: first } : { words: [first], group: first };
}

function options(list: string): string {
  return list
    .split(', ')
    .map((o) => (o.length === 1 ? `-${o}` : `--${o}`))
    .join(', ');
}

/**
 * The options typed that the command does not take. Before its arguments, such an option took the next one
 * as its value (`rm card.img --bogus /p`): yargs then counts too few arguments before it looks at the names.
 */
function unknownOptions(args: string[], known: string[]): string[] {
  const names = new Set(known);
  const kebab = (n: string): string => n.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  const takes = (n: string): boolean => names.has(n) || names.has(kebab(n)) || (n.startsWith('no-') && takes(n.slice(3)));
  const out: string[] = [];
  for (const a of args) {
    if (a === '--') break;
    if (a.startsWith('--') && a.length > 2) {
      const n = a.slice(2).split('=')[0]!;
      if (!takes(n)) out.push(`--${n}`);
    } else if (/^-[^-\d]/.test(a)) {
      for (const c of a.slice(1).split('=')[0]!) if (!names.has(c)) out.push(`-${c}`);
    }
  }
  return out;
}

/** The error for a message of yargs' `fail`, given the arguments typed (and, when asked, the options known). */
export function usageError(msg: string, args: string[], known: () => string[] = () => []): UsageError {
  const { words, group } = commandOf(args);
  const name = words.join(' ');
  const help = name ? `haos-rescue ${name} --help shows what it takes` : 'haos-rescue --help lists the commands';
  const say = (message: string, hint = help): UsageError => new UsageError('USAGE', message, { hint });
  let m: RegExpExecArray | null;
  if ((m = /^Did you mean (.+)\?$/.exec(msg))) {
    const typed = args.filter((a) => !a.startsWith('-'))[group ? 1 : 0] ?? '';
    return group ? say(`${group} has no command ${typed}: did you mean ${group} ${m[1]}?`, `haos-rescue ${group} --help lists its commands`) : say(`${typed} is not a command of haos-rescue: did you mean ${m[1]}?`, 'haos-rescue --help lists the commands');
  }
  if ((m = /^Missing required arguments?: (.+)$/.exec(msg))) return say(`${name || 'this command'} needs ${options(m[1]!)}`);
  if ((m = /^Unknown arguments?: (.+)$/.exec(msg))) {
    const unknown = m[1]!.split(', ');
    const plain = unknown.every((u) => args.includes(u));
    // `auth bogus card.img`: said as arguments too many (card.img), the command word not looked at.
    const plainWords = args.filter((a) => !a.startsWith('-'));
    const typed = group && words.length === 1 ? plainWords[plainWords.indexOf(group) + 1] : undefined;
    if (plain && group && typed !== undefined) return say(`${group} has no command ${typed}: its commands are ${GROUPS[group]!.join(', ')}`, `haos-rescue ${group} --help says what each does`);
    const what = plain ? `more arguments than it takes (${unknown.join(', ')})` : `no option ${options(m[1]!)}`;
    return say(`${name || 'haos-rescue'} has ${what}`, plain ? help : withDashName(help, args));
  }
  if ((m = /^Not enough non-option arguments: got (\d+), need at least (\d+)$/.exec(msg))) {
    if (group && words.length === 1) return say(`name ${group === 'auth' ? 'an' : 'a'} ${group} command: ${GROUPS[group]!.join(', ')}`, `haos-rescue ${group} --help says what each does`);
    const unknown = unknownOptions(args, known());
    if (unknown.length) return say(`${name} has no option ${unknown.join(', ')}`, withDashName(help, args));
    const usage = USAGE[words[0] ?? ''];
    return say(`too few arguments for ${name} (${m[1]} given)`, usage ? `${usage}; ${help}` : help);
  }
  if ((m = /^Invalid values:\s*Argument: (\S+), Given: (.+), Choices: (.+)$/s.exec(msg))) {
    // A number option given a word reaches yargs as NaN, which it shows as null.
    const choices = m[3]!.replace(/, ([^,]+)$/, ' or $1');
    if (m[2] === 'null' || m[2] === 'NaN') return say(`--${m[1]} takes ${choices} (it was given something that is not a number)`);
    return say(`--${m[1]} cannot be ${m[2]}: it takes ${choices}`);
  }
  return say(msg);
}

/**
 * A name typed that begins with "-" (a local file -notes.txt) is read as options (-n, -o, -t, ...): the hint
 * says how to write it.
 */
function withDashName(help: string, args: string[]): string {
  const end = args.indexOf('--');
  const name = (end === -1 ? args : args.slice(0, end)).find((a) => /^-[^-\d]/.test(a) && a.length > 2 && /[./\\]/.test(a));
  return name === undefined ? help : `${help}; a name that begins with "-" is written ./${name} (a file in this folder) or as its full path`;
}

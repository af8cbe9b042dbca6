// Terminal prompts: a hidden password entry (asked twice), a yes/no question, and reading a password from
// standard input for scripts. Prompts go to stderr so stdout stays clean for --json.

import { AppError, ExitCode, UsageError } from '../errors.js';
import { HiddenLine } from './line-edit.js';
import { discardTypeahead } from './typeahead.js';

/** Rounds of the new password typed twice before giving up. */
const PASSWORD_ROUNDS = 3;

function readLine(hidden: boolean, question: string): Promise<string> {
  const input = process.stdin;
  process.stderr.write(question);
  return new Promise((resolve, reject) => {
    let value = '';
    const wasRaw = input.isRaw;
    if (input.isTTY) input.setRawMode(hidden);
    input.setEncoding('utf8');
    input.resume();
    const done = (err?: Error): void => {
      input.removeListener('data', onData);
      if (input.isTTY) input.setRawMode(wasRaw);
      input.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    // Hidden: a raw terminal, edited here (line-edit.ts); shown: the terminal's own line editing.
    const line = new HiddenLine();
    const onData = (chunk: string): void => {
      if (hidden) {
        const key = line.feed(chunk);
        if (key === 'cancel') return done(new AppError('CANCELLED', ExitCode.INTERRUPTED, 'stopped at the question (Ctrl-C): nothing was written'));
        if (key === 'enter') {
          value = line.value;
          return done();
        }
        return;
      }
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new AppError('CANCELLED', ExitCode.INTERRUPTED, 'stopped at the question (Ctrl-C): nothing was written'));
        value += ch;
      }
    };
    input.on('data', onData);
  });
}

export function isInteractive(): boolean {
  return Boolean(process.stdin.isTTY && process.stderr.isTTY);
}

/** Asks for a new password twice without echo; refuses an empty one or a mismatch. */
export async function askNewPassword(who: string): Promise<string> {
  if (!isInteractive()) {
    throw new UsageError('NO_PASSWORD', 'no password given and no terminal to ask for one', {
      hint: 'pass --password-stdin (and the password on standard input) or --password P',
    });
  }
  for (let round = 1; ; round++) {
    const first = await readLine(true, `New password for ${who}: `);
    if (first === '') throw new UsageError('EMPTY_PASSWORD', 'the password is empty; nothing was written', { hint: 'run the command again and type the new password (nothing shows while typing)' });
    const second = await readLine(true, 'Type it again: ');
    if (first === second) return first;
    if (round === PASSWORD_ROUNDS) throw new UsageError('PASSWORD_MISMATCH', 'the two passwords differ; nothing was written', { hint: 'run the command again' });
    process.stderr.write('The two differ (nothing shows while typing): once more.\n');
  }
}

/** Asks once for a password without echo (an existing one, e.g. a backup's); '' when nothing was typed. */
export async function askPassword(question: string): Promise<string> {
  return readLine(true, question);
}

/** A yes/no question on the terminal; false when there is no terminal. */
export async function confirm(question: string): Promise<boolean> {
  if (!isInteractive()) return false;
  await discardTypeahead(); // a "y" typed while the card was read is no answer to a question not yet asked
  const answer = (await readLine(false, `${question} [y/N] `)).trim().toLowerCase();
  return answer === 'y' || answer === 'yes';
}

/** The password from standard input: the first line, without its line ending. */
export async function passwordFromStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  const line = text.split(/\r?\n/)[0] ?? '';
  if (line === '') {
    throw new UsageError('EMPTY_PASSWORD', 'standard input held no password; nothing was written', {
      hint: "with --password-stdin it is read from the first line of standard input: type it, press Enter, then Ctrl-D; or pipe it in: printf '%s\\n' 'PASSWORD' | haos-rescue ...",
    });
  }
  return line;
}

// `haos-rescue auth list|reset|add SOURCE ...`: the users of the Home Assistant on the card.

import { CARD, type Medium, mediumOf } from '../../actions/write/medium.js';
import type { Argv, CommandModule } from 'yargs';
import type { AuthWriteResult } from '../../actions/auth.js';
import { UsageError } from '../../errors.js';
import type { HaUser } from '../../ha/auth.js';
import { printJson, warn, writeOut } from '../output.js';
import { askNewPassword, passwordFromStdin } from '../prompt.js';
import { mfaText, table } from '../render.js';
import { type GlobalArgs, withArgsSource, withSourceArg } from './common.js';
import { replayFirstLine, withWriteOptions, writeOptions } from './write-options.js';

type WriteArgs = GlobalArgs & {
  source?: string;
  username: string;
  password?: string;
  passwordStdin?: boolean;
  dryRun?: boolean;
  yes?: boolean;
  originals?: string;
  disableMfa?: boolean;
};

function userRow(u: HaUser): string[] {
  const role = u.owner ? 'owner' : u.admin ? 'admin' : 'user';
  const notes = [!u.active && 'inactive', u.system && 'system', u.localOnly && 'local only', !u.linked && 'not logged in yet (admin at first login)'].filter(Boolean).join(', ');
  return [u.username ?? '-', u.name ?? '-', role, mfaText(u.mfa), notes];
}

const listCommand: CommandModule<GlobalArgs, GlobalArgs & { source?: string; all?: boolean }> = {
  command: 'list [source]',
  describe: 'List the users and their logins, owner/admin, MFA',
  builder: (y) => withSourceArg(y).option('all', { type: 'boolean', describe: 'include system users (Supervisor, ...)' }) as never,
  handler: async (argv) => {
    const { authList } = await import('../../actions/auth.js');
    const list = await withArgsSource(argv, async (s) => {
      for (const w of s.warnings) warn(w);
      return authList(s);
    });
    const users = list.users.filter((u) => argv.all || !u.system);
    for (const w of list.warnings) warn(w.message);
    if (argv.json) {
      await printJson(users.map(({ username, name, owner, admin, active, system, localOnly, mfa }) => ({ username, name, owner, admin, active, system, localOnly, mfa })));
      return;
    }
    const rows = [['login', 'name', 'role', 'MFA', 'notes'], ...users.map(userRow)];
    await writeOut(`${table(rows)}\n`);
    if (list.mode === 'legacy') await writeOut('\nLogin names are matched exactly (this Home Assistant still uses the legacy mode: one stored name is not lower-case).\n');
  },
};

async function resolvePassword(argv: WriteArgs): Promise<string> {
  if (argv.password !== undefined && argv.passwordStdin) throw new UsageError('USAGE', 'give --password or --password-stdin, not both');
  if (argv.password !== undefined) {
    if (argv.password === '') throw new UsageError('EMPTY_PASSWORD', 'the password is empty; nothing was written', { hint: 'give the new password after --password, or leave --password out to be asked for it (nothing shows while typing)' });
    return argv.password;
  }
  if (argv.passwordStdin) return passwordFromStdin();
  return askNewPassword(argv.username);
}

async function report(r: AuthWriteResult, what: string, json: boolean | undefined, medium: Medium): Promise<void> {
  if (json) return printJson(r);
  const lines: string[] = [...r.notes];
  if (r.dryRun) {
    lines.push(`Dry run: nothing was written. ${what} would rewrite:`);
    for (const f of r.files) lines.push(`  ${f.path} (${f.oldSize} -> ${f.newSize} bytes, inside its own blocks)`);
    lines.push('It was rehearsed in memory and read back: the new password verifies.');
    const replay = replayFirstLine(r);
    if (replay !== null) lines.push(replay);
  } else {
    if (r.journalReplayedOntoCard) lines.push(`Replayed the card's journal first (${r.journalReplayedOntoCard.transactions} transaction(s)).`);
    lines.push(`${what}: done, read back from ${medium.the} and verified.`);
    if (r.originalsDir) lines.push(`  originals saved in ${r.originalsDir}`);
    lines.push(r.journaled ? `  written through journal transaction ${r.transaction} (${r.blocks} blocks)` : `  written in place (${r.blocks} blocks; this filesystem has no journal)`);
  }
  await writeOut(`${lines.join('\n')}\n`);
}

function writeBuilder(y: Argv<GlobalArgs>) {
  return withWriteOptions(
    withSourceArg(y)
      .option('username', { alias: 'u', type: 'string', demandOption: true, describe: 'the login name' })
      .option('password', { type: 'string', describe: 'the new password (visible in your shell history; prefer the prompt)' })
      .option('password-stdin', { type: 'boolean', describe: 'read the password from the first line of standard input' }),
  );
}

const resetCommand: CommandModule<GlobalArgs, WriteArgs> = {
  command: 'reset [source]',
  describe: 'Set a new password for a login (and, with --disable-mfa, switch off its TOTP)',
  builder: (y) => writeBuilder(y).option('disable-mfa', { type: 'boolean', describe: 'remove the user\'s TOTP secret so the password alone logs in' }) as never,
  handler: async (argv) => {
    const { loginNextStep, resetLogin } = await import('../../actions/gui/plans.js');
    const { resetPassword } = await import('../../actions/auth.js');
    const options = writeOptions(argv);
    const password = await resolvePassword(argv);
    let medium = CARD;
    const r = await withArgsSource(argv, (s) => {
      medium = mediumOf(s);
      return resetPassword(s, { username: argv.username, password, disableMfa: argv.disableMfa ?? false }, options);
    });
    await report(r, `Password of ${r.username}${r.mfaDisabled ? ' reset and TOTP switched off' : ' reset'}`, argv.json, medium);
    if (argv.disableMfa && !r.mfaDisabled && !argv.json) await writeOut(`TOTP was not on for ${r.username}: nothing to switch off.\n`);
    if (!argv.json && !r.dryRun) await writeOut(`${loginNextStep(resetLogin(r.username, r.mfaKept), medium)}\n`);
  },
};

const addCommand: CommandModule<GlobalArgs, WriteArgs> = {
  command: 'add [source]',
  describe: 'Add a password login; Home Assistant makes it an administrator (not the owner) at first login',
  builder: (y) => writeBuilder(y) as never,
  handler: async (argv) => {
    const { addedLogin, loginNextStep } = await import('../../actions/gui/plans.js');
    const { addUser } = await import('../../actions/auth.js');
    const options = writeOptions(argv);
    const password = await resolvePassword(argv);
    let medium = CARD;
    const r = await withArgsSource(argv, (s) => {
      medium = mediumOf(s);
      return addUser(s, { username: argv.username, password }, options);
    });
    await report(r, `Login ${r.username} added`, argv.json, medium);
    if (!argv.json && !r.dryRun) await writeOut(`${loginNextStep(addedLogin(r.username), medium)}\n`);
  },
};

export const authCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'auth <command>',
  describe: 'Users: list them, reset a password, add an administrator login, switch off TOTP',
  builder: (y) => y.command(listCommand as never).command(resetCommand as never).command(addCommand as never).demandCommand(1, 'name an auth command: list, reset or add'),
  handler: () => undefined,
};

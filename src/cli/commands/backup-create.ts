// `backup create SOURCE --out FILE.tar`: a restorable backup built from the card's live data. Encrypted
// by default with the card's own backup key (so the owner's emergency kit opens it), or --password.

import type { CommandModule } from 'yargs';
import type { SecureTarKey } from '../../actions/backup/index.js';
import { AppError, ExitCode, UsageError } from '../../errors.js';
import { printJson, warn, writeOut } from '../output.js';
import { stoppable, terminalProgress } from '../progress.js';
import { formatBytes } from '../render.js';
import { type PasswordArgs, backupActions, givenPassword, withPasswordOptions } from './backup-inside.js';
import { type GlobalArgs, withArgsSource, withSourceArg } from './common.js';

type CreateArgs = GlobalArgs & PasswordArgs & { source?: string; out: string; name?: string; encrypt?: boolean; excludeDb?: boolean; force?: boolean; securetar?: number };

export const createCommand: CommandModule<GlobalArgs, CreateArgs> = {
  command: 'create [source]',
  describe: "Build a backup Home Assistant can restore from the card's live data (config, add-ons, folders)",
  builder: (y) =>
    withPasswordOptions(withSourceArg(y))
      .option('out', { type: 'string', demandOption: true, describe: 'the backup file to write (FILE.tar)' })
      .option('name', { type: 'string', describe: 'the name Home Assistant shows for the backup' })
      .option('encrypt', { type: 'boolean', default: true, describe: "encrypt with the card's backup key (or --password); --no-encrypt for a plain backup" })
      .option('securetar', { type: 'number', choices: [2, 3], describe: "SecureTar version (default: the one the card's Home Assistant version restores)" })
      .option('exclude-db', { type: 'boolean', describe: 'leave out the history database (home-assistant_v2.db)' })
      .option('force', { type: 'boolean', describe: 'replace --out if it exists' }) as never,
  handler: async (argv) => {
    const { SecureTarKey, createBackup, readBackupKey, storedDifferently } = await backupActions();
    const password = await givenPassword(argv);
    if (!argv.encrypt && password !== null) throw new UsageError('USAGE', '--no-encrypt and a password do not go together', { hint: 'leave out one of them' });
    const progress = process.stderr.isTTY === true && !argv.json ? terminalProgress('files') : null;
    const result = await stoppable(() => withArgsSource(argv, async (s) => {
      if (!argv.json) for (const w of s.warnings) warn(w);
      let key: SecureTarKey | null = null;
      if (argv.encrypt) {
        // Why the card gives no key, as it is: a damaged store was said as "stores no backup key".
        const stored = password !== null ? null : await readBackupKey(s).catch((err: unknown) => (err instanceof AppError ? err : null));
        // A read that failed (an image cut short, a failing card) or no configuration at all: said as itself; a
        // password would not help ("give --password", and then the same read failed further on).
        if (stored instanceof AppError && stored.code !== 'NO_BACKUP_STORE' && stored.exitCode !== ExitCode.CORRUPT) throw stored;
        const pw = password ?? (stored instanceof AppError ? null : (stored?.key ?? null));
        if (pw === null) {
          const why = stored instanceof AppError ? `the card's backup key cannot be read (${stored.message})` : (stored?.message ?? 'the card stores no backup key');
          throw new UsageError('NO_BACKUP_KEY', `the new backup has no key to be encrypted with: ${why}`, {
            hint: 'give --password (Home Assistant asks for it at restore), or --no-encrypt for a plain backup',
          });
        }
        key = new SecureTarKey(pw);
      }
      return createBackup(s, {
        out: argv.out,
        key,
        ...(argv.name !== undefined ? { name: argv.name } : {}),
        ...(argv.securetar !== undefined ? { secureTarVersion: argv.securetar as 2 | 3 } : {}),
        excludeDb: argv.excludeDb ?? false,
        force: argv.force ?? false,
        ...(progress ? { onProgress: progress.update } : {}),
      });
    })).finally(() => progress?.end());
    if (argv.json) await printJson(result);
    else {
      const lines = [`${result.out}  ${formatBytes(result.size)}  slug ${result.slug}  "${result.name}"`];
      lines.push(`Home Assistant ${result.homeAssistantVersion}; ${result.protected ? `encrypted (SecureTar v${result.secureTarVersion}${password === null ? ", the card's backup key" : ''})` : 'not encrypted'}`);
      for (const i of result.inners) lines.push(`  ${i.member}  ${i.files} files, ${formatBytes(i.bytes)} -> ${formatBytes(i.size)}`);
      lines.push(...storedDifferently(result));
      for (const k of result.skipped) lines.push(`left out: ${k.path}: ${k.reason}`);
      // A partial backup is not offered for restoring as if whole (the error below says what it lacks).
      if (result.skipped.length === 0) lines.push('Restore it in Home Assistant: onboarding "Restore from backup", or copy it to /backup (Settings > System > Backups).');
      await writeOut(`${lines.join('\n')}\n`);
    }
    if (result.skipped.length > 0) {
      throw new AppError('PARTIAL', 65, `the backup is partial: ${result.skipped.length} file(s) could not be read and were left out`, { hint: 'the card may be failing: image it first (haos-rescue image) and build the backup from the image' });
    }
  },
};

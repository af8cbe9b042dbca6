// `haos-rescue backup key SOURCE`: print the backup encryption key Home Assistant stores.

import type { CommandModule } from 'yargs';
import { readBackupKey } from '../../actions/backup/index.js';
import { extractBackups } from '../../actions/backup/index.js';
import { type BackupEntry, listBackups } from '../../actions/backup/index.js';
import { AppError } from '../../errors.js';
import { printJson, warn, writeOut } from '../output.js';
import { formatBytes, table } from '../render.js';
import { terminalProgress } from '../progress.js';
import { type GlobalArgs, withArgsSource, withSourceArg } from './common.js';

const keyCommand: CommandModule<GlobalArgs, GlobalArgs & { source?: string }> = {
  command: 'key [source]',
  describe: 'Print the encryption key of the automatic backups (Settings > System > Backups)',
  builder: (y) => withSourceArg(y) as never,
  handler: async (argv) => {
    const key = await withArgsSource(argv, async (s) => {
      if (!argv.json) for (const w of s.warnings) warn(w);
      return readBackupKey(s);
    });
    if (argv.json) {
      await printJson(key);
      return;
    }
    if (key.key === null) {
      await writeOut(`No backup encryption key is stored. ${key.message}\n`);
      return;
    }
    const lines = [key.key, '', 'This is the key Home Assistant asks for when you restore one of its encrypted backups.'];
    if (key.unprotectedAgents.length > 0) lines.push(`Backups kept in ${key.unprotectedAgents.join(', ')} are not encrypted and need no key.`);
    await writeOut(`${lines.join('\n')}\n`);
  },
};

function localTime(iso: string | undefined): string {
  if (!iso) return '-';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function render(list: BackupEntry[]): string {
  const good = list.filter((b) => !b.error);
  const bad = list.filter((b) => b.error);
  const lines: string[] = [];
  if (good.length > 0) {
    const rows = [['date (local)', 'name', 'slug', 'type', 'size', 'HA', 'protected', 'file']];
    for (const b of good) {
      rows.push([localTime(b.date), b.name ?? '-', b.slug ?? '-', b.type ?? '-', formatBytes(b.size), b.homeAssistantVersion ?? '-', b.protected ? 'yes' : 'no', b.path]);
    }
    lines.push(table(rows, [4]));
  } else {
    lines.push('No readable backups found.');
  }
  if (bad.length > 0) {
    lines.push('', 'Files that are not usable backups:');
    for (const b of bad) lines.push(`  ${b.path} (${formatBytes(b.size)}): ${b.error}`);
  }
  return `${lines.join('\n')}\n`;
}

const listCommand: CommandModule<GlobalArgs, GlobalArgs & { source?: string }> = {
  command: 'list [source]',
  describe: 'List the backups on the card with their name, date, type, size and Home Assistant version',
  builder: (y) => withSourceArg(y) as never,
  handler: async (argv) => {
    const list = await withArgsSource(argv, async (s) => {
      if (!argv.json) for (const w of s.warnings) warn(w);
      return listBackups(s);
    });
    if (argv.json) await printJson(list);
    else await writeOut(render(list));
  },
};

type ExtractArgs = GlobalArgs & { source?: string; out: string; slug?: string[]; force?: boolean };

const extractCommand: CommandModule<GlobalArgs, ExtractArgs> = {
  command: 'extract [source]',
  describe: 'Copy backups off the card, verified by size and SHA-256 (default: all of them)',
  builder: (y) =>
    withSourceArg(y)
      .option('out', { type: 'string', demandOption: true, describe: 'folder on this computer to copy the backups into' })
      .option('slug', { type: 'string', array: true, describe: 'only the backup(s) with this slug (see backup list)' })
      .option('force', { type: 'boolean', describe: 'replace files that already exist in --out' }) as never,
  handler: async (argv) => {
    const progress = process.stderr.isTTY === true && !argv.json ? terminalProgress('backups') : null;
    const result = await withArgsSource(argv, async (s) => {
      if (!argv.json) for (const w of s.warnings) warn(w);
      return extractBackups(s, {
        outDir: argv.out,
        ...(argv.slug ? { slugs: argv.slug } : {}),
        force: argv.force ?? false,
        ...(progress ? { onProgress: progress.update } : {}),
      });
    }).finally(() => progress?.end());
    if (argv.json) await printJson(result);
    else {
      const lines = result.extracted.map((e) => `${e.out}  ${formatBytes(e.size)}  sha256 ${e.sha256}`);
      lines.push(`${result.extracted.length} backup(s) copied to ${result.outDir}.`);
      for (const f of result.failed) lines.push(`could not copy ${f.path}: ${f.reason}`);
      await writeOut(`${lines.join('\n')}\n`);
    }
    if (result.failed.length > 0) {
      throw new AppError('PARTIAL', 65, `${result.failed.length} backup(s) could not be copied; the others are complete`, { hint: 'the card may be failing: make an image of it before trying again' });
    }
  },
};

export const backupCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'backup <command>',
  describe: 'Backups: list them, copy them off the card, show the stored encryption key',
  builder: (y) => y.command(listCommand as never).command(extractCommand as never).command(keyCommand as never).demandCommand(1, 'name a backup command: list, extract or key'),
  handler: () => undefined,
};

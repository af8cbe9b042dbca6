// `haos-rescue backup key SOURCE`: print the backup encryption key Home Assistant stores.

import { shellWord } from '../../shell-word.js';
import type { CommandModule } from 'yargs';
import type { BackupEntry } from '../../actions/backup/index.js';
import { AppError, RefusedError, UsageError } from '../../errors.js';
import { createCommand } from './backup-create.js';
import { type PasswordArgs, backupActions, catInsideCommand, lsCommand, withBackupArgs } from './backup-inside.js';
import { printJson, warn, writeOut } from '../output.js';
import { formatBytes, localTime, table } from '../render.js';
import { stoppable, terminalProgress } from '../progress.js';
import { clipped, oneLine } from '../visible.js';
import { type GlobalArgs, withArgsSource, withSourceArg } from './common.js';

const keyCommand: CommandModule<GlobalArgs, GlobalArgs & { source?: string }> = {
  command: 'key [source]',
  describe: 'Print the encryption key of the automatic backups (Settings > System > Backups), and which of the card\'s encrypted backups it opens',
  builder: (y) => withSourceArg(y) as never,
  handler: async (argv) => {
    const [{ keyOpens, keyReachText, readBackupKey }, { unprotectedText }] = await Promise.all([backupActions(), import('../../ha/backup-key.js')]);
    const { key, reach } = await withArgsSource(argv, async (s) => {
      if (!argv.json) for (const w of s.warnings) warn(w);
      const stored = await readBackupKey(s);
      return { key: stored, reach: stored.key === null ? null : await keyOpens(s, stored.key) };
    });
    if (argv.json) {
      await printJson({ ...key, opens: reach });
      return;
    }
    if (key.key === null) {
      await writeOut(`${key.message.charAt(0).toUpperCase()}${key.message.slice(1)}.\n`);
      return;
    }
    const lines = [key.key, '', 'This is the key Home Assistant asks for when you restore one of its encrypted backups.'];
    const opens = reach === null ? null : keyReachText(reach);
    if (opens !== null) lines.push(opens);
    const plain = unprotectedText(key.unprotectedAgents);
    if (plain !== null) lines.push(plain);
    await writeOut(`${lines.join('\n')}\n`);
  },
};

/** The widest a backup's name is shown (a 5,000-character name in backup.json widened every row). */
const NAME_COLUMN = 48;

function render(list: BackupEntry[]): string {
  const good = list.filter((b) => !b.error);
  const bad = list.filter((b) => b.error);
  const lines: string[] = [];
  if (good.length > 0) {
    const rows = [['date (local)', 'name', 'slug', 'type', 'size', 'HA', 'protected', 'file']];
    for (const b of good) {
      rows.push([localTime(b.date), clipped(b.name ?? '-', NAME_COLUMN), oneLine(b.slug ?? '-'), clipped(b.type ?? '-', 12), formatBytes(b.size), clipped(b.homeAssistantVersion ?? '-', 16), b.protected ? 'yes' : 'no', oneLine(b.path)]);
    }
    lines.push(table(rows, [4]));
  } else {
    lines.push('No readable backups found.');
  }
  const damaged = good.filter((b) => b.damaged !== undefined);
  if (damaged.length > 0) {
    lines.push('', 'Damaged (Home Assistant cannot restore them; what comes before the damage can still be read with backup ls):');
    for (const b of damaged) lines.push(`  ${oneLine(b.path)} (${formatBytes(b.size)}): ${oneLine(b.damaged!)}`);
  }
  // What Home Assistant makes of a backup that reads well here (backup.json without './': not listed there).
  const warned = good.filter((b) => b.warnings !== undefined && b.warnings.length > 0);
  if (warned.length > 0) {
    lines.push('', 'Read here, but Home Assistant will not take them as they are:');
    for (const b of warned) lines.push(`  ${oneLine(b.path)} (${formatBytes(b.size)}): ${oneLine(b.warnings!.join('; '))}`);
  }
  if (bad.length > 0) {
    lines.push('', 'Files that are not usable backups:');
    for (const b of bad) lines.push(`  ${oneLine(b.path)} (${formatBytes(b.size)}): ${oneLine(b.error ?? '')}`);
  }
  return `${lines.join('\n')}\n`;
}

const listCommand: CommandModule<GlobalArgs, GlobalArgs & { source?: string }> = {
  command: 'list [source]',
  describe: 'List the backups on the card with their name, date, type, size and Home Assistant version',
  builder: (y) => withSourceArg(y) as never,
  handler: async (argv) => {
    const { listBackups } = await backupActions();
    const list = await withArgsSource(argv, async (s) => {
      if (!argv.json) for (const w of s.warnings) warn(w);
      return listBackups(s);
    });
    if (argv.json) await printJson(list);
    else await writeOut(render(list));
  },
};

type ExtractArgs = GlobalArgs & PasswordArgs & { source?: string; out: string; slug?: string[]; force?: boolean; decrypt?: boolean; inner?: string[] };

async function unpack(argv: ExtractArgs): Promise<void> {
  if (argv.slug && argv.slug.length > 1) throw new UsageError('ONE_SLUG', '--decrypt unpacks one backup at a time: give one --slug');
  const { unpackBackup } = await backupActions();
  const progress = process.stderr.isTTY === true && !argv.json ? terminalProgress('files') : null;
  const result = await stoppable(() => withBackupArgs({ ...argv, slug: argv.slug?.[0] }, (t, key) =>
    unpackBackup(t, { outDir: argv.out, key, force: argv.force ?? false, ...(argv.inner ? { inners: argv.inner } : {}), ...(progress ? { onProgress: progress.update } : {}) }),
  ), argv.out).finally(() => progress?.end());
  if (argv.json) await printJson(result);
  else {
    const lines = result.inners.map((i) => `${oneLine(i.out)}  ${i.files} files, ${i.dirs} folders, ${i.links} links, ${formatBytes(i.bytes)}${i.complete ? '' : '  (incomplete)'}`);
    for (const r of result.renamed) lines.push(`renamed ${oneLine(r.path)} -> ${oneLine(r.as)}: ${r.reason}`);
    for (const k of result.skipped) lines.push(`not written: ${oneLine(k.path)}: ${oneLine(k.reason)}`);
    // A file's bytes before the damage are kept as .damaged; an archive's or the backup file's damage (0 bytes:
    // the files before it were written, counted above) had "(0 bytes kept)".
    for (const d of result.damaged) lines.push(`damaged: ${oneLine(d.path)}${d.bytesWritten > 0 ? ` (${formatBytes(d.bytesWritten)} kept as .damaged)` : ''}: ${oneLine(d.reason)}`);
    await writeOut(`${lines.join('\n')}\n`);
  }
  if (result.damaged.length > 0 || result.skipped.length > 0) {
    throw new AppError('PARTIAL', 65, `${result.damaged.length} damaged and ${result.skipped.length} refused member(s); everything else is in ${result.outDir}`, {
      hint: result.damaged.length ? 'the backup file is damaged: the files before the damage were written' : refusedHint(result.skipped),
    });
  }
}

/** Why members were not written, and the way to what this computer's disk could not hold. */
function refusedHint(skipped: Array<{ reason: string }>): string {
  const here = skipped.filter((k) => k.reason.startsWith('could not be written here')).length;
  const unsafe = skipped.length - here;
  return [
    ...(unsafe > 0 ? ['members that would have been written outside the folder, and special files, are never written'] : []),
    ...(here > 0 ? ["a member this computer's disk cannot hold as named (a name too long, a file where a folder is) can be read with: haos-rescue backup cat SOURCE PATH > FILE"] : []),
  ].join('; ');
}

const extractCommand: CommandModule<GlobalArgs, ExtractArgs> = {
  command: 'extract [source]',
  describe: 'Copy backups off the card, each checked for its size, with the SHA-256 of the copy (default: all of them)',
  builder: (y) =>
    withSourceArg(y)
      .option('out', { type: 'string', demandOption: true, describe: 'folder on this computer to copy the backups into' })
      .option('slug', { type: 'string', array: true, describe: 'only the backup(s) with this slug (see backup list)' })
      .option('force', { type: 'boolean', describe: 'replace files that already exist in --out (a copy an earlier run made is kept without it)' })
      .option('decrypt', { type: 'boolean', describe: "unpack the backup's plain files into --out/<archive>/ (decrypted with the card's key or --password)" })
      .option('inner', { type: 'string', array: true, describe: 'with --decrypt: only these archives (homeassistant, share, an add-on slug)' })
      .option('password', { type: 'string', describe: "with --decrypt: the backup's password or key (default: the key stored on the card)" })
      .option('password-stdin', { type: 'boolean', describe: 'with --decrypt: read the password from standard input' }) as never,
  handler: async (argv) => {
    if (argv.decrypt) return unpack(argv);
    const [{ copiedSummary, extractBackups, isBackupFile }, { TOO_BIG_HINT }] = await Promise.all([backupActions(), import('../../actions/output-fs.js')]);
    if (argv.inner || argv.password !== undefined || argv.passwordStdin) throw new UsageError('NEEDS_DECRYPT', '--inner and --password go with --decrypt', { hint: 'add --decrypt to unpack the plain files' });
    // A backup file on this computer, copied as it is, would only be a copy of it: unpacking it is what was meant.
    if (argv.source && (await isBackupFile(argv.source))) {
      throw new UsageError('BACKUP_FILE_NEEDS_DECRYPT', `${argv.source} is a backup file, not a card: without --decrypt there is nothing to copy off it`, {
        hint: `to unpack its files (decrypted): haos-rescue backup extract ${shellWord(argv.source)} --decrypt --out ${shellWord(argv.out)}; to see what it holds: haos-rescue backup ls ${shellWord(argv.source)}`,
      });
    }
    const progress = process.stderr.isTTY === true && !argv.json ? terminalProgress('backups') : null;
    let sourcePath = argv.source ?? '';
    const result = await stoppable(() => withArgsSource(argv, async (s) => {
      if (!argv.json) for (const w of s.warnings) warn(w);
      sourcePath = s.path;
      return extractBackups(s, {
        outDir: argv.out,
        ...(argv.slug ? { slugs: argv.slug } : {}),
        force: argv.force ?? false,
        ...(progress ? { onProgress: progress.update } : {}),
      });
    }), argv.out, true).finally(() => progress?.end());
    if (argv.json) await printJson(result);
    else {
      // A name from the card stays on its line (`backup list` writes a newline in one as \n; this split it).
      const lines = (result.leftovers ?? []).map((l) => `removed ${oneLine(l)}: an unfinished copy a stopped run left`);
      lines.push(...result.extracted.map((e) => `${oneLine(e.out)}  ${formatBytes(e.size)}  sha256 ${e.sha256}${e.earlier ? '  (copied earlier: kept by its size and time, not read off the card again)' : ''}`));
      lines.push(...copiedSummary(result).map(oneLine));
      for (const f of result.failed) lines.push(`could not copy ${oneLine(f.path)}: ${oneLine(f.reason)}`);
      await writeOut(`${lines.join('\n')}\n`);
    }
    if (result.failed.length > 0 && result.failed.every((f) => f.tooBig)) {
      throw new RefusedError('OUTPUT_FILE_TOO_BIG', `${result.failed.length} backup(s) were not copied: bigger than the disk of --out holds in one file`, { hint: result.extracted.length > 0 ? `the others are complete; for those, ${TOO_BIG_HINT}` : TOO_BIG_HINT });
    }
    if (result.failed.length > 0) {
      // What the failures say to do (copy the card into the image again, for an image read with its map),
      // when they agree; else the usual advice for a card that fails reads.
      const hints = new Set(result.failed.map((f) => f.hint));
      // Damage in the filesystem (a file's extent tree) is no failing card: said as damage (it said "may be failing").
      const damaged = !result.failed.some((f) => f.cardRead);
      const usual = damaged ? 'the filesystem is damaged where they lie; the box can often repair it at its next start with the card marked for a full check (or e2fsck on a copy of the card)' : 'the card may be failing: make an image of it before trying again';
      const hint = hints.size === 1 && result.failed[0]!.hint ? result.failed[0]!.hint : usual;
      // The files inside such a backup before the unreadable part can still be had (a copy of the file cannot).
      const salvage = result.failed.find((f) => f.slug !== undefined);
      const unpack = salvage ? `; the files of a backup before its unreadable part can still be unpacked: haos-rescue backup extract ${shellWord(sourcePath)} --slug ${salvage.slug} --decrypt --out FOLDER` : '';
      throw new AppError('PARTIAL', 65, `${result.failed.length} backup(s) could not be copied; the others are complete`, { hint: `${hint}${unpack}`, ...(hint === usual && damaged ? { remedy: 'check-at-start' as const } : {}) });
    }
  },
};

export const backupCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'backup <command>',
  describe: 'Backups: list them, look inside, copy or unpack them, show the stored key, build one from the card',
  builder: (y) =>
    y
      .command(listCommand as never)
      .command(lsCommand as never)
      .command(catInsideCommand as never)
      .command(extractCommand as never)
      .command(keyCommand as never)
      .command(createCommand as never)
      .demandCommand(1, 'name a backup command: list, ls, cat, extract, key or create'),
  handler: () => undefined,
};

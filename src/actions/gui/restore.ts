// The window's "Put back a file from a backup": the configuration files of one of the card's backups that
// differ from the card's (POST /api/backup-files; its password in the body when the card's backup key does
// not open it), and the file chosen, for the plan and the write (writes.ts). The password or key that opened
// a backup is kept for the session, by its slug, so that the plan and the write need none; it is forgotten
// when another card is opened.

import { UsageError } from '../../errors.js';
import { readBackupKey, withTypedKey } from '../backup/index.js';
import { openListedBackup } from '../backup/open.js';
import { type BackupConfigFile, backupsWithConfig, configFilesInBackup } from '../repair/index.js';
import type { OpenedSource } from '../source.js';
import { formatBytes } from '../../units.js';
import type { BackupFilesAnswer } from './api.js';
import { type GuiContext, asBody, text } from './context.js';

/** A backup of the card by slug, with the files of its configuration folder. */
async function readFiles(ctx: GuiContext, source: OpenedSource, slug: string, password: string) {
  const chosen = (await backupsWithConfig(source)).find((b) => b.slug === slug);
  if (!chosen) throw new UsageError('NO_SUCH_BACKUP', `no backup with Home Assistant in it has the slug ${slug} on this card`, { hint: 'choose one from the list' });
  const target = await openListedBackup(source, chosen);
  const key = password || ctx.backupKeys.get(slug) || ((await readBackupKey(source).catch(() => null))?.key ?? '');
  // A key typed in small letters or with spaces opens as the kit writes it; that form is kept for the put back.
  let used = key;
  const found = key === '' ? await configFilesInBackup(source, target, null) : await withTypedKey(key, (k) => configFilesInBackup(source, target, k), (kit) => (used = kit));
  if (used !== '') ctx.backupKeys.set(slug, used);
  return { chosen, found };
}

export async function backupFiles(ctx: GuiContext, raw: unknown): Promise<BackupFilesAnswer> {
  const body = asBody(raw);
  const slug = text(body, 'slug', { max: 64 });
  const { chosen, found } = await readFiles(ctx, ctx.source, slug, text(body, 'password', { optional: true, max: 1024 }));
  const differ = found.files.filter((f) => f.onCard !== 'same');
  return {
    backup: `"${chosen.name ?? slug}"`,
    files: differ.map((f) => ({ name: f.name, sizeText: formatBytes(f.bytes.length), onCard: f.onCard as 'differs' | 'missing', cardSizeText: f.cardBytes === null ? null : formatBytes(f.cardBytes) })),
    same: found.files.length - differ.length,
    damage: found.damage?.message ?? null,
  };
}

/** The file `name` of backup `slug`, as it is now (read again: the card may have changed since it was listed). */
export async function fileFromBackup(ctx: GuiContext, source: OpenedSource, slug: string, name: string): Promise<{ file: BackupConfigFile; backup: string }> {
  const { chosen, found } = await readFiles(ctx, source, slug, '');
  const file = found.files.find((f) => f.name === name);
  if (!file) throw new UsageError('NOT_IN_BACKUP', `${name} is not among the configuration files of this backup`, { hint: 'choose one from the list; nothing was written' });
  if (file.onCard === 'same') throw new UsageError('SAME_AS_CARD', `${name} on the card is the same as in the backup already; nothing was written`, { hint: 'nothing to put back' });
  return { file, backup: `"${chosen.name ?? slug}"` };
}

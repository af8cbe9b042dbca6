// Which of the card's encrypted backups its stored key opens. The key screen said what the key is for, but
// not whether it opens the backups there: one made with a password of its own (or on another installation)
// needs that password, and an owner learnt it only at the restore. Each backup is checked as a restore
// starts: its first encrypted archive's first piece decrypted (v3: one key derivation per backup, ~0.2 s).

import { AppError } from '../../errors.js';
import { SecureTarKey, innerEncryption, keyRefusal, storedAs } from '../../ha/backup-inner.js';
import type { OpenedSource } from '../source.js';
import { type BackupEntry, listBackups } from './list.js';
import { type BackupTarget, openListedBackup } from './open.js';

/** The newest encrypted backups checked; older ones are counted, not checked (each v3 one costs a derivation). */
export const MAX_CHECKED = 20;

export interface BackupRef {
  name: string;
  date: string | null;
  path: string;
}

export interface KeyReach {
  /** Encrypted backups on the card (readable ones). */
  encrypted: number;
  /** How many of them were checked (the newest first). */
  checked: number;
  opens: BackupRef[];
  /** Made with another key or a password of their own. */
  other: BackupRef[];
  /** Could not be checked: damaged, unreadable. */
  unchecked: Array<BackupRef & { why: string }>;
}

export async function keyOpens(src: OpenedSource, key: string, max = MAX_CHECKED): Promise<KeyReach> {
  const encrypted = (await listBackups(src)).filter((b) => !b.error && b.protected === true);
  encrypted.sort((a, b) => String(b.date ?? '').localeCompare(String(a.date ?? '')));
  const reach: KeyReach = { encrypted: encrypted.length, checked: 0, opens: [], other: [], unchecked: [] };
  const secret = new SecureTarKey(key);
  for (const entry of encrypted.slice(0, max)) {
    reach.checked++;
    const ref = { name: entry.name ?? entry.file ?? entry.path, date: entry.date ?? null, path: entry.path };
    const verdict = await tryKey(src, entry, secret);
    if (verdict === 'opens') reach.opens.push(ref);
    else if (verdict === 'other') reach.other.push(ref);
    else reach.unchecked.push({ ...ref, why: verdict.why });
  }
  return reach;
}

/** Why `key` does not open the first encrypted archive of the backup (WRONG_PASSWORD), or null (it opens, or none is encrypted). */
export async function keyRefusedBy(target: BackupTarget, key: SecureTarKey): Promise<AppError | null> {
  for (const inner of target.archive.inners) {
    // An archive of a SecureTar version this tool does not read says nothing of the key (the listing shows it).
    const { encrypted, unreadable } = await storedAs(target.read, inner);
    if (encrypted && unreadable === null) return keyRefusal(target.read, inner, key);
  }
  return null;
}

/** Whether `key` opens the first encrypted archive of `entry`. */
async function tryKey(src: OpenedSource, entry: BackupEntry, key: SecureTarKey): Promise<'opens' | 'other' | { why: string }> {
  try {
    const target = await openListedBackup(src, entry);
    for (const inner of target.archive.inners) {
      if (!(await innerEncryption(target.read, inner)).encrypted) continue;
      return (await keyRefusal(target.read, inner, key)) === null ? 'opens' : 'other';
    }
    return { why: 'no encrypted archive in it' };
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    return { why: err.message };
  }
}

/** What the key opens, in a sentence or two; null when the card has no encrypted backup. */
export function keyReachText(r: KeyReach): string | null {
  if (r.encrypted === 0) return null;
  const named = (list: BackupRef[]): string => list.map((b) => `"${b.name}"${b.date ? ` (${b.date.slice(0, 10)})` : ''}`).join(', ');
  const of = r.checked < r.encrypted ? ` (the ${r.checked} newest of the ${r.encrypted} checked)` : '';
  const n = r.checked;
  const lines: string[] = [];
  const other = 'made with another key (another installation) or with a password typed when they were made: that one restores them';
  if (r.opens.length === n) lines.push(n === 1 ? `It opens the encrypted backup on this card${of}.` : `It opens all ${n} encrypted backups on this card${of}.`);
  else if (r.opens.length === 0 && r.other.length === n) lines.push(`It opens none of the ${n === 1 ? 'encrypted backup' : `${n} encrypted backups`} on this card${of}: ${n === 1 ? 'it was' : 'they were'} ${other}.`);
  else {
    if (r.opens.length > 0) lines.push(`It opens ${named(r.opens)}${of}.`);
    if (r.other.length > 0) lines.push(`It does not open ${named(r.other)}: ${other}.`);
  }
  if (r.unchecked.length > 0) lines.push(`Could not be checked: ${r.unchecked.map((b) => `"${b.name}" (${b.why})`).join(', ')}.`);
  return lines.join(' ');
}

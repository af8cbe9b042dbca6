// The two ways opening an encrypted inner archive fails: the password does not fit (WRONG_PASSWORD, exit 77,
// raised before any plaintext is handed out), or the bytes are damaged (BACKUP_DAMAGED, exit 65, raised after
// every good byte before the damage was handed out). `damage` in the details is one of the names below, so
// callers can tell the kinds apart without reading the message.

import { AppError, CorruptError, ExitCode } from '../../errors.js';
import type { SecureTarVersion } from './header.js';

export type Damage =
  | 'cut short'
  | 'authentication failed (tampered or corrupt)'
  | 'missing final tag'
  | 'unexpected final tag'
  | 'ciphertext too short'
  | 'bad padding'
  | 'plaintext size differs from the header'
  | 'invalid header';

// Home Assistant is not running when this is read: its Settings page cannot be opened, the card's key can.
export const WRONG_PASSWORD_HINT =
  'give the backup encryption key: the one the card of the Home Assistant that made it stores (shown by "backup key", or "Show the backup encryption key"), the one in the emergency kit (XXXX-XXXX-...), or the password used when the backup was made';

export function wrongPassword(version: SecureTarVersion, why: string): AppError {
  return new AppError('WRONG_PASSWORD', ExitCode.REFUSED, `the password or backup key does not open this backup (SecureTar v${version}: ${why})`, {
    hint: WRONG_PASSWORD_HINT,
    details: { version },
  });
}

/** BACKUP_DAMAGED: `detail` says where, with the numbers. */
export function damaged(
  version: SecureTarVersion | null,
  deliveredBytes: number,
  damage: Damage,
  detail: string,
  extra: Record<string, unknown> = {},
): CorruptError {
  const v = version === null ? '' : ` v${version}`;
  return new CorruptError('BACKUP_DAMAGED', `encrypted archive damaged (SecureTar${v}): ${damage}: ${detail}`, {
    details: { version, deliveredBytes, damage, ...extra },
    // The backup file's damage, not the card's filesystem's (the default hint spoke of e2fsck).
    hint: deliveredBytes > 0
      ? `the ${deliveredBytes} bytes before the damage were recovered; the backup file was cut short or changed: take what is missing from another backup if there is one`
      : 'the backup file was cut short or changed: take what you need from another backup if there is one',
  });
}

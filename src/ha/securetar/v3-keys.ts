// SecureTar v3 key derivation (haos-format.md §5.5; upstream KeyDerivationV3, SecureTarDerivedKeyMaterialV3):
//   root_key       = Argon2id(password UTF-8, root_salt, opslimit 8, memlimit 16 MiB) → 32 bytes
//                    (libsodium crypto_pwhash ARGON2ID13: t = 8, m = 16384 KiB, p = 1)
//   validation_key = BLAKE2b-256(message "", key root_key, salt validation_salt, personal "SecureTarv3")
//   file_key       = BLAKE2b-256(message "", key root_key, salt derivation_salt, personal "SecureTarv3")
// The personalization is zero-padded to BLAKE2b's 16 bytes, as PyNaCl does. validation_key is stored in the
// header: a password is right when it derives the same value. file_key keys the member's secretstream.

import { timingSafeEqual } from 'node:crypto';
import { sodium } from './sodium.js';

export const V3_OPSLIMIT = 8;
export const V3_MEMLIMIT_BYTES = 16 * 1024 * 1024;
export const V3_KEY_BYTES = 32;
export const V3_SALT_BYTES = 16;
const PERSONAL = Buffer.concat([Buffer.from('SecureTarv3', 'latin1'), Buffer.alloc(5)]);

export async function argon2idRootKey(password: Buffer, rootSalt: Buffer): Promise<Buffer> {
  const s = await sodium();
  return Buffer.from(s.crypto_pwhash(V3_KEY_BYTES, password, rootSalt, V3_OPSLIMIT, V3_MEMLIMIT_BYTES, s.crypto_pwhash_ALG_ARGON2ID13));
}

/** Keyed BLAKE2b with salt and the "SecureTarv3" personalization, empty message. */
export async function deriveV3Key(rootKey: Buffer, salt: Buffer): Promise<Buffer> {
  const s = await sodium();
  return Buffer.from(s.crypto_generichash_blake2b_salt_personal(V3_KEY_BYTES, rootKey, salt, PERSONAL));
}

/** True when `rootKey` derives the validation key stored in the header. */
export async function validatesV3(rootKey: Buffer, validationSalt: Buffer, storedValidationKey: Buffer): Promise<boolean> {
  const derived = await deriveV3Key(rootKey, validationSalt);
  return derived.length === storedValidationKey.length && timingSafeEqual(derived, storedValidationKey);
}

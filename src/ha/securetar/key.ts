// The key material of one password, shared by every inner archive of a backup (upstream
// SecureTarRootKeyContext). Everything is derived on first use and kept:
//   - the v1/v2 AES key (100 × SHA-256, cheap);
//   - v3 root keys per root_salt (Argon2id, ~0.1 s and 16 MiB each): a backup written by upstream has one
//     root_salt for all its members, so opening all of them costs one Argon2id;
//   - for writing v3: one root_salt, validation_salt and validation_key, reused by every member this key
//     encrypts, as upstream's context does (KeyDerivationV3.create runs once per context); each member still
//     gets its own derivation_salt and secretstream header.

import { randomBytes } from 'node:crypto';
import { UsageError } from '../../errors.js';
import { passwordToAesKey } from './aes-cbc.js';
import { argon2idRootKey, deriveV3Key, V3_SALT_BYTES } from './v3-keys.js';

/** The shared v3 fields of every member one SecureTarKey encrypts. */
export interface V3WriterContext {
  rootSalt: Buffer;
  validationSalt: Buffer;
  validationKey: Buffer;
  rootKey: Buffer;
}

/** Key material cache for one password: derives lazily, caches v1/v2 key and v3 root keys per root_salt. */
export class SecureTarKey {
  #password: Buffer | null;
  #aesKey: Buffer | null = null;
  readonly #rootKeys = new Map<string, Promise<Buffer>>();
  #writer: Promise<V3WriterContext> | null = null;

  constructor(password: string) {
    this.#password = Buffer.from(password, 'utf8');
  }

  /** A key made from the 16-byte AES key itself (v1/v2 only), as old callers of securetar passed it. */
  static fromRawKey(aesKey: Buffer): SecureTarKey {
    if (aesKey.length !== 16) throw new UsageError('SECURETAR_RAW_KEY', `a raw SecureTar key is 16 bytes, not ${aesKey.length}`);
    const key = new SecureTarKey('');
    key.#password = null;
    key.#aesKey = Buffer.from(aesKey);
    return key;
  }

  /** The AES-128 key of v1/v2 archives. */
  aesKey(): Buffer {
    this.#aesKey ??= passwordToAesKey(this.#needPassword());
    return this.#aesKey;
  }

  /** The v3 root key for an archive with this root_salt (Argon2id once per salt). */
  rootKeyV3(rootSalt: Buffer): Promise<Buffer> {
    const id = rootSalt.toString('hex');
    let key = this.#rootKeys.get(id);
    if (key === undefined) {
      key = argon2idRootKey(this.#needPassword(), rootSalt);
      this.#rootKeys.set(id, key);
      // A failed derivation is not cached: the next member tries again.
      key.catch(() => this.#rootKeys.delete(id));
    }
    return key;
  }

  /** The v3 fields every member written with this key shares. */
  writerV3(): Promise<V3WriterContext> {
    this.#writer ??= (async () => {
      const rootSalt = randomBytes(V3_SALT_BYTES);
      const validationSalt = randomBytes(V3_SALT_BYTES);
      const rootKey = await this.rootKeyV3(rootSalt);
      return { rootSalt, validationSalt, rootKey, validationKey: await deriveV3Key(rootKey, validationSalt) };
    })();
    return this.#writer;
  }

  #needPassword(): Buffer {
    if (this.#password === null) {
      throw new UsageError('SECURETAR_RAW_KEY', 'a raw 16-byte AES key opens SecureTar v1 and v2 archives only; v3 needs the password');
    }
    return this.#password;
  }
}

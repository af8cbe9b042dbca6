// libsodium (libsodium-wrappers-sumo: libsodium itself compiled to WebAssembly, the library upstream's PyNaCl
// wraps) for the SecureTar v3 primitives node:crypto lacks: Argon2id, keyed BLAKE2b with salt and
// personalization, HChaCha20 and Poly1305. Loaded on first use only: ~0.4 MB of JavaScript and WebAssembly that
// no command needs unless it opens a v3 archive.

import type sodiumModule from 'libsodium-wrappers-sumo';

export type Sodium = typeof sodiumModule;

let loading: Promise<Sodium> | null = null;

/** The initialised library (one instance per process). */
export function sodium(): Promise<Sodium> {
  loading ??= import('libsodium-wrappers-sumo').then(async (m) => {
    const lib = m.default;
    await lib.ready;
    return lib;
  });
  return loading;
}

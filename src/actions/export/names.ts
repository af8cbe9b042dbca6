// Output names for `export`: every component written under --out is checked here first, so nothing the
// image contains (control characters, "..", "/" in a damaged name, names Windows cannot hold) can steer a
// write outside the output folder or fail half-way.

import { displayName } from '../../ext4/path.js';

const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$/i;

export interface SafeName {
  /** The bytes to use for the name on this computer. */
  name: Buffer;
  /** Why the name was changed, or null when it is kept as is. */
  renamed: string | null;
}

function hasControl(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b < 0x20 || b === 0x7f) return true;
  return false;
}

/** A name a folder on this platform can hold, built from one raw directory-entry name. */
export function safeComponent(raw: Uint8Array, windows: boolean): SafeName {
  const bytes = Buffer.from(raw);
  if (bytes.length === 0) return { name: Buffer.from('_'), renamed: 'empty name' };
  if (bytes.equals(Buffer.from('.')) || bytes.equals(Buffer.from('..'))) {
    return { name: Buffer.from(`_${bytes.toString('latin1')}`), renamed: 'name "." or ".."' };
  }
  if (!windows) {
    if (bytes.includes(0x2f) || bytes.includes(0) || hasControl(bytes)) {
      const out = Buffer.from(bytes.map((b) => (b === 0x2f || b < 0x20 || b === 0x7f ? 0x5f : b)));
      return { name: out, renamed: 'name with "/", NUL or control characters' };
    }
    return { name: bytes, renamed: null };
  }
  const shown = displayName(bytes);
  let name = shown.replace(/[<>:"/\\|?*\u0000-\u001f\u007f]/g, '_');
  name = name.replace(/[. ]+$/, (m) => '_'.repeat(m.length));
  if (WINDOWS_RESERVED.test(name)) name = `_${name}`;
  const changed = name !== shown || shown !== bytes.toString('utf8') || !Buffer.from(shown, 'utf8').equals(bytes);
  return { name: Buffer.from(name, 'utf8'), renamed: changed ? 'name Windows cannot hold' : null };
}

/** Bytes a name may have in a folder: 255 on Linux and macOS (and at most 255 UTF-16 units on Windows). */
export const NAME_MAX = 255;

/**
 * `name` cut to at most `maxBytes` bytes without splitting a UTF-8 character (a byte that is not UTF-8
 * counts as one character).
 */
export function fitName(name: Buffer, maxBytes: number): Buffer {
  if (name.length <= maxBytes) return name;
  let end = maxBytes;
  // Step back over continuation bytes (10xxxxxx) so a multi-byte character is not split.
  while (end > 0 && (name[end]! & 0xc0) === 0x80) end--;
  return name.subarray(0, end);
}

/** A name inside a tar archive: UTF-8 text; bytes that are not UTF-8 are shown as \xNN (reported). */
export function archiveComponent(raw: Uint8Array): { name: string; renamed: string | null } {
  const shown = displayName(raw);
  if (shown === '' || shown === '.' || shown === '..') return { name: `_${shown}`, renamed: 'name "." or ".."' };
  if (shown.includes('/') || shown.includes('\0')) return { name: shown.replace(/[/\0]/g, '_'), renamed: 'name with "/" or NUL' };
  if (!Buffer.from(shown, 'utf8').equals(Buffer.from(raw))) return { name: shown, renamed: 'name is not UTF-8' };
  return { name: shown, renamed: null };
}

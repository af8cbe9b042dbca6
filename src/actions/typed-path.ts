// A path as people type or paste it: dragging a file into a terminal puts quotes around it (or, on macOS and
// Linux, a backslash before each space), Windows' "Copy as path" puts double quotes around it, and ~ stands
// for the home folder. Turned into the path meant. On Windows a backslash is the separator and stays.

import { homedir } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A file:// address (some file managers drag one), as the path it names; null when `text` is none. */
function fileUrlPath(text: string, platform: NodeJS.Platform): string | null {
  if (!/^file:\/\//i.test(text)) return null;
  try {
    return fileURLToPath(text, { windows: platform === 'win32' });
  } catch {
    return null;
  }
}

/**
 * A shell word quoted with single quotes, a quote inside written '\'' (how GNOME's terminal pastes a dragged
 * "It's card.img": 'It'\''s card.img'); null when it is not one.
 */
function singleQuoted(text: string): string | null {
  if (!/^'(?:[^']|'\\'')*'$/.test(text)) return null;
  return text.slice(1, -1).replace(/'\\''/g, "'");
}

/** Quotes around the whole path taken off, ~ turned into the home folder; not made absolute. */
export function pastedPath(text: string, platform: NodeJS.Platform = process.platform, home: string = homedir(), unescape = false): string {
  let p = text.trim();
  const url = fileUrlPath(p, platform);
  if (url !== null) return url;
  const quote = p[0];
  const shellWord = unescape && platform !== 'win32' ? singleQuoted(p) : null;
  if (shellWord !== null) p = shellWord;
  else if (p.length >= 2 && (quote === '"' || quote === "'") && p.endsWith(quote)) p = p.slice(1, -1);
  else if (unescape && platform !== 'win32') p = p.replace(/\\([ '"()&;!$`\\])/g, '$1');
  if (p === '~' || p.startsWith('~/') || (platform === 'win32' && p.startsWith('~\\'))) p = home + p.slice(1);
  return p;
}

/** A path typed into a terminal's question (shell escapes undone), absolute. */
export function typedPath(text: string, platform: NodeJS.Platform = process.platform, home: string = homedir()): string {
  return resolve(pastedPath(text, platform, home, true));
}

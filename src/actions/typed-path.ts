// A path as people type or paste it: dragging a file into a terminal puts quotes around it (or, on macOS and
// Linux, a backslash before each space), Windows' "Copy as path" puts double quotes around it, and ~ stands
// for the home folder. Turned into the path meant. On Windows a backslash is the separator and stays.

import { homedir } from 'node:os';
import { resolve } from 'node:path';

/** Quotes around the whole path taken off, ~ turned into the home folder; not made absolute. */
export function pastedPath(text: string, platform: NodeJS.Platform = process.platform, home: string = homedir(), unescape = false): string {
  let p = text.trim();
  const quote = p[0];
  if (p.length >= 2 && (quote === '"' || quote === "'") && p.endsWith(quote)) p = p.slice(1, -1);
  else if (unescape && platform !== 'win32') p = p.replace(/\\([ '"()&;!$`\\])/g, '$1');
  if (p === '~' || p.startsWith('~/') || (platform === 'win32' && p.startsWith('~\\'))) p = home + p.slice(1);
  return p;
}

/** A path typed into a terminal's question (shell escapes undone), absolute. */
export function typedPath(text: string, platform: NodeJS.Platform = process.platform, home: string = homedir()): string {
  return resolve(pastedPath(text, platform, home, true));
}

// A path as people type or paste it into a question: dragging a file into a terminal puts quotes around it
// (or, on macOS and Linux, a backslash before each space), and ~ stands for the home folder. Turned into the
// path meant, absolute. On Windows a backslash is the separator and stays.

import { homedir } from 'node:os';
import { resolve } from 'node:path';

export function typedPath(text: string, platform: NodeJS.Platform = process.platform, home: string = homedir()): string {
  let p = text.trim();
  const quote = p[0];
  if (p.length >= 2 && (quote === '"' || quote === "'") && p.endsWith(quote)) p = p.slice(1, -1);
  else if (platform !== 'win32') p = p.replace(/\\([ '"()&;!$`\\])/g, '$1');
  if (p === '~' || p.startsWith('~/') || (platform === 'win32' && p.startsWith('~\\'))) p = home + p.slice(1);
  return resolve(p);
}

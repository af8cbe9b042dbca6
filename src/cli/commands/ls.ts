// `haos-rescue ls [SOURCE] [PATH] [--long] [--json]`: a directory of the data filesystem.

import { existsSync, statSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import type { ListEntry } from '../../actions/list-dir.js';
import { printJson, warn, writeOut } from '../output.js';
import { modeString, table } from '../render.js';
import { oneLine } from '../visible.js';
import { type GlobalArgs, looksLikeSource, withArgsSource, withSourceArg } from './common.js';

type LsArgs = GlobalArgs & { source?: string; path?: string; long?: boolean };

function render(entries: ListEntry[], long: boolean): string {
  if (!long) return entries.map((e) => oneLine(e.type === 'dir' ? `${e.name}/` : e.name)).join('\n') + (entries.length ? '\n' : '');
  const rows = entries.map((e) => [
    e.error ? '??????????' : modeString(e.type, e.mode),
    String(e.links),
    String(e.uid),
    String(e.gid),
    String(e.size),
    e.mtime.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
    e.name + (e.target !== undefined ? ` -> ${e.target}` : '') + (e.error ? `  (unreadable: ${e.error})` : ''),
  ]);
  return rows.length ? table(rows, [1, 2, 3, 4]) + '\n' : '';
}

/**
 * `ls X`: X is SOURCE when it exists on this computer as a file or disk, else a path on the card (and
 * SOURCE is found automatically). `ls X Y` is SOURCE X, path Y.
 */
function sourceAndPath(first: string | undefined, second: string | undefined): { source?: string; path?: string } {
  if (first === undefined || second !== undefined) return { ...(first !== undefined ? { source: first } : {}), ...(second !== undefined ? { path: second } : {}) };
  let local = false;
  try {
    local = !statSync(first).isDirectory();
  } catch {
    local = false;
  }
  // A name that is no path on the card (those start with /) but reads as an image: taken as the source, whose
  // opening says it is not there (it was "path nonexist.img is not absolute").
  return local || (!first.startsWith('/') && !existsSync(first) && looksLikeSource(first)) ? { source: first } : { path: first };
}

export const lsCommand: CommandModule<GlobalArgs, LsArgs> = {
  command: 'ls [source] [path]',
  describe: 'List a directory of the data filesystem (default: its root)',
  builder: (y) =>
    withSourceArg(y)
      .positional('path', { type: 'string', describe: 'absolute path, e.g. /supervisor/backup (/mnt/data/... also works); default /' })
      .option('long', { alias: 'l', type: 'boolean', describe: 'show mode, links, owner, size and time' }) as never,
  handler: async (argv) => {
    const [{ listDirPartly }, { inFile }, { dataPath }] = await Promise.all([import('../../actions/list-dir.js'), import('../../ext4/damaged.js'), import('../../actions/source.js')]);
    const given = sourceAndPath(argv.source, argv.path);
    const path = dataPath(given.path ?? '/');
    const { entries, damage, unreadable } = await withArgsSource({ ...argv, source: given.source }, async (s) => {
      if (!argv.json) for (const w of s.warnings) warn(w);
      return listDirPartly(s.volume, path).catch((err: unknown) => {
        throw inFile(path, err);
      });
    });
    if (argv.json) await printJson(entries);
    else await writeOut(render(entries, argv.long ?? false));
    // What the folder's damaged part held is not listed: said after what could be (exit 65).
    if (damage) throw damage;
    // Entries whose inodes cannot be read are listed by name (as ls lists them with "?"), then said.
    if (unreadable) throw unreadable;
  },
};

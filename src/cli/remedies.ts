// The option or command that does what a lower layer's hint describes (details.remedy, errors.ts): the
// layers below the command line speak of what to do, the command line of how to say it here. SOURCE in a
// command becomes the source this command read, once it is known.

import { posix } from 'node:path';
import type { Remedy } from '../errors.js';
import { shellWord } from '../shell-word.js';

const REMEDY_OPTIONS: Record<Remedy, string | ((details: Record<string, unknown>) => string)> = {
  'on-disk-state': 'add --no-replay',
  'data-offset': 'add --offset BYTES',
  'choose-partition': 'add --partition N',
  'partition-or-offset': 'add --partition N or --offset BYTES',
  'raw-image': (d) => `haos-rescue image ${shellWord(String(d['path']))} --out disk.img makes it`,
  'backup-file': (d) => `to look inside it: haos-rescue backup ls ${shellWord(String(d['path']))}`,
  'what-all': 'add --what all',
  'export-less': '--what config, --exclude-db, or --out FILE.tar.gz',
  force: 'add --force',
  'force-system': 'add --force-system',
  recursive: 'add --recursive',
  yes: 'add --yes',
  'originals-dir': 'add --originals DIR',
  'originals-or-none': 'add --originals DIR, or --no-originals',
  'choose-backups': 'name them with --slug',
  'login-from-backup': (d) => {
    const name = posix.basename(String(d['loginFile']));
    return `haos-rescue backup cat SOURCE SLUG ${shellWord(String(d['inBackup']))} > ${name}, then haos-rescue put SOURCE ${name} ${shellWord(String(d['loginFile']))}`;
  },
  'map-file': 'give it with --map FILE, or leave --map out',
  'no-map': 'leave --map out',
  'ignore-map': 'add --no-map',
  'backup-password': 'add --password-stdin and type it, or --password PASSWORD',
  verbose: 'run again with --verbose for the details to report',
  'image-first': (d) => `haos-rescue image ${shellWord(String(d['path'] ?? 'SOURCE'))} --out card.img, then run haos-rescue on card.img`,
  'unpack-backup': 'haos-rescue backup extract SOURCE --decrypt --out DIR',
  'list-disks': 'haos-rescue disks',
  'list-backups': 'haos-rescue backup list SOURCE',
  'list-backup': (d) => {
    // details.backup: the slug of a backup on the card, '' for a backup file (it is SOURCE), absent when unknown.
    const backup = typeof d['backup'] === 'string' ? d['backup'] : 'SLUG';
    const inside = typeof d['inside'] === 'string' ? shellWord(d['inside']) : backup === '' ? '' : '[PATH]';
    return ['haos-rescue backup ls SOURCE', backup === '' ? '' : shellWord(backup), inside].filter(Boolean).join(' ');
  },
  'list-folder': (d) => `haos-rescue ls SOURCE ${typeof d['folder'] === 'string' ? shellWord(d['folder']) : 'DIR'}`,
  'show-usage': 'haos-rescue df SOURCE',
  'show-file': (d) => `haos-rescue cat SOURCE ${shellWord(String(d['path'] ?? 'PATH'))}`,
  'image-again': 'with the card: the same haos-rescue image command, run again',
  'check-at-start': 'haos-rescue check-at-start SOURCE marks it',
  'make-backup': 'haos-rescue backup create SOURCE --out backup.tar makes one from what the card holds',
};

let usedSource: string | null = null;

/** The source this command works on, for the commands a remedy names. */
export function noteSource(path: string): void {
  usedSource = path;
}

/** The command-line words for the remedy in `details`, or null when it has none. */
export function remedyFor(details: Record<string, unknown>): string | null {
  const key = details['remedy'];
  if (typeof key !== 'string' || !Object.hasOwn(REMEDY_OPTIONS, key)) return null;
  const remedy = REMEDY_OPTIONS[key as Remedy];
  const words = typeof remedy === 'function' ? remedy(details) : remedy;
  return usedSource === null ? words : words.replace(/\bSOURCE\b/g, shellWord(usedSource));
}

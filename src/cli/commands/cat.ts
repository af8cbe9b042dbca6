// `haos-rescue cat [SOURCE] PATH`: a file's bytes on stdout, streamed in large pieces. With one argument
// it is the PATH, and SOURCE is the one disk with Home Assistant data.

import { existsSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import { CorruptError, UsageError } from '../../errors.js';
import type { FileKind } from '../../ext4/inode.js';
import { shellWord } from '../../shell-word.js';
import { warn, writeOut } from '../output.js';
import { type GlobalArgs, refuseJson, resolveSource, sourceOptions, withSourceArg } from './common.js';

const KIND_WORDS: Record<FileKind, string> = {
  file: 'a file',
  dir: 'a folder',
  symlink: 'a symbolic link',
  chardev: 'a character device',
  blockdev: 'a block device',
  fifo: 'a named pipe',
  socket: 'a socket',
  unknown: 'of no known type (its mode field is damaged)',
};

type CatArgs = GlobalArgs & { source: string; path?: string };

export const catCommand: CommandModule<GlobalArgs, CatArgs> = {
  command: 'cat <source> [path]',
  describe: 'Write a file of the data filesystem to standard output (cat PATH alone: SOURCE found automatically)',
  builder: (y) =>
    withSourceArg(y).positional('path', { type: 'string', describe: 'absolute path of the file (given alone, SOURCE is found automatically)' }) as never,
  handler: async (argv) => {
    refuseJson(argv, 'cat');
    if (argv.path === undefined && !argv.source.startsWith('/mnt/data') && existsSync(argv.source)) {
      throw new UsageError('NO_PATH', `name the file on the card to print after ${argv.source}`, { hint: `e.g. haos-rescue cat ${shellWord(argv.source)} /supervisor/homeassistant/configuration.yaml` });
    }
    const { dataPath, withSource } = await import('../../actions/source.js');
    const { inFile } = await import('../../ext4/damaged.js');
    const given = argv.path === undefined ? { path: argv.source } : { source: argv.source, path: argv.path };
    const path = dataPath(given.path);
    const source = await resolveSource({ source: given.source, json: argv.json });
    await withSource(source, sourceOptions(argv), async (s) => {
      for (const w of s.warnings) warn(w);
      // A failed write of the output (a full disk) is not the file's: it is said as it is.
      let outputFailed: unknown = null;
      try {
        const inode = await s.volume.lookup(path, { followFinal: true });
        if (inode.kind === 'dir') throw new UsageError('IS_A_DIRECTORY', `${path} is a directory`, { hint: `list it with: haos-rescue ls ${shellWord(source)} ${shellWord(path)}` });
        if (inode.kind === 'unknown') throw new CorruptError('NO_FILE_TYPE', `${path} is ${KIND_WORDS.unknown}: nothing of it can be read`, { hint: 'its record on the card is damaged or was cleared; e2fsck would remove it. A backup may hold the file' });
        if (inode.kind !== 'file') throw new UsageError('NOT_A_FILE', `${path} is ${KIND_WORDS[inode.kind]}, not a regular file`, { hint: 'a device file, pipe or socket holds no bytes on the card: there is nothing of it to copy' });
        for await (const piece of s.volume.stream(inode)) {
          await writeOut(piece).catch((err: unknown) => {
            outputFailed = err;
            throw err;
          });
        }
      } catch (err) {
        throw err === outputFailed ? err : inFile(path, err);
      }
    });
  },
};

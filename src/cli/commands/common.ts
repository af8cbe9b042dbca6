// Options every command that reads a SOURCE shares (design.md §3), and how they map to SourceOptions.

import type { Argv } from 'yargs';
import type { SourceOptions } from '../../actions/source.js';
import { UsageError } from '../../errors.js';

export interface GlobalArgs {
  partition?: number;
  offset?: number;
  replay?: boolean;
  json?: boolean;
  verbose?: boolean;
}

export function withSourceArg<T>(y: Argv<T>): Argv<T & { source: string }> {
  return y.positional('source', {
    type: 'string',
    demandOption: true,
    describe: 'image file, disk (/dev/sdb, /dev/disk4, \\\\.\\PhysicalDrive2) or partition',
  }) as Argv<T & { source: string }>;
}

export function sourceOptions(argv: GlobalArgs): SourceOptions {
  const o: SourceOptions = { replay: argv.replay !== false };
  if (argv.partition !== undefined) {
    if (!Number.isInteger(argv.partition) || argv.partition < 1) {
      throw new UsageError('BAD_PARTITION', `--partition must be a partition number from 1, got ${argv.partition}`);
    }
    o.partition = argv.partition;
  }
  if (argv.offset !== undefined) {
    if (!Number.isSafeInteger(argv.offset) || argv.offset < 0) {
      throw new UsageError('BAD_OFFSET', `--offset must be a byte offset of 0 or more, got ${argv.offset}`);
    }
    o.offsetBytes = argv.offset;
  }
  return o;
}

// `haos-rescue image SOURCE --out IMG [--map MAP]`: copy a failing card to an image file first, the
// filesystem's metadata and the configuration before the rest, with a bad-sector map in GNU ddrescue's
// format; the same command again continues. Exit 65 when parts of the card could not be read.

import type { CommandModule } from 'yargs';
import type { ImageResult } from '../../actions/image/index.js';
import type { FileHit } from '../../actions/image/files-hit.js';
import type { SourceOptions } from '../../actions/source.js';
import { CorruptError, UsageError } from '../../errors.js';
import { VERSION } from '../../version.js';
import { shellWord } from '../../shell-word.js';
import { formatBytes, partOf } from '../../units.js';
import { printJson, warn, writeOut } from '../output.js';
import { formatDuration } from '../progress.js';
import { type GlobalArgs, resolveSource, sourceOptions, withSourceArg } from './common.js';

type ImageArgs = GlobalArgs & {
  source?: string;
  out: string;
  retries: number;
  usedOnly?: boolean;
  trim: boolean;
  scrape: boolean;
  force?: boolean;
  filesHit?: boolean;
};

/** `leftOut`: what the copy left out on purpose (actions/image's freeLeftOutText), or null. */
function render(r: ImageResult, hits: FileHit[] | null, leftOut: string | null): string {
  const lines = [`${r.resumed ? 'Continued' : 'Imaged'} ${r.source} to ${r.out} in ${formatDuration(r.elapsedMs / 1000)}; map: ${r.map}`];
  if (r.imageCutAt !== null) lines.push(`  the image file was cut short at ${formatBytes(r.imageCutAt)}, before bytes its map said were copied: they were copied again`);
  lines.push(`  rescued ${partOf(r.rescuedBytes, r.domainBytes)}${r.usedOnly ? ' (the used blocks; free blocks left out)' : ''}`);
  if (leftOut !== null) lines.push(`  ${leftOut}`);
  if (r.order === 'linear') lines.push(`  copied in disk order: ${r.linearBecause}`);
  const unread = r.nonTriedBytes + r.nonTrimmedBytes + r.nonScrapedBytes;
  if (r.badSectorBytes > 0) lines.push(`  unreadable: ${formatBytes(r.badSectorBytes)} in ${r.badAreas} area(s)`);
  if (unread > 0) lines.push(`  not finished: ${formatBytes(unread)} still to try; run the same command again to continue`);
  if (hits !== null) {
    lines.push(hits.length === 0 ? '  every file is whole' : `  ${hits.length} file(s) or folder(s) touch unreadable parts:`);
    for (const h of hits) lines.push(`    ${h.path}: ${h.reason}`);
  }
  return `${lines.join('\n')}\n`;
}

export const imageCommand: CommandModule<GlobalArgs, ImageArgs> = {
  command: 'image [source]',
  describe: 'Copy a failing card to an image file first (metadata and config first, bad-sector map, resumable)',
  builder: (y) =>
    withSourceArg(y)
      .option('out', { alias: 'o', type: 'string', demandOption: true, describe: 'the image file to write (on another disk); with --map (default OUT.map) it is continued' })
      .option('retries', { type: 'number', default: 0, describe: 'passes over the bad sectors after scraping' })
      .option('used-only', { type: 'boolean', describe: 'leave out the free blocks of the data partition' })
      .option('trim', { type: 'boolean', default: true, describe: 'trim the edges of bad areas (--no-trim: leave them for a later run)' })
      .option('scrape', { type: 'boolean', default: true, describe: 'read bad areas sector by sector (--no-scrape: leave them for a later run)' })
      .option('force', { type: 'boolean', describe: 'start over on an existing --out that has no map' })
      .option('files-hit', { type: 'boolean', describe: 'list the files with bytes in parts that could not be read' }) as never,
  handler: async (argv) => {
    const [{ ImageJob, freeLeftOutText, inUseText }, { withImageProgress }] = await Promise.all([import('../../actions/image/index.js'), import('../image-progress.js')]);
    const source = await resolveSource(argv);
    // --map names the map this copy writes; the other source options choose the filesystem that orders it.
    const { mapPath, ...order } = sourceOptions(argv);
    if (!Number.isInteger(argv.retries) || argv.retries < 0) throw new UsageError('BAD_RETRIES', `--retries must be a whole number of 0 or more (${Number.isNaN(argv.retries) ? 'it was given something that is not a number' : `got ${argv.retries}`})`, { hint: 'e.g. --retries 3; 0 (the default) tries each bad sector once' });
    const job = await ImageJob.start(source, {
      out: argv.out,
      ...(typeof mapPath === 'string' ? { mapPath } : {}),
      usedOnly: argv.usedOnly ?? false,
      retries: argv.retries,
      trim: argv.trim,
      scrape: argv.scrape,
      force: argv.force ?? false,
      source: order,
      commandLine: ['haos-rescue', ...process.argv.slice(2).map(shellWord)].join(' '),
      version: VERSION,
    });
    const result = await withImageProgress(job, !argv.json && process.stderr.isTTY === true);
    const hits = argv.filesHit ? await hitsOf(result, order) : null;
    if (argv.json) await printJson({ ...result, ...(hits !== null ? { filesHit: hits } : {}) });
    else await writeOut(render(result, hits, freeLeftOutText(result)));
    const inUse = inUseText(result, 'copy it again, with --force');
    if (inUse !== null) warn(inUse);
    if (result.sourceMap !== null) warn(`${result.source} was read with its rescue map ${result.sourceMap}: what that map says was never rescued from the card is marked unreadable in this copy's map, not copied as zeros`);
    if (result.rescuedBytes < result.domainBytes) {
      const missing = formatBytes(result.domainBytes - result.rescuedBytes);
      const card = result.diskFile !== null ? 'the disk file' : 'the card';
      const what = result.sourceMap !== null ? `${missing} of ${card} are not in ${result.source} (its map says so) and could not be copied` : `${missing} of ${card} could not be copied${result.diskFile !== null ? ' (it is damaged or cut short)' : ' (yet)'}`;
      throw new CorruptError('IMAGE_INCOMPLETE', what, {
        hint: `the image is usable: read it with haos-rescue (e.g. haos-rescue info ${shellWord(result.out)}); parts not rescued read as errors, never as zeros${hits === null ? '; --files-hit lists the files they touch' : ''}`,
        details: { badSectorBytes: result.badSectorBytes, nonTriedBytes: result.nonTriedBytes },
      });
    }
  },
};

async function hitsOf(r: ImageResult, order: SourceOptions): Promise<FileHit[]> {
  const [{ openSource }, { filesHit }] = await Promise.all([import('../../actions/source.js'), import('../../actions/image/files-hit.js')]);
  const src = await openSource(r.out, { ...order, mapPath: r.map });
  try {
    return await filesHit(src);
  } finally {
    await src.device.close().catch(() => undefined);
  }
}

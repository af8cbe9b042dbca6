// `haos-rescue export SOURCE --out DIR|FILE.tar|FILE.tar.gz [--what config|supervisor|all] [--exclude-db]`:
// copy the config folder (or more) off the card. Exit 65 when some files could not be read (partial export).

import type { CommandModule } from 'yargs';
import type { ExportResult, ExportWhat } from '../../actions/export/index.js';
import { CorruptError, RefusedError } from '../../errors.js';
import { printJson, warn, writeOut } from '../output.js';
import { formatBytes } from '../render.js';
import { stoppable, terminalProgress } from '../progress.js';
import { oneLine } from '../visible.js';
import { type GlobalArgs, withArgsSource, withSourceArg } from './common.js';

type ExportArgs = GlobalArgs & { source?: string; out: string; what: ExportWhat; excludeDb?: boolean; force?: boolean };

function render(r: ExportResult): string {
  const lines = [
    `Exported ${r.source} to ${r.out}: ${r.files} files (${formatBytes(r.bytes)}), ${r.dirs} folders, ${r.symlinks} symlinks` +
      (r.hardlinks ? `, ${r.hardlinks} hard links` : '') + '.',
  ];
  if (r.renamed.length > 0) {
    lines.push('', 'Renamed:');
    for (const n of r.renamed) lines.push(`  ${oneLine(n.path)} -> ${oneLine(n.as)} (${n.reason})`);
  }
  for (const n of r.notes) lines.push(`Note: ${n}.`);
  if (r.unsupported.length > 0) {
    lines.push('', 'Not copied (the file system of --out cannot hold them):');
    for (const u of r.unsupported) lines.push(`  ${oneLine(u.path)}: ${u.reason}`);
  }
  if (r.special.length > 0) {
    lines.push('', 'Not copied (device files, FIFOs, sockets):');
    for (const s of r.special) lines.push(`  ${oneLine(s)}`);
  }
  if (r.skipped.length > 0) {
    lines.push('', 'Skipped (could not be read):');
    for (const s of r.skipped) lines.push(`  ${oneLine(s.path)}: ${oneLine(s.reason)}`);
  }
  return `${lines.join('\n')}\n`;
}

export const exportCommand: CommandModule<GlobalArgs, ExportArgs> = {
  command: 'export [source]',
  describe: 'Copy the config folder (or the supervisor tree, or everything) to a folder or a .tar / .tar.gz',
  builder: (y) =>
    withSourceArg(y)
      .option('out', { alias: 'o', type: 'string', demandOption: true, describe: 'a folder (created if absent), FILE.tar or FILE.tar.gz' })
      .option('what', { type: 'string', choices: ['config', 'supervisor', 'all'], default: 'config', describe: 'what to export' })
      .option('exclude-db', { type: 'boolean', describe: 'leave out the recorder database (home-assistant_v2.db, -wal, -shm)' })
      .option('force', { type: 'boolean', describe: 'write into a non-empty folder / replace an existing archive' }) as never,
  handler: async (argv) => {
    const [{ exportFormat, exportTree }, { TOO_BIG_HINT }] = await Promise.all([import('../../actions/export/index.js'), import('../../actions/output-fs.js')]);
    const progress = !argv.json && process.stderr.isTTY === true ? terminalProgress() : null;
    const result = await stoppable(() => withArgsSource(argv, async (s) => {
      if (!argv.json) for (const w of s.warnings) warn(w);
      if (progress) process.stderr.write('Counting files...\r');
      return exportTree(s.volume, s.layout, {
        out: argv.out,
        sourcePath: s.path,
        what: argv.what,
        excludeDb: argv.excludeDb ?? false,
        force: argv.force ?? false,
        ...(progress ? { onProgress: progress.update } : {}),
      });
    }), exportFormat(argv.out) === 'folder' ? argv.out : null).finally(() => progress?.end());
    if (argv.json) {
      await printJson({
        out: result.out, format: result.format, what: result.what, source: result.source,
        files: result.files, dirs: result.dirs, symlinks: result.symlinks, hardlinks: result.hardlinks, bytes: result.bytes,
        skipped: result.skipped, renamed: result.renamed, special: result.special, unsupported: result.unsupported, notes: result.notes,
      });
    } else {
      await writeOut(render(result));
    }
    if (result.skipped.length > 0) {
      throw new CorruptError('EXPORT_PARTIAL', `the export is partial: ${result.skipped.length} path(s) could not be read and were skipped`, {
        hint: 'the list above names them; everything else was exported',
        details: { skipped: result.skipped.length },
      });
    }
    const tooBig = result.unsupported.filter((u) => u.tooBig);
    if (tooBig.length > 0) {
      throw new RefusedError('OUTPUT_FILE_TOO_BIG', `${tooBig.length} file(s) were not copied: bigger than the disk of --out holds in one file`, { hint: `everything else was exported; for those, ${TOO_BIG_HINT}` });
    }
  },
};

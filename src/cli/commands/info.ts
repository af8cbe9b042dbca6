// `haos-rescue info SOURCE [--json]`: partition table, data filesystem, state and Home Assistant summary.

import type { CommandModule } from 'yargs';
import type { InfoResult, KernelErrorInfo, lastWritten } from '../../actions/info.js';

/** The newest sign of the box writing (actions/info.ts). */
type Written = ReturnType<typeof lastWritten>;
import type { WriteRefusal } from '../../actions/write/preconditions.js';
import { shellWord } from '../../shell-word.js';
import { remedyFor } from '../remedies.js';
import { printJson, warn, writeOut } from '../output.js';
import { formatBytes, localTime, table } from '../render.js';
import { type GlobalArgs, withArgsSource, withSourceArg } from './common.js';
import { partOf } from '../../units.js';

function journalLine(d: InfoResult['data']): string {
  const j = d.journal!;
  if (!d.journalReplayed) return `not replayed: ${j.notReplayed ?? 'unknown reason'}; shown as on the card`;
  const range = j.transactions > 0 ? `transactions ${j.firstTransaction}-${(j.endTransaction! - 1) >>> 0}` : 'no complete transaction';
  const skipped = j.revokedBlocksSkipped ? `, ${j.revokedBlocksSkipped} revoked block(s) skipped` : '';
  return `replayed in memory (nothing written): ${range}, ${j.blocksReplayed} block(s)${skipped}`;
}

function render(r: InfoResult, written: Written): string {
  const lines: string[] = [];
  // No table and the data in an LVM volume: an LVM physical volume over the whole disk, not a bare filesystem.
  const bare = r.data.foundBySearch ? 'none' : r.data.volume !== null ? 'none (an LVM physical volume)' : 'none (bare filesystem)';
  const tableName = r.partitionTable === 'gpt' ? (r.hybridMbr ? 'GPT (with hybrid MBR)' : 'GPT') : r.partitionTable === 'mbr' ? 'MBR' : bare;
  lines.push(`Source:           ${r.source} (${formatBytes(r.sizeBytes)})`);
  if (r.container) lines.push(...containerLines(r.container));
  lines.push(`Partition table:  ${tableName}`);
  if (r.partitions.length > 0) {
    const rows = [['#', 'name', 'offset', 'size', 'filesystem label']];
    for (const p of r.partitions) {
      const mark = p.index === r.data.partitionIndex ? ' <- data' : p.index === r.data.volumeInPartition ? ' <- data (in an LVM volume)' : '';
      rows.push([String(p.index), p.name ?? '', formatBytes(p.offset), formatBytes(p.size) + (p.truncated ? ' (truncated)' : ''), (p.label ?? '') + mark]);
    }
    lines.push(table(rows, [0]).replace(/^/gm, '  '));
  }
  const d = r.data;
  const where = d.volume ?? (d.partitionIndex !== null ? `partition ${d.partitionIndex}` : `offset ${d.offset}`);
  lines.push(`Data:             ${where}, label "${d.label}" (${d.reason})`);
  for (const c of r.otherCandidates) lines.push(`                  also seen: ${c.partitionIndex !== null ? `partition ${c.partitionIndex}` : 'whole device'} "${c.label ?? ''}" (${c.reason})`);
  lines.push(`Filesystem:       ext4, ${formatBytes(d.blocksCount * d.blockSize)}, ${d.blockSize}-byte blocks, UUID ${d.uuid}`);
  lines.push(`Space:            ${spaceLine(r)}`);
  const state = d.state === 'unknown' ? "unknown (the main superblock is unusable: its backup copy, read here, keeps neither the state nor the box's times)" : d.state;
  lines.push(`State:            ${state}${d.needsRecovery ? ', journal needs recovery' : ''}`);
  if (d.journal) lines.push(`Journal:          ${journalLine(d)}`);
  lines.push(...timeLines(d, written), ...kernelErrorLines(d), ...refusalLines(d.writeRefused));
  lines.push(`Features:         ${d.features.join(' ')}`);
  const ha = r.homeAssistant;
  if (ha.version || ha.users !== null || ha.backups !== null) {
    lines.push(`Home Assistant:   ${ha.version ?? 'version unknown'}, config in ${ha.configPath}`);
    lines.push(`                  ${ha.users ?? '?'} user(s), ${ha.backups ?? 0} backup(s)`);
  } else if (ha.unreadable) {
    // Its files could not be read (an image cut short, bad sectors): not the same as none being there.
    const where = r.container ? 'in the disk file this one was copied from' : 'on the card';
    lines.push(`Home Assistant:   its files could not be read here (see the warnings); they may still be ${where}`);
  } else {
    lines.push('Home Assistant:   no configuration found on this filesystem');
  }
  if (r.rescue) lines.push(...rescueLines(r.rescue));
  return lines.join('\n') + '\n';
}

/** When the box last mounted and wrote the filesystem, by its own clock, in this computer's time zone. */
function timeLines(d: InfoResult['data'], w: Written): string[] {
  const unknown = d.state === 'unknown' ? 'not known' : null;
  const written = w ? localTime(w.at, true) + (w.fromJournal ? ' (its newest journal transaction)' : '') : unknown ?? 'not recorded';
  return [`Last mounted:     ${d.times.mounted ? localTime(d.times.mounted, true) : unknown ?? 'never'}`, `Last written:     ${written}`];
}

/** Why changes would be refused, and what to do, when they would be. */
function refusalLines(w: WriteRefusal | null): string[] {
  if (w === null) return [];
  const remedy = remedyFor({ remedy: w.remedy });
  const next = w.hint === null ? [] : [`                  what to do: ${w.hint}${remedy === null ? '' : ` (${remedy})`}`];
  return [`Changes:          refused as it is: ${w.message}`, ...next];
}

function kernelErrorLine(e: KernelErrorInfo): string {
  const at = [e.inode !== null ? `inode ${e.inode}` : '', e.block !== null ? `block ${e.block}` : ''].filter(Boolean).join(', ');
  const why = e.meaning ? `: ${e.meaning} (${e.code})` : '';
  return `${e.time ? localTime(e.time, true) : 'time not recorded'} in ${e.function || '?'}${at ? ` (${at})` : ''}${why}`;
}

function kernelErrorLines(d: InfoResult['data']): string[] {
  const k = d.kernelErrors;
  const a = d.journalAbort;
  const lines = a === null ? [] : [`Journal:          stopped by the box's kernel after an error: ${a.meaning} (${a.name}; the box's next start clears it, or e2fsck)`];
  if (k === null) return lines;
  lines.push(`Kernel errors:    ${k.count} recorded (e2fsck clears them when it repairs the filesystem)`);
  if (k.first) lines.push(`                  first ${kernelErrorLine(k.first)}`);
  if (k.last && k.count > 1) lines.push(`                  last  ${kernelErrorLine(k.last)}`);
  return lines;
}

function spaceLine(r: InfoResult): string {
  const total = r.data.blocksCount * r.data.blockSize;
  const pct = total > 0 ? Math.round((r.space.usedBytes * 100) / total) : 0;
  const line = `${formatBytes(r.space.usedBytes)} used of ${formatBytes(total)} (${pct} %), ${formatBytes(r.space.availableBytes)} free`;
  return r.space.full ? `${line} — FULL (haos-rescue df shows what fills it)` : line;
}

function containerLines(c: NonNullable<InfoResult['container']>): string[] {
  const unit = c.clusterSize ? `, ${formatBytes(c.clusterSize)} clusters` : '';
  const lines = [`Disk file:        ${c.format} ${c.variant}: a ${formatBytes(c.virtualSize)} disk in a ${formatBytes(c.fileSize)} file${unit}`];
  if (c.backing.length > 0) lines.push(`                  backing file${c.backing.length > 1 ? 's' : ''}: ${c.backing.join(' <- ')}`);
  for (const s of c.snapshots) {
    const when = s.dateMs !== null ? `, ${new Date(s.dateMs).toISOString().slice(0, 16).replace('T', ' ')}` : '';
    lines.push(`                  snapshot ${s.id} "${s.name}"${when} (not shown: the current state is)`);
  }
  for (const n of c.notes) lines.push(`                  ${n}`);
  return lines;
}

function rescueLines(x: NonNullable<InfoResult['rescue']>): string[] {
  const pct = x.sizeBytes > 0 ? Math.floor((x.rescuedBytes * 1000) / x.sizeBytes) / 10 : 100;
  const lines = [`Rescue map:       ${x.map}${x.foundBeside ? ' (found beside the image)' : ''}`];
  lines.push(`                  ${partOf(x.rescuedBytes, x.sizeBytes)} rescued (${pct}%)${x.missingBytes > 0 ? `, ${formatBytes(x.missingBytes)} missing in ${x.missingAreas} area(s)` : ''}`);
  for (const f of x.important) lines.push(`  ${f.whole ? 'whole  ' : 'DAMAGED'} ${f.path}${f.reason ? `: ${f.reason}` : ''}`);
  const others = x.filesHit.length - x.important.filter((f) => !f.whole).length;
  if (others > 0) lines.push(`                  ${others} other file(s) or folder(s) touch missing parts (info --json lists them: rescue.filesHit)`);
  return lines;
}

export const infoCommand: CommandModule<GlobalArgs, GlobalArgs & { source?: string }> = {
  command: 'info [source]',
  describe: 'Show the disk layout, the data filesystem, when the box last used it and any errors its kernel met (and whether a change could be written now), and the Home Assistant it holds',
  builder: (y) => withSourceArg(y),
  handler: async (argv) => {
    const { copyFirstReason, info, lastWritten } = await import('../../actions/info.js');
    const result = await withArgsSource(argv, (s) => info(s));
    if (argv.json) {
      await printJson(result);
      return;
    }
    await writeOut(render(result, lastWritten(result.data.times)));
    for (const w of result.warnings) warn(w);
    const imageCommand = `haos-rescue image ${shellWord(result.source)} --out card.img`;
    // A VM disk file or an image cannot be failing as a card does: parts of it are missing (a copy cut short).
    if (result.readFailed && result.rescue !== null) warn('parts of this image were not rescued from the card (its map says so): the same haos-rescue image command, run again with the card, tries them once more');
    else if (result.readFailed && result.container !== null) warn('parts of this disk file could not be read: it is cut short or damaged (see above); copy it again from where it came from if you can');
    else if (result.readFailed) warn(`parts of the card could not be read: it may be failing. Copy it to an image first and work on the image: ${imageCommand}`);
    else if ((await copyFirstReason(result)) === 'box-read-errors') process.stderr.write(`hint: ${imageCommand}\n`);
  },
};

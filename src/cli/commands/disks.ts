// `haos-rescue disks [--json]`: the computer's whole disks, what to pass as SOURCE, and which hold Home
// Assistant data (each opened read-only). Disks that cannot be read say why and what to do.

import type { CommandModule } from 'yargs';
import type { SurveyedDisk } from '../../actions/disks.js';
import { printJson, writeOut } from '../output.js';
import { formatBytes, table } from '../render.js';
import type { GlobalArgs } from './common.js';
import { shellWord } from '../../shell-word.js';

/** Whether a disk was looked at through its partition table only (actions/disks.ts). */
type NotSearched = (d: SurveyedDisk) => boolean;

function haText(d: SurveyedDisk, notSearched: NotSearched): string {
  if (!d.hasMedium) return d.note ?? 'no medium';
  if (d.error) return `cannot read: ${d.error.message}`;
  const ha = d.homeAssistant;
  if (!ha) return notSearched(d) ? '- (partitions only *)' : '-';
  const where = ha.volume ?? (ha.partition !== null ? `partition ${ha.partition}` : 'whole disk');
  const counts = [ha.users !== null ? `${ha.users} user(s)` : null, ha.backups !== null ? `${ha.backups} backup(s)` : null].filter(Boolean).join(', ');
  return `Home Assistant ${ha.version ?? '(version unknown)'} on ${where} "${ha.label}"${counts ? `, ${counts}` : ''}`;
}

export function renderDisks(disks: SurveyedDisk[], notSearched: NotSearched): string {
  if (disks.length === 0) return 'No disks found.\n';
  const rows = [['SOURCE', 'size', 'model', 'bus', '', 'Home Assistant data']];
  for (const d of disks) {
    const flags = [d.system ? 'system' : null, d.removable ? 'removable' : null, d.mounted.length > 0 ? 'mounted' : null].filter(Boolean).join(',');
    rows.push([d.path, d.sizeBytes ? formatBytes(d.sizeBytes) : '-', d.model ?? '-', d.bus?.toUpperCase() ?? '-', flags, haText(d, notSearched)]);
  }
  const lines = [table(rows, [1])];
  const ha = disks.filter((d) => d.homeAssistant && !d.system);
  if (ha.length > 0) lines.push('', `Next: haos-rescue info ${shellWord(ha[0]!.path)}   (or leave SOURCE out: haos-rescue info)`);
  const unsearched = disks.find(notSearched);
  if (unsearched) {
    lines.push('', `* looked at through its partition table only. If the Home Assistant disk's table was erased or replaced, search it: haos-rescue info ${shellWord(unsearched.path)}`);
  }
  const hints = [...new Set(disks.map((d) => d.error?.hint).filter((h): h is string => Boolean(h)))];
  for (const h of hints) lines.push(`hint: ${h}`);
  return `${lines.join('\n')}\n`;
}

export const disksCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'disks',
  describe: 'List the disks of this computer and which hold Home Assistant data (what to pass as SOURCE)',
  handler: async (argv) => {
    const { notSearched, surveyDisks } = await import('../../actions/disks.js');
    const disks = await surveyDisks();
    if (argv.json) await printJson(disks);
    else await writeOut(renderDisks(disks, notSearched));
  },
};

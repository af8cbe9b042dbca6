// The wizard's repair steps: what fills the card (and deleting the history database, the usual cause of
// a full disk), and safe mode for the next start. The same actions `df`, `rm` and `safe-mode` run; each
// write says what it will change and asks first.

import { confirm } from '@inquirer/prompts';
import { diskUsage, removeFiles, setSafeMode } from '../../actions/repair/index.js';
import { formatBytes } from '../../units.js';
import { table } from '../render.js';
import { type Say, type Session, writeOptions } from './steps.js';

export async function stepFreeSpace(session: Session, say: Say): Promise<void> {
  const u = await diskUsage(session.source);
  say(`${formatBytes(u.usedBytes)} used of ${formatBytes(u.totalBytes)}, ${formatBytes(u.availableBytes)} free${u.full ? ': FULL' : ''}.`);
  const rows = [['what', 'size'], ...u.categories.filter((c) => c.bytes > 0).slice(0, 8).map((c) => [c.label, formatBytes(c.bytes)])];
  say(table(rows, [1]));
  const db = u.categories.find((c) => c.id === 'database');
  if (!db || db.bytes === 0) return say('There is no history database to delete. Old backups can be copied off ("Copy the backups") and deleted with haos-rescue rm.');
  const present = [];
  for (const p of db.paths) if (await session.source.volume.exists(p)) present.push(p);
  say(`The history database takes ${formatBytes(db.bytes)}. Deleting it gives that space back; Home Assistant makes a new, empty one at its next start.`);
  say('The history (graphs, logbook, long-term statistics) is lost. A copy is saved on this computer first, if it has room.');
  if (!(await confirm({ message: `Delete ${present.join(', ')}?`, default: false }))) return say('Nothing was written.');
  const r = await removeFiles(session.source, present, writeOptions()).finally(() => session.refresh());
  if (r.write.journalReplayedOntoCard) say(`Applied the card's journal first (${r.write.journalReplayedOntoCard.transactions} change(s)).`);
  say(`Done: ${formatBytes(r.removed.reduce((n, f) => n + f.allocatedBytes, 0))} given back. Checked on the card.`);
  if (r.write.originalsDir) say(`The deleted files are saved in ${r.write.originalsDir}`);
}

export async function stepSafeMode(session: Session, say: Say): Promise<void> {
  const on = await session.source.volume.exists(`${session.source.layout.configPath}/safe-mode`);
  if (on) {
    say('Safe mode is already set for the next start.');
    if (!(await confirm({ message: 'Take it back (start normally)?', default: false }))) return;
  } else {
    say('At its next start Home Assistant will skip every custom integration, once, as its own "Restart in safe mode" does.');
    if (!(await confirm({ message: 'Set safe mode on the card?', default: true }))) return say('Nothing was written.');
  }
  const r = await setSafeMode(session.source, !on, writeOptions()).finally(() => session.refresh());
  say(r.on ? 'Done: put the card back and start the box; remove or update the integration that broke the start, then restart.' : 'Done: Home Assistant will start normally.');
}

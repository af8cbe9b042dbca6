// The journal rows of the benchmark: filesystems whose journal (128 MiB and 1 GiB; 32 and 256 MiB with
// --quick) is full of committed transactions (written with debugfs jo/jw/jc), replayed by haos-rescue
// (the read commands' view: a map to the journal blocks) and by `e2fsck -E journal_only` on a fresh copy
// each run. Each row logs haos-rescue's replay time and peak RSS as it goes.

import { execFileSync } from 'node:child_process';
import { copyFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeRandomFile } from './images.mjs';
import { compare, log, timed, timedNode } from './util.mjs';

const REPLAY = fileURLToPath(new URL('./replay-journal.mjs', import.meta.url));
const BS = 4096;
const PER_TRANSACTION = 1020;

/** Builds the image; returns its path and how many blocks the journal replays. */
export function buildJournalImage(work, journalMiB) {
  const img = join(work, `journal-${journalMiB}.img`);
  execFileSync('mkfs.ext4', ['-q', '-F', '-b', String(BS), '-J', `size=${journalMiB}`, img, `${journalMiB * 4}M`], { stdio: 'ignore' });
  const journal = new Set(execFileSync('debugfs', ['-R', 'blocks <8>', img], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 * 1024 * 1024 }).toString().split(/\s+/).filter(Boolean).map(Number));
  const data = join(work, 'transaction.bin');
  writeRandomFile(data, PER_TRANSACTION * BS);
  const usable = Math.floor((journalMiB * 1024 * 1024) / BS) - 64;
  const transactions = Math.floor(usable / (PER_TRANSACTION + PER_TRANSACTION / 255 + 2));
  const cmds = ['jo -c'];
  let next = 2048;
  for (let t = 0; t < transactions; t++) {
    const blocks = [];
    while (blocks.length < PER_TRANSACTION) if (!journal.has(++next)) blocks.push(next);
    cmds.push(`jw -b ${blocks.join(',')} ${data}`);
  }
  cmds.push('jc');
  const cmdFile = join(work, 'journal.cmds');
  writeFileSync(cmdFile, cmds.join('\n') + '\n');
  execFileSync('debugfs', ['-w', '-f', cmdFile, img], { stdio: 'ignore' });
  rmSync(data);
  return { img, blocks: transactions * PER_TRANSACTION, transactions };
}

/** One row per journal size: `journalMiB` and eight times it (128 MiB and 1 GiB by default). */
export async function journalRows({ runs, work, tmp, journalMiB }) {
  const rows = [];
  for (const mib of [journalMiB, journalMiB * 8]) rows.push(await journalRow({ runs, work, tmp, journalMiB: mib }));
  return rows;
}

async function journalRow({ runs, work, tmp, journalMiB }) {
  log(`  building a ${journalMiB} MiB journal full of transactions`);
  const j = buildJournalImage(work, journalMiB);
  const copy = join(work, 'journal-copy.img');
  log(`  replay ${j.transactions} transactions, ${j.blocks} blocks: haos-rescue (into memory), e2fsck -E journal_only (copy)`);
  const m = await compare(runs, {
    hr: async () => {
      const r = await timedNode(REPLAY, [j.img], { tmpDir: tmp });
      if (r.report.blocks !== j.blocks) throw new Error(`replayed ${r.report.blocks} blocks, expected ${j.blocks}`);
      log(`    haos-rescue ${journalMiB} MiB: replay ${r.report.ms.toFixed(0)} ms, peak RSS ${(r.report.maxRssKb / 1024).toFixed(1)} MB`);
      return r;
    },
    debugfs: async () => {
      copyFileSync(j.img, copy);
      // Exit 1 is e2fsck's 'filesystem changed': the replay happened.
      return timed('e2fsck', ['-fy', '-E', 'journal_only', copy], { tmpDir: tmp, okExit: [0, 1] });
    },
  }, async () => rmSync(copy, { force: true }));
  rmSync(j.img, { force: true });
  return { id: 'journal-replay', work: `replay ${journalMiB} MiB journal (e2fsprogs column: e2fsck -E journal_only)`, unit: 'MB/s', amount: j.blocks * BS, hr: m.hr, debugfs: m.debugfs, cat: null };
}

// The log rows: a card whose /logs holds journald files written by systemd-journal-remote (300,000 entries of
// five programs, about 100 MiB in three files; 60,000 with --quick), and `haos-rescue logs` against
// `journalctl --file` on the same files (journalctl reads plain files: what a Linux user would run after
// mounting the card). The last 100 lines of Home Assistant Core, and all of them; each run checks the line
// count. Page cache warm; median and best, peak RSS.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compare, log, round, timed } from './util.mjs';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const REMOTE = ['/usr/lib/systemd/systemd-journal-remote', '/lib/systemd/systemd-journal-remote'].find((p) => existsSync(p)) ?? null;
const NAMES = ['homeassistant', 'hassio_supervisor', 'addon_core_mosquitto', 'kernel', 'systemd'];

/** Journal Export Format text of `count` entries, a tenth of a second apart, a new boot every 100,000. */
function exportText(count) {
  const parts = [];
  for (let i = 0; i < count; i++) {
    const name = NAMES[i % NAMES.length];
    parts.push(
      `__REALTIME_TIMESTAMP=${1_764_800_000_000_000 + i * 100_000}\n__MONOTONIC_TIMESTAMP=${i}\n_BOOT_ID=${(Math.floor(i / 100_000) + 1).toString(16).padStart(32, '0')}\n` +
        `MESSAGE=2025-12-04 10:00:00.000 INFO (MainThread) [homeassistant.components.sensor] Updating sensor ${i} to ${(i * 7) % 1000}\n` +
        `SYSLOG_IDENTIFIER=${name}\nCONTAINER_NAME=${name}\nPRIORITY=6\n_PID=${1000 + (i % 50)}\n\n`,
    );
  }
  return parts.join('');
}

function buildCard(work, entries) {
  const stage = join(work, 'lg-stage');
  const logs = join(stage, 'logs', '6647fd64a9a046ebb4049568d1ff4cef');
  mkdirSync(logs, { recursive: true });
  mkdirSync(join(stage, 'supervisor/homeassistant'), { recursive: true });
  writeFileSync(join(stage, 'supervisor/homeassistant/.HA_VERSION'), '2025.5.3\n');
  const input = join(work, 'lg.export');
  writeFileSync(input, exportText(entries));
  execFileSync(REMOTE, [`--output=${join(logs, 'system.journal')}`, input], { stdio: 'ignore' });
  rmSync(input, { force: true });
  const files = readdirSync(logs).map((n) => join(logs, n));
  const img = join(work, 'lg-card.img');
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '4096', '-L', 'hassos-data', '-d', stage, img, '512M']);
  return { img, files, stage };
}

const lines = (stdout) => stdout.split('\n').filter((l) => l !== '' && !l.startsWith('-- ')).length;

export async function logsRows({ runs, work, tmp, quick }) {
  if (REMOTE === null || spawnSync('journalctl', ['--version']).status !== 0) {
    log('  logs: skipped (needs systemd-journal-remote and journalctl)');
    return null;
  }
  const entries = quick ? 60_000 : 300_000;
  log(`  logs: a card with ${entries} journal entries`);
  const { img, files, stage } = buildCard(work, entries);
  const expectedAll = Math.ceil(entries / NAMES.length);
  const checked = (want) => async (run) => {
    const r = await run;
    if (lines(r.stdout) !== want) throw new Error(`expected ${want} lines, got ${lines(r.stdout)}`);
    return r;
  };
  const journalctl = (n) => ['--no-pager', '-q', ...files.map((f) => `--file=${f}`), 'SYSLOG_IDENTIFIER=homeassistant', ...(n ? ['-n', String(n)] : [])];
  const last = await compare(runs, {
    ours: () => checked(100)(timed(process.execPath, [CLI, 'logs', img, '-n', '100'], { tmpDir: tmp, captureStdout: true })),
    journalctl: () => checked(100)(timed('journalctl', journalctl(100), { tmpDir: tmp, captureStdout: true })),
  });
  const all = await compare(runs, {
    ours: () => checked(expectedAll)(timed(process.execPath, [CLI, 'logs', img, '-n', '0'], { tmpDir: tmp, captureStdout: true })),
    journalctl: () => checked(expectedAll)(timed('journalctl', journalctl(0), { tmpDir: tmp, captureStdout: true })),
  });
  rmSync(stage, { recursive: true, force: true });
  rmSync(img, { force: true });
  const row = (what, m) => ({ work: what, oursMs: round(m.ours.medianMs), oursBestMs: round(m.ours.bestMs), journalctlMs: round(m.journalctl.medianMs), journalctlBestMs: round(m.journalctl.bestMs), oursRssMb: m.ours.rssKb ? round(m.ours.rssKb / 1024) : null });
  return { entries, files: files.length, rows: [row('last 100 lines of Core', last), row(`all ${expectedAll} lines of Core`, all)] };
}

export function logsTable(r) {
  if (r === null) return 'Logs: skipped (needs systemd-journal-remote and journalctl)';
  const lines = [`Logs from ${r.entries} journal entries in ${r.files} file(s) (median [best]; journalctl reads the files, not the card):`];
  for (const x of r.rows) {
    lines.push(`  ${x.work.padEnd(28)} haos-rescue ${(x.oursMs / 1000).toFixed(2)} s [${(x.oursBestMs / 1000).toFixed(2)}]  journalctl ${(x.journalctlMs / 1000).toFixed(2)} s [${(x.journalctlBestMs / 1000).toFixed(2)}]  RSS ${x.oursRssMb ?? '?'} MB`);
  }
  return lines.join('\n');
}

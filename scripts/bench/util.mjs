// Helpers for the benchmark: running a command with wall-clock timing and peak RSS, repeating a
// measurement and keeping the best and the median, and formatting numbers for the table.
// Peak RSS comes from `/usr/bin/time -f %M -o FILE` when that binary exists (GNU time), otherwise from
// the {maxRssKb} a haos-rescue child prints about itself; for other commands it is then unknown.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const GNU_TIME = '/usr/bin/time';
export const HAS_GNU_TIME = existsSync(GNU_TIME) && spawnSync(GNU_TIME, ['-f', '%M', 'true']).status === 0;
/** Children still running (each leads its own process group), so an interrupt can stop them. */
export const activeChildren = new Set();

/** SIGKILLs every running command's process group. */
export function killActiveChildren() {
  for (const child of activeChildren) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/** Progress lines go to stderr so stdout stays clean for the table or --json. */
export function log(msg) {
  process.stderr.write(`${msg}\n`);
}

/**
 * Runs `cmd args` to completion. stdout goes to /dev/null unless `captureStdout`. Resolves to
 * {ms, rssKb, stdout}; rejects (with stderr in the message) on a non-zero exit.
 */
export function timed(cmd, args, { captureStdout = false, tmpDir, cwd, okExit = [0] } = {}) {
  const rssFile = tmpDir ? join(tmpDir, `rss-${process.pid}-${Date.now()}.txt`) : null;
  const [file, argv] = HAS_GNU_TIME && rssFile ? [GNU_TIME, ['-f', '%M', '-o', rssFile, cmd, ...args]] : [cmd, args];
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    // Own process group, so an interrupt can stop the command together with /usr/bin/time around it.
    const child = spawn(file, argv, { cwd, detached: true, stdio: ['ignore', captureStdout ? 'pipe' : 'ignore', 'pipe'] });
    const out = [];
    const err = [];
    child.stdout?.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    activeChildren.add(child);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      activeChildren.delete(child);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const stdout = Buffer.concat(out).toString();
      let rssKb = null;
      if (rssFile && existsSync(rssFile)) {
        rssKb = Number.parseInt(readFileSync(rssFile, 'utf8').trim().split('\n').pop(), 10) || null;
        rmSync(rssFile, { force: true });
      }
      if (!okExit.includes(code)) {
        reject(new Error(`${cmd} ${args.join(' ')} exited ${code ?? signal}: ${Buffer.concat(err).toString().trim()}`));
      } else {
        resolve({ ms, rssKb, stdout });
      }
    });
  });
}

/**
 * Runs each tool's `once()` `runs` times, round-robin (a, b, c, a, b, c, ...) so that every tool meets
 * the same state of the page cache and of the output filesystem, calling `after()` after every run.
 * Returns, per tool name, best/median ms, all run times and the largest peak RSS (null for a null tool).
 */
export async function compare(runs, tools, after = async () => {}) {
  const results = Object.fromEntries(Object.keys(tools).map((k) => [k, []]));
  for (let i = 0; i < runs; i++) {
    for (const [name, once] of Object.entries(tools)) {
      if (!once) continue;
      results[name].push(await once(i));
      await after();
    }
  }
  return Object.fromEntries(Object.entries(results).map(([name, rs]) => [name, rs.length ? stats(rs) : null]));
}

function stats(results) {
  const times = results.map((r) => r.ms).sort((a, b) => a - b);
  const rss = results.map((r) => r.rssKb).filter((x) => x != null);
  return {
    bestMs: times[0],
    medianMs: times[Math.floor(times.length / 2)],
    runsMs: results.map((r) => round(r.ms, 1)),
    rssKb: rss.length ? Math.max(...rss) : null,
  };
}

/** Runs a node child script that prints one JSON line {ms, maxRssKb, ...} and folds that into timing. */
export async function timedNode(script, args, opts) {
  const r = await timed(process.execPath, [script, ...args], { ...opts, captureStdout: true });
  const report = JSON.parse(r.stdout.trim().split('\n').pop());
  return { ...r, rssKb: r.rssKb ?? report.maxRssKb ?? null, report };
}

export function round(x, digits = 0) {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** MB/s (10^6 bytes) from a byte count and milliseconds. */
export const mbps = (bytes, ms) => bytes / 1e6 / (ms / 1000);
/** Items per second. */
export const perSec = (n, ms) => n / (ms / 1000);

export function shortCmdVersion(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] || 'unknown';
}

/** The median of a list of numbers (the mean of the middle two for an even count). */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Median and best of the runs' times ({ms, rssKb} each), all run times and the largest peak RSS. */
export function runStats(results) {
  const ms = results.map((r) => r.ms);
  const rss = results.map((r) => r.rssKb).filter((x) => x != null);
  return {
    runs: results.length,
    medianMs: round(median(ms), 1),
    bestMs: round(Math.min(...ms), 1),
    runsMs: ms.map((x) => round(x, 1)),
    peakRssKb: rss.length ? Math.max(...rss) : null,
  };
}

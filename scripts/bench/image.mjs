// The imaging rows (issue 11): `haos-rescue image` against GNU ddrescue (and dd) in the same run, each
// tool `runs` times, interleaved (ours, ddrescue, dd, ours, ...); the table shows the median and, in
// brackets, the best run.
//   1. healthy: a 1 GiB image file of AES-CTR keystream (no filesystem, so `image` copies it in disk order)
//      copied to a fresh OUT, page cache dropped before every run (then each tool's program is loaded once,
//      untimed, so the row times the copy and not loading a 99 MB node binary from disk). Every column is
//      the tool's time plus `sync OUT`: `image` fsyncs before each map save and at the end, ddrescue 1.27
//      fsyncs OUT before its last map write, dd gets conv=fsync; the sync makes sure none is left behind.
//   2. failing: a 256 MiB image served by test/helpers/failing-card.py (FUSE, direct_io, one request at a
//      time) with 20 areas of 50 bad sectors (5 ms per failed request), remounted for every run so that
//      its counters start at zero: `image --retries 1` against `ddrescue -r1`; failed requests, how often
//      the most-asked bad sector was asked for, and whether both maps mark the same sectors bad
//      (`ddrescuelog -b 512 -l- MAP`).
// Each row is skipped, with the reason, where ddrescue, FUSE, fusepy or root are missing. Every command
// is killed after RUN_TIMEOUT_MS, and no new round starts after BUDGET_MS (the table then says how many
// runs were made).

import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeRandomFile } from './images.mjs';
import { activeChildren, log, mbps, round, runStats, timed } from './util.mjs';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const FAILING_CARD = fileURLToPath(new URL('../../test/helpers/failing-card.py', import.meta.url));
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const SECTOR = 512;
const TMPFS_MAGIC = 0x01021994;
/** No single command may take longer than this. */
const RUN_TIMEOUT_MS = 90_000;
/** No new round of runs starts after this long (the whole imaging bench takes ~1.5 min on the 2-core VM). */
const BUDGET_MS = 170_000;

export const FAIL_DELAY_MS = 5;
export const BAD_AREAS = 20;
export const BAD_AREA_SECTORS = 50;

const has = (cmd, args = ['--version']) => !spawnSync(cmd, args, { stdio: 'ignore' }).error;
const isRoot = () => process.getuid?.() === 0;

/** Why neither row can run here, or null. */
function ddrescueMissing() {
  if (!has('ddrescue') || !has('ddrescuelog')) return 'GNU ddrescue is not installed (apt-get install gddrescue)';
  return null;
}

/** Why the failing-card row cannot run here, or null. */
export function failingCardUnavailable() {
  const why = ddrescueMissing();
  if (why) return why;
  if (!existsSync('/dev/fuse')) return 'no /dev/fuse';
  try {
    accessSync('/dev/fuse', constants.R_OK | constants.W_OK);
  } catch {
    return isRoot() ? '/dev/fuse cannot be opened' : 'not root, and /dev/fuse is not open to this user';
  }
  if (!has('fusermount', ['-V'])) return 'fusermount is not installed (apt-get install fuse3)';
  const py = spawnSync('/usr/bin/python3', ['-c', 'import fusepy'], { encoding: 'utf8' });
  if (py.status !== 0) return 'Debian python3-fusepy is not installed (apt-get install python3-fusepy)';
  return null;
}

/** Drops the page cache (root only). Returns null when it worked, otherwise why not. */
function dropCaches() {
  if (!isRoot()) return 'not root, so the page cache cannot be dropped';
  const r = spawnSync('sh', ['-c', 'sync && echo 3 > /proc/sys/vm/drop_caches'], { encoding: 'utf8' });
  return r.status === 0 ? null : `cannot drop the page cache: ${(r.stderr || `exit ${r.status}`).trim()}`;
}

/** `timed`, but the command (its whole process group) is SIGKILLed after `timeoutMs`. */
async function bounded(cmd, args, opts, timeoutMs = RUN_TIMEOUT_MS) {
  const before = new Set(activeChildren);
  const running = timed(cmd, args, opts);
  const child = [...activeChildren].find((c) => !before.has(c));
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }, timeoutMs);
  try {
    return await running;
  } catch (err) {
    throw killed ? new Error(`${cmd} ${args.join(' ')}: killed after ${timeoutMs / 1000} s`) : err;
  } finally {
    clearTimeout(timer);
  }
}

/** The tool, then `sync OUT`; the time is both together (and each on its own for the JSON). */
async function withSync(out, run) {
  const r = await run();
  const s = await bounded('sync', [out], {});
  return { ...r, toolMs: r.ms, syncMs: s.ms, ms: r.ms + s.ms };
}

/**
 * Runs each tool's `once(i)` up to `runs` times, interleaved; stops starting rounds after `deadline`.
 * Returns, per tool, the list of results.
 */
async function interleave(runs, tools, deadline) {
  const results = Object.fromEntries(Object.keys(tools).map((k) => [k, []]));
  for (let i = 0; i < runs; i++) {
    if (i > 0 && Date.now() > deadline) {
      log(`    time budget used up: ${i} run(s) of each tool instead of ${runs}`);
      break;
    }
    for (const [name, once] of Object.entries(tools)) results[name].push(await once(i));
  }
  return results;
}

/** Median and best of the runs' times, with all run times and the largest peak RSS. */
function timing(results) {
  return {
    ...runStats(results),
    toolMs: results.map((r) => round(r.toolMs, 1)),
    syncMs: results.map((r) => round(r.syncMs, 1)),
  };
}

/** Row 1: a healthy source copied to a fresh image file, cold page cache. */
async function healthyRow({ runs, work, tmp, bytes, deadline }) {
  const label = `copy a healthy ${fmt(bytes)} image -> new image file, + sync OUT`;
  const why = ddrescueMissing();
  if (why) {
    log(`  ${label}: skipped (${why})`);
    return { id: 'image-healthy', work: label, skipped: why };
  }
  const src = join(work, 'image-src.bin');
  const out = join(work, 'image-out.img');
  const map = `${out}.map`;
  log(`  writing the ${fmt(bytes)} source (AES-CTR keystream)`);
  writeRandomFile(src, bytes);
  const onTmpfs = statfsSync(work).type === TMPFS_MAGIC;
  const dropWhy = onTmpfs ? 'the work dir is on tmpfs, which the page cache cannot drop' : dropCaches();
  const cache = dropWhy === null ? 'cold (page cache dropped before each run)' : `warm (${dropWhy})`;
  if (dropWhy !== null) await timed('cat', [src], { tmpDir: tmp });
  const gone = () => {
    rmSync(out, { force: true });
    rmSync(map, { force: true });
  };

  /** Fresh output, the cache dropped, then the tool's program itself loaded once (untimed). */
  const prepare = async (warmProgram) => {
    gone();
    if (dropWhy === null) dropCaches();
    await timed(...warmProgram, {});
  };
  log(`  ${label}, ${cache}: haos-rescue image, ddrescue, dd conv=fsync`);
  let checked = { hr: false, ddrescue: false };
  const verify = async (who) => {
    if (checked[who]) return;
    checked[who] = true;
    const cmp = spawnSync('cmp', [src, out], { encoding: 'utf8' });
    if (cmp.status !== 0) throw new Error(`${who}: the copy differs from the source: ${cmp.stdout}${cmp.stderr}`);
  };
  const results = await interleave(runs, {
    hr: async () => {
      await prepare([process.execPath, [CLI, '--version']]);
      const r = await withSync(out, () => bounded(process.execPath, [CLI, 'image', src, '--out', out, '--json'], { tmpDir: tmp, captureStdout: true }));
      const rep = JSON.parse(r.stdout);
      if (rep.rescuedBytes !== bytes || rep.badSectorBytes !== 0 || !rep.finished) throw new Error(`haos-rescue image: rescued ${rep.rescuedBytes} of ${bytes} bytes`);
      await verify('hr');
      gone();
      return { ...r, reads: rep.reads, elapsedMs: rep.elapsedMs };
    },
    ddrescue: async () => {
      await prepare(['ddrescue', ['--version']]);
      const r = await withSync(out, () => bounded('ddrescue', ['-f', '-q', src, out, map], { tmpDir: tmp }));
      // -D: exit 0 only when the map says every byte is finished.
      if (spawnSync('ddrescuelog', ['-D', map]).status !== 0) throw new Error('ddrescue: its map is not all finished');
      await verify('ddrescue');
      gone();
      return r;
    },
    dd: async () => {
      await prepare(['dd', ['--version']]);
      const r = await withSync(out, () => bounded('dd', [`if=${src}`, `of=${out}`, 'bs=1M', 'conv=fsync', 'status=none'], { tmpDir: tmp }));
      gone();
      return r;
    },
  }, deadline);
  rmSync(src, { force: true });
  const t = Object.fromEntries(Object.entries(results).map(([k, rs]) => [k, timing(rs)]));
  const speed = (m) => ({ medianMBps: round(mbps(bytes, m.medianMs), 1), bestMBps: round(mbps(bytes, m.bestMs), 1) });
  return {
    id: 'image-healthy',
    work: label,
    cache,
    bytes,
    hr: { ...t.hr, ...speed(t.hr), reads: results.hr[0]?.reads, commandElapsedMs: results.hr.map((r) => r.elapsedMs) },
    ddrescue: { ...t.ddrescue, ...speed(t.ddrescue) },
    dd: { ...t.dd, ...speed(t.dd) },
    // Throughput ratios, medians: above 1 means haos-rescue is faster.
    ratioVsDdrescue: round(t.ddrescue.medianMs / t.hr.medianMs, 2),
    ratioVsDd: round(t.dd.medianMs / t.hr.medianMs, 2),
  };
}

/** The bad areas: BAD_AREAS runs of BAD_AREA_SECTORS, spread over the card, off any power-of-two boundary. */
export function badAreas(sectors, areas = BAD_AREAS) {
  return Array.from({ length: areas }, (_, i) => [Math.floor(((i + 0.5) * sectors) / areas) + ((i * 37) % 1000), BAD_AREA_SECTORS]);
}

/** Mounts failing-card.py outside the work dir (so removing that never walks into a mount). */
async function mountFailingCard(config) {
  const mountpoint = mkdtempSync(join(tmpdir(), 'haos-rescue-failing-'));
  const child = spawn('/usr/bin/python3', [FAILING_CARD, config, mountpoint], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const card = join(mountpoint, 'card.img');
  for (let i = 0; i < 100 && !existsSync(card); i++) await new Promise((r) => setTimeout(r, 50));
  let mounted = true;
  const unmount = () => {
    if (!mounted) return;
    mounted = false;
    // One card is mounted per run: its exit handler goes with it (11 of them made Node warn of a leak).
    process.removeListener('exit', unmount);
    // A tool just killed may still hold the file for a moment: then detach lazily.
    if (spawnSync('fusermount', ['-u', mountpoint]).status !== 0) spawnSync('fusermount', ['-u', '-z', mountpoint]);
    child.kill();
    rmSync(mountpoint, { recursive: true, force: true });
  };
  process.once('exit', unmount);
  if (!existsSync(card)) {
    unmount();
    throw new Error(`failing-card.py did not mount ${mountpoint}: ${stderr}`);
  }
  const stats = () => JSON.parse(readFileSync(join(mountpoint, 'stats.json'), 'utf8'));
  return { card, stats, unmount };
}

/** Sector numbers a map marks bad, as ddrescuelog lists them. */
function badSectorsOf(map) {
  const r = spawnSync('ddrescuelog', ['-b', String(SECTOR), '-l-', map], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ddrescuelog -l- ${map} failed: ${r.stderr}`);
  return r.stdout.trim().split('\n').filter(Boolean).map(Number);
}

/** Row 2: the failing card, --retries 1 against -r1. */
async function failingRow({ runs, work, tmp, bytes, areas, deadline }) {
  const badSectorCount = areas * BAD_AREA_SECTORS;
  const label = `image a failing ${fmt(bytes)} card (${areas} × ${BAD_AREA_SECTORS} bad sectors, ${FAIL_DELAY_MS} ms a failure), --retries 1 / -r1, + sync OUT`;
  const why = failingCardUnavailable();
  if (why) {
    log(`  ${label}: skipped (${why})`);
    return { id: 'image-failing', work: label, skipped: why };
  }
  const image = join(work, 'image-card.bin');
  writeRandomFile(image, bytes);
  const bad = badAreas(bytes / SECTOR, areas);
  const config = join(work, 'image-card.json');
  writeFileSync(config, JSON.stringify({ image, sector: SECTOR, bad, stall: [], failDelayMs: FAIL_DELAY_MS, dieAfterBytes: null, latencyMs: 0 }));
  const expected = bad.flatMap(([first, n]) => Array.from({ length: n }, (_, k) => first + k)).join(',');
  const out = join(work, 'image-card-out.img');
  const map = `${out}.map`;
  const gone = () => {
    rmSync(out, { force: true });
    rmSync(map, { force: true });
  };

  /** One run on a fresh mount: the tool, sync OUT, then the card's counters and the map's bad sectors. */
  const onCard = async (who, run) => {
    gone();
    const mount = await mountFailingCard(config);
    try {
      const r = await withSync(out, () => run(mount.card));
      const s = mount.stats();
      const asked = Object.values(s.badSectorReads);
      const marked = badSectorsOf(map);
      if (marked.length !== badSectorCount) log(`    ${who}: ${marked.length} sectors marked bad, the card has ${badSectorCount}`);
      return {
        ...r,
        requests: s.requests,
        failed: s.failed,
        largestRequest: s.largestRequest,
        badSectorsAsked: asked.length,
        maxBadSectorReads: asked.length ? Math.max(...asked) : 0,
        marked: marked.join(','),
        markedCount: marked.length,
      };
    } finally {
      mount.unmount();
      gone();
    }
  };
  log(`  ${label}: haos-rescue image, ddrescue`);
  const results = await interleave(runs, {
    hr: () => onCard('haos-rescue', async (card) => {
      // Exit 65: parts of the card could not be read, as expected here.
      const r = await bounded(process.execPath, [CLI, 'image', card, '--out', out, '--retries', '1', '--json'], { tmpDir: tmp, captureStdout: true, okExit: [65] });
      const rep = JSON.parse(r.stdout);
      return { ...r, reads: rep.reads, failedReads: rep.failedReads, badSectorBytes: rep.badSectorBytes };
    }),
    ddrescue: () => onCard('ddrescue', (card) => bounded('ddrescue', ['-q', '-r1', card, out, map], { tmpDir: tmp })),
  }, deadline);
  rmSync(image, { force: true });
  const summary = (rs) => ({
    ...timing(rs),
    requests: rs.map((r) => r.requests),
    failedRequests: rs.map((r) => r.failed),
    largestRequest: Math.max(...rs.map((r) => r.largestRequest)),
    maxBadSectorReads: Math.max(...rs.map((r) => r.maxBadSectorReads)),
    badSectorsAsked: Math.min(...rs.map((r) => r.badSectorsAsked)),
    badSectorsMarked: rs.map((r) => r.markedCount),
  });
  const hr = { ...summary(results.hr), commandReads: results.hr.map((r) => r.reads), commandFailedReads: results.hr.map((r) => r.failedReads) };
  const dr = summary(results.ddrescue);
  const all = [...results.hr, ...results.ddrescue].map((r) => r.marked);
  return {
    id: 'image-failing',
    work: label,
    bytes,
    badSectors: badSectorCount,
    hr,
    ddrescue: dr,
    // Above 1: haos-rescue took less time (medians).
    ratioVsDdrescue: round(dr.medianMs / hr.medianMs, 2),
    sameBadSectors: all.every((m) => m === all[0]),
    badSectorsAreTheCards: all.every((m) => m === expected),
  };
}

/**
 * Both imaging rows. `quick`: a 256 MiB healthy source and 5 bad areas on a 64 MiB card.
 * Returns the rows (skipped ones carry `skipped`: the reason).
 */
export async function imageRows({ runs, work, tmp, quick }) {
  const deadline = Date.now() + BUDGET_MS;
  // Other work on the machine shows up as noise here: the load average goes into the table.
  const load = () => round(loadavg()[0], 2);
  const measured = async (row) => {
    const loadBefore = load();
    return { ...(await row()), loadBefore, loadAfter: load() };
  };
  const healthy = await measured(() => healthyRow({ runs, work, tmp, bytes: quick ? 256 * MiB : 1 * GiB, deadline }));
  const failing = await measured(() => failingRow({ runs, work, tmp, bytes: quick ? 64 * MiB : 256 * MiB, areas: quick ? 5 : BAD_AREAS, deadline }));
  return [healthy, failing];
}

function fmt(bytes) {
  return bytes >= GiB ? `${+(bytes / GiB).toFixed(2)} GiB` : `${+(bytes / MiB).toFixed(0)} MiB`;
}

const num = (x) => (x >= 100 ? String(Math.round(x)) : x.toFixed(1));
const runsText = (n) => `${n} run${n === 1 ? '' : 's'}`;
const secs = (ms) => `${(ms / 1000).toFixed(2)} s`;
const mb = (kb) => (kb == null ? '—' : `${round(kb / 1024, 1)} MB`);
/** One number, or its range over the runs when they differ. */
const spread = (xs) => (Math.min(...xs) === Math.max(...xs) ? String(xs[0]) : `${Math.min(...xs)}–${Math.max(...xs)}`);

/** The imaging table (its own columns: the peers are ddrescue and dd, not debugfs and cat). */
export function imageTable(rows) {
  const ddrescueVersion = spawnSync('ddrescue', ['--version'], { encoding: 'utf8' }).stdout?.split('\n')[0] || 'ddrescue: not installed';
  const lines = [
    `imaging: ${ddrescueVersion}; median of the runs (best in brackets); ratio = how much faster haos-rescue is (median), >1: faster`,
    `1-minute load average: ${rows.map((r) => `${r.id} ${r.loadBefore ?? '?'} -> ${r.loadAfter ?? '?'}`).join(', ')}`,
    '',
    '| work | haos-rescue | ddrescue | dd | ratio |',
    '|---|---|---|---|---|',
  ];
  for (const row of rows) {
    if (row.skipped) {
      lines.push(`| ${row.work} | skipped: ${row.skipped} | | | |`);
      continue;
    }
    if (row.id === 'image-healthy') {
      const cell = (m) => `${num(m.medianMBps)} (${num(m.bestMBps)})`;
      lines.push(`| ${row.work}, ${row.cache}, MB/s, ${runsText(row.hr.runs)} | ${cell(row.hr)} | ${cell(row.ddrescue)} | ${cell(row.dd)} | ${row.ratioVsDdrescue.toFixed(2)}× ddrescue, ${row.ratioVsDd.toFixed(2)}× dd |`);
      lines.push(`| peak RSS: healthy copy | ${mb(row.hr.peakRssKb)} | ${mb(row.ddrescue.peakRssKb)} | ${mb(row.dd.peakRssKb)} | |`);
    } else {
      const cell = (m) => `${secs(m.medianMs)} (${secs(m.bestMs)})`;
      lines.push(`| ${row.work}, time, ${runsText(row.hr.runs)} | ${cell(row.hr)} | ${cell(row.ddrescue)} | — | ${row.ratioVsDdrescue.toFixed(2)}× ddrescue |`);
      lines.push(`| failing card: requests the card got (failed) | ${spread(row.hr.requests)} (${spread(row.hr.failedRequests)}) | ${spread(row.ddrescue.requests)} (${spread(row.ddrescue.failedRequests)}) | — | |`);
      lines.push(`| failing card: reads of the most-read bad sector | ${row.hr.maxBadSectorReads} | ${row.ddrescue.maxBadSectorReads} | — | |`);
      const same = row.sameBadSectors ? (row.badSectorsAreTheCards ? 'same sectors in every run, = the card\'s' : 'same sectors in every run, ≠ the card\'s') : 'differ';
      lines.push(`| failing card: sectors the map marks bad (of ${row.badSectors}) | ${spread(row.hr.badSectorsMarked)} | ${spread(row.ddrescue.badSectorsMarked)} | — | ${same} |`);
      lines.push(`| peak RSS: failing card | ${mb(row.hr.peakRssKb)} | ${mb(row.ddrescue.peakRssKb)} | — | |`);
    }
  }
  return lines.join('\n');
}

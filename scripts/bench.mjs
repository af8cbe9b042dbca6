#!/usr/bin/env node
// `npm run bench`: measures haos-rescue against e2fsprogs' debugfs and plain cat/cp on page-cached
// images built on the spot (design.md §6), `image` against GNU ddrescue and dd, and SecureTar decryption
// against openssl. Builds dist/ first if it is missing.
//   node scripts/bench.mjs [--quick] [--json] [--runs N] [--only CASE[,CASE...]]
// --quick: 256 MiB file and 2,000 small files (a smoke run of this script). --json: the results as JSON
// on stdout (the table then goes to stderr). Progress always goes to stderr. --only: just these cases
// (files: the big-file and small-file rows; journal; card; image: the imaging rows; securetar; backup: backup create; repair: rm and put against debugfs; vdisk: extract through qcow2/VHDX, compressed qcow2, info on 256 GiB; gui: browser-window start-up; extract: backup extract against cp + sync on tmpfs and disk; logs: the last log lines against journalctl); default all.
// Rows and how to read them: docs/benchmarks.md. Pieces: scripts/bench/*.mjs.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const CASES = ['files', 'journal', 'card', 'image', 'securetar', 'backup', 'repair', 'vdisk', 'gui', 'extract', 'logs'];

function parseArgs(argv) {
  const opts = { quick: false, json: false, runs: 3, only: new Set(CASES) };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') opts.quick = true;
    else if (a === '--json') opts.json = true;
    else if (a === '--runs') opts.runs = Number.parseInt(argv[++i] ?? '', 10);
    else if (a === '--only') {
      const names = (argv[++i] ?? '').split(',').filter(Boolean);
      const unknown = names.filter((n) => !CASES.includes(n));
      if (names.length === 0 || unknown.length > 0) throw new Error(`--only takes cases out of ${CASES.join(', ')} (comma-separated), got ${argv[i]}`);
      opts.only = new Set(names);
    } else throw new Error(`unknown argument ${a} (expected --quick, --json, --runs N, --only CASE[,CASE...])`);
  }
  if (!(opts.runs >= 1)) throw new Error('--runs needs a positive number');
  return opts;
}

/** Builds dist/ with tsc when the modules the benchmark loads are not there. */
function ensureBuilt() {
  const needed = ['device/file-device.js', 'ext4/volume.js', 'ext4/walk.js', 'ha/securetar/index.js'];
  const present = () => needed.every((p) => existsSync(join(ROOT, 'dist', p)));
  if (present()) return;
  process.stderr.write('dist/ is missing: npx tsc -p tsconfig.build.json\n');
  const r = spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: ['ignore', 2, 2] });
  // tsc still emits when some unrelated file has a type error; the benchmark only needs the reader.
  if (!present()) throw new Error(`build failed (exit ${r.status ?? r.signal}): dist/ lacks ${needed.join(', ')}`);
  if (r.status !== 0) process.stderr.write('tsc reported errors, but the modules the benchmark needs were built\n');
}

/** The ext4 rows need e2fsprogs; the imaging rows check their own tools and skip with the reason. */
function requireTools() {
  for (const tool of ['mkfs.ext4', 'debugfs']) {
    if (spawnSync(tool, ['-V']).error) throw new Error(`${tool} not found: install e2fsprogs`);
  }
}

/** Creates the work dir and arranges for it to go away on exit, error, Ctrl-C or SIGTERM. */
function makeWorkDir(killActiveChildren) {
  const work = mkdtempSync(join(tmpdir(), 'haos-rescue-bench-'));
  const cleanup = () => rmSync(work, { recursive: true, force: true });
  process.on('exit', cleanup);
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
    process.on(signal, () => {
      killActiveChildren();
      process.stderr.write(`\n${signal}: removing ${work}\n`);
      process.exit(code);
    });
  }
  return work;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const wants = (c) => opts.only.has(c);
  const ext4Rows = wants('files') || wants('journal') || wants('card');
  ensureBuilt();
  if (ext4Rows) requireTools();
  // Loaded after the build check so nothing here depends on dist/ existing at start.
  const { killActiveChildren, log } = await import('./bench/util.mjs');
  const { buildImages } = await import('./bench/images.mjs');
  const { fmtSize, runAll, warmCache } = await import('./bench/cases.mjs');
  const { machineInfo, machineText, summarize, table } = await import('./bench/report.mjs');

  const sizes = opts.quick
    ? { bigBytes: 256 * MiB, treeDirs: 20, treeFilesPerDir: 100 }
    : { bigBytes: 1 * GiB, treeDirs: 100, treeFilesPerDir: 100 };
  const work = makeWorkDir(killActiveChildren);
  const tmp = join(work, 'tmp');
  mkdirSync(tmp);

  log(`work dir ${work}`);
  let img = null;
  let t = Date.now();
  if (wants('files') || wants('card')) {
    log(`building images: ${fmtSize(sizes.bigBytes)} file; ${sizes.treeDirs * sizes.treeFilesPerDir} small files`);
    img = buildImages(work, sizes);
    log(`  done in ${((Date.now() - t) / 1000).toFixed(1)} s; warming the page cache`);
    await warmCache(img, tmp);
  }
  t = Date.now();
  log(`measuring, ${opts.runs} runs each:`);
  const rows = [];
  if (wants('files')) rows.push(...(await runAll(img, { runs: opts.runs, work, tmp })));
  if (wants('journal')) {
    const { journalRows } = await import('./bench/journal.mjs');
    rows.push(...(await journalRows({ runs: opts.runs, work, tmp, journalMiB: opts.quick ? 32 : 128 })));
  }
  if (wants('card')) {
    const { cardRows } = await import('./bench/card.mjs');
    rows.push(...(await cardRows(img, { runs: opts.runs, work, tmp })));
  }
  let securetar = null;
  if (wants('securetar')) {
    const { securetarRows } = await import('./bench/securetar.mjs');
    securetar = await securetarRows({ runs: opts.runs, work, tmp, quick: opts.quick });
  }
  let backupCreate = null;
  if (wants('backup')) {
    const { backupCreateRows } = await import('./bench/backup-create.mjs');
    backupCreate = await backupCreateRows({ runs: opts.runs, work, tmp, quick: opts.quick });
  }
  let repair = null;
  if (wants('repair')) {
    const { repairRows } = await import('./bench/repair.mjs');
    repair = await repairRows({ runs: opts.runs, work, tmp, quick: opts.quick });
  }
  let vdisk = null;
  if (wants('vdisk')) {
    const { vdiskRows } = await import('./bench/vdisk.mjs');
    vdisk = await vdiskRows({ runs: opts.runs, work, tmp, quick: opts.quick });
  }
  let extract = null;
  if (wants('extract')) {
    const { extractRows } = await import('./bench/extract.mjs');
    extract = await extractRows({ runs: opts.runs, work, tmp, quick: opts.quick });
  }
  let logs;
  if (wants('logs')) {
    const { logsRows } = await import('./bench/logs.mjs');
    logs = await logsRows({ runs: opts.runs, work, tmp, quick: opts.quick });
  }
  let gui = null;
  if (wants('gui')) {
    const { guiRows } = await import('./bench/gui.mjs');
    gui = await guiRows({ runs: opts.runs, work });
  }
  // Last: the imaging rows drop the page cache, which the rows above measure warm.
  let imaging = null;
  if (wants('image')) {
    const { imageRows } = await import('./bench/image.mjs');
    imaging = await imageRows({ runs: opts.runs, work, tmp, quick: opts.quick });
  }
  log(`  done in ${((Date.now() - t) / 1000).toFixed(1)} s`);

  const machine = machineInfo();
  const summaries = rows.map(summarize);
  const tables = [];
  if (summaries.length > 0) tables.push(table(summaries));
  if (securetar !== null) tables.push((await import('./bench/securetar.mjs')).securetarTable(securetar));
  if (backupCreate !== null) tables.push((await import('./bench/backup-create.mjs')).backupCreateTable(backupCreate));
  if (repair !== null) tables.push((await import('./bench/repair.mjs')).repairTable(repair));
  if (vdisk !== null) tables.push((await import('./bench/vdisk.mjs')).vdiskTable(vdisk));
  if (extract !== null) tables.push((await import('./bench/extract.mjs')).extractTable(extract));
  if (gui !== null) tables.push((await import('./bench/gui.mjs')).guiTable(gui));
  if (logs !== undefined) tables.push((await import('./bench/logs.mjs')).logsTable(logs));
  if (imaging !== null) tables.push((await import('./bench/image.mjs')).imageTable(imaging));
  const text = `${machineText(machine)}\n\n${tables.join('\n\n')}\n`;
  if (opts.json) {
    process.stderr.write(text);
    process.stdout.write(`${JSON.stringify({ machine, quick: opts.quick, runs: opts.runs, treeBytes: img?.treeBytes ?? null, rows: summaries, imaging, securetar, backupCreate, repair, vdisk, gui, extract, logs: logs ?? null }, null, 2)}\n`);
  } else {
    process.stdout.write(text);
  }
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err?.stack ?? err}\n`);
  process.exitCode = 1;
});

// The benchmark rows. Each row runs haos-rescue, debugfs and a plain-file ceiling (cat/cp of an
// ordinary copy of the same bytes, page-cached) `runs` times, round-robin, and keeps best and median
// wall-clock time.
// Every haos-rescue measurement except the in-process one is a fresh `node` child, so it pays for
// process start and module loading exactly like debugfs and cat do.

import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readWholeFile } from './read-file.mjs';
import { compare, log, timed, timedNode } from './util.mjs';

const READ_FILE = fileURLToPath(new URL('./read-file.mjs', import.meta.url));
const READ_TREE = fileURLToPath(new URL('./read-tree.mjs', import.meta.url));
const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

/** The haos-rescue command itself, as a user runs it, with --json so its totals can be checked. */
async function timedCli(args, opts) {
  const r = await timed(process.execPath, [CLI, ...args, '--json'], { ...opts, captureStdout: true });
  return { ...r, report: JSON.parse(r.stdout) };
}

/** Throws unless a haos-rescue child moved the expected amount, so a silent short read cannot look fast. */
function expect(what, got, want) {
  if (got !== want) throw new Error(`${what}: expected ${want}, got ${got}`);
}

async function bigFileRows(img, { runs, work, tmp }) {
  const out = join(work, 'extract.out');
  const rmOut = async () => rmSync(out, { force: true });
  const bytes = img.bigBytes;
  const hrChild = async (args) => {
    const r = await timedNode(READ_FILE, [img.bigImg, img.bigPath, ...args], { tmpDir: tmp });
    expect('haos-rescue bytes', r.report.bytes, bytes);
    return r;
  };
  const row = (id, label, m) => ({ id, work: label, unit: 'MB/s', amount: bytes, hr: m.hr, debugfs: m.debugfs ?? null, cat: m.cat ?? null });

  log('  read 1 file -> sink: haos-rescue (child), debugfs cat, cat');
  const read = await compare(runs, {
    hr: () => hrChild([]),
    debugfs: () => timed('debugfs', ['-R', `cat ${img.bigPath}`, img.bigImg], { tmpDir: tmp }),
    cat: () => timed('cat', [img.bigFile], { tmpDir: tmp }),
  });
  log('  read 1 file -> sink: haos-rescue in-process');
  const inProcess = await compare(runs, {
    hr: async () => {
      const r = await readWholeFile(img.bigImg, img.bigPath);
      expect('in-process bytes', r.bytes, bytes);
      return { ms: r.ms, rssKb: null };
    },
  });
  log('  backup extract 1 file -> folder: haos-rescue backup extract, debugfs dump + sync, cp + sync');
  const outDir = join(work, 'extract-dir');
  const extract = await compare(runs, {
    hr: async () => {
      const r = await timedCli(['backup', 'extract', img.bigImg, '--out', outDir], { tmpDir: tmp });
      expect('backup extract bytes', r.report.extracted?.[0]?.size, bytes);
      return r;
    },
    // backup extract makes its copy durable (fsync) before it reports it; the others get `sync FILE` after
    // them so that every column measures a copy that is on the disk (on tmpfs the sync costs nothing).
    debugfs: () => timed('sh', ['-c', 'debugfs -R "dump $1 $2" "$3" && sync "$2"', 'sh', img.bigPath, out, img.bigImg], { tmpDir: tmp }),
    cat: () => timed('sh', ['-c', 'cp --reflink=never "$1" "$2" && sync "$2"', 'sh', img.bigFile, out], { tmpDir: tmp }),
  }, async () => (await rmOut(), rmSync(outDir, { recursive: true, force: true })));
  const size = fmtSize(bytes);
  return [
    row('big-read', `read ${size} file -> /dev/null`, read),
    row('big-read-inproc', `read ${size} file, in-process (no node start)`, inProcess),
    row('big-extract', `backup extract ${size} backup -> file, fsync'd (debugfs dump / cp + sync FILE)`, extract),
  ];
}

async function treeRows(img, { runs, work, tmp }) {
  const out = join(work, 'export-out');
  const gone = async () => rmSync(out, { recursive: true, force: true });
  const fresh = async () => (await gone(), mkdirSync(out));
  const n = img.treeFiles;
  const hrChild = async () => {
    const r = await timedNode(READ_TREE, [img.treeImg], { tmpDir: tmp });
    expect('haos-rescue files', r.report.files, n);
    return r;
  };
  const row = (id, label, m) => ({ id, work: label, unit: 'files/s', amount: n, hr: m.hr, debugfs: m.debugfs ?? null, cat: m.cat ?? null });

  log(`  walk + read ${n} files -> sink: haos-rescue (child), debugfs -f (cat each), find|cat`);
  const read = await compare(runs, {
    hr: () => hrChild(),
    // debugfs has no recursive cat: it is given every path and looks each one up instead of walking.
    debugfs: () => timed('debugfs', ['-f', img.treeCatCmds, img.treeImg], { tmpDir: tmp }),
    cat: () => timed('find', [img.treeStage, '-type', 'f', '-exec', 'cat', '{}', '+'], { tmpDir: tmp }),
  });
  log(`  export ${n} files -> dir: haos-rescue export --what all, debugfs rdump, cp -r`);
  // Each tool starts from an empty `out`; cp -r needs it absent (it creates it), the others present.
  const exportCli = async (target) => {
    const r = await timedCli(['export', img.treeImg, '--what', 'all', '--out', target], { tmpDir: tmp });
    expect('export files', r.report.files, n);
    return r;
  };
  const exp = await compare(runs, {
    hr: async () => (await gone(), exportCli(out)),
    debugfs: async () => (await fresh(), timed('debugfs', ['-R', `rdump / ${out}`, img.treeImg], { tmpDir: tmp })),
    cat: async () => (await gone(), timed('cp', ['-r', '--reflink=never', img.treeStage, out], { tmpDir: tmp })),
  }, gone);
  log(`  export ${n} files -> dir: haos-rescue in-process (no node start)`);
  const expIn = await compare(runs, {
    hr: async () => {
      await gone();
      const { withSource } = await import(new URL('../../dist/actions/source.js', import.meta.url).href);
      const { exportTree } = await import(new URL('../../dist/actions/export/index.js', import.meta.url).href);
      const t0 = process.hrtime.bigint();
      const r = await withSource(img.treeImg, {}, (s) => exportTree(s.volume, s.layout, { out, what: 'all' }));
      expect('in-process export files', r.files, n);
      return { ms: Number(process.hrtime.bigint() - t0) / 1e6, rssKb: null };
    },
  }, gone);
  log(`  export ${n} files -> .tar: haos-rescue export, GNU tar -cf of the staged copy`);
  const tarOut = join(work, 'export.tar');
  const tarGone = async () => rmSync(tarOut, { force: true });
  const tar = await compare(runs, {
    hr: () => exportCli(tarOut),
    cat: () => timed('tar', ['-cf', tarOut, '-C', img.treeStage, '.'], { tmpDir: tmp }),
  }, tarGone);
  log('  start-up: haos-rescue --version, debugfs -V');
  const start = await compare(runs, {
    hr: () => timed(process.execPath, [CLI, '--version'], { tmpDir: tmp }),
    debugfs: () => timed('debugfs', ['-V'], { tmpDir: tmp }),
  });
  return [
    row('tree-read', `walk + read ${n} small files -> sink`, read),
    row('tree-export', `export ${n} small files -> folder (the command)`, exp),
    row('tree-export-inproc', `export ${n} small files -> folder, in-process (no node start, warm after the first run; debugfs: rdump above)`, { hr: expIn.hr, debugfs: exp.debugfs }),
    row('tree-export-tar', `export ${n} small files -> .tar (the command; cat/cp column: GNU tar)`, tar),
    { id: 'start-up', work: 'start a process and exit (--version / -V)', unit: 'runs/s', amount: 1, hr: start.hr, debugfs: start.debugfs, cat: null },
  ];
}

/**
 * Reads every image and staged copy once so all rows measure page-cached data, and checks that the
 * debugfs command file really prints every small file (debugfs -f exits 0 even when a command fails).
 */
export async function warmCache(img, tmp) {
  for (const f of [img.bigImg, img.treeImg, img.bigFile]) await timed('cat', [f], { tmpDir: tmp });
  await timed('find', [img.treeStage, '-type', 'f', '-exec', 'cat', '{}', '+'], { tmpDir: tmp });
  const { stdout } = await timed('debugfs', ['-f', img.treeCatCmds, img.treeImg], { tmpDir: tmp, captureStdout: true });
  if (Buffer.byteLength(stdout) < img.treeBytes) throw new Error(`debugfs -f printed ${Buffer.byteLength(stdout)} bytes, want >= ${img.treeBytes}`);
}

export async function runAll(img, ctx) {
  return [...(await bigFileRows(img, ctx)), ...(await treeRows(img, ctx))];
}

export function fmtSize(bytes) {
  const GiB = 1024 ** 3;
  return bytes >= GiB ? `${+(bytes / GiB).toFixed(2)} GiB` : `${+(bytes / 1024 ** 2).toFixed(0)} MiB`;
}

// The extract rows (issue 16): `backup extract` of a 1 GiB backup (256 MiB with --quick) against `cp` +
// `sync FILE` of the same bytes, side by side in one run, into tmpfs (/dev/shm) and into the disk-backed
// work folder. Goal: at most 1.5x the copy's time, peak RSS under 150 MB. Interleaved runs, median.

import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { createCipheriv } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mkfsFromDir } from './images.mjs';
import { compare, log, round, timed } from './util.mjs';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const MiB = 1024 ** 2;

function writeRandom(path, bytes) {
  const fd = openSync(path, 'w');
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 3), Buffer.alloc(16));
  const zeros = Buffer.alloc(8 * MiB);
  for (let done = 0; done < bytes; done += zeros.length) writeSync(fd, cipher.update(zeros).subarray(0, Math.min(zeros.length, bytes - done)));
  closeSync(fd);
}

async function oneTarget(name, outRoot, card, raw, runs, tmp) {
  const out = join(outRoot, 'extract-out');
  const copy = join(outRoot, 'cp.out');
  const clean = async () => (rmSync(out, { recursive: true, force: true }), rmSync(copy, { force: true }));
  log(`  backup extract against cp + sync, into ${name} (${outRoot})`);
  const r = await compare(runs, {
    ours: () => timed(process.execPath, [CLI, 'backup', 'extract', card, '--out', out], { tmpDir: tmp }),
    cp: () => timed('sh', ['-c', 'cp --reflink=never "$1" "$2" && sync "$2"', 'sh', raw, copy], { tmpDir: tmp }),
  }, clean);
  const s = (m) => ({ medianMs: round(m.medianMs), bestMs: round(m.bestMs), rssMb: m.rssKb ? round(m.rssKb / 1024) : null });
  return { target: name, ours: s(r.ours), cp: s(r.cp), ratio: round(r.ours.medianMs / r.cp.medianMs, 2) };
}

export async function extractRows({ runs, work, tmp, quick }) {
  const bytes = (quick ? 256 : 1024) * MiB;
  const stage = join(work, 'extract-stage');
  mkdirSync(join(stage, 'supervisor', 'backup'), { recursive: true });
  mkdirSync(join(stage, 'supervisor', 'homeassistant'), { recursive: true });
  const raw = join(stage, 'supervisor', 'backup', 'big.tar');
  writeRandom(raw, bytes);
  const card = join(work, 'extract-card.img');
  mkfsFromDir(card, stage, bytes + 128 * MiB);
  const rows = [];
  if (existsSync('/dev/shm')) {
    const shm = mkdtempSync('/dev/shm/haos-rescue-bench-');
    try {
      rows.push(await oneTarget('tmpfs', shm, card, raw, runs, tmp));
    } finally {
      rmSync(shm, { recursive: true, force: true });
    }
  }
  rows.push(await oneTarget('disk', work, card, raw, runs, tmp));
  rmSync(stage, { recursive: true, force: true });
  rmSync(card, { force: true });
  return { bytes, rows };
}

export function extractTable(r) {
  const t = (m) => `${(m.medianMs / 1000).toFixed(2)} s [${(m.bestMs / 1000).toFixed(2)}]`;
  return [
    `backup extract of ${r.bytes / MiB} MiB against cp + sync FILE (median [best]; ratio = ours / cp, goal <= 1.5):`,
    ...r.rows.map((x) => `  ${x.target.padEnd(5)}  haos-rescue ${t(x.ours)} RSS ${x.ours.rssMb ?? '?'} MB   cp + sync ${t(x.cp)}   ${x.ratio}x`),
  ].join('\n');
}

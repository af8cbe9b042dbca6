// The repair rows (issue 13): on an image whose config folder holds a 2 GiB recorder database (1 GiB with
// --quick), `rm` of the database and `put` of a 100 MiB file, against `debugfs -w` doing the same on the
// same image, each followed by `sync` of the image (ours flushes at every step of its write sequence; the
// sync makes sure nothing is left in the page cache for either). Each run works on a fresh sparse copy of
// the image (the copy untimed), interleaved; median and best, peak RSS. `rm` runs with --no-originals:
// saving a copy of the database first is a separate job whose time is the copy's.

import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { createCipheriv } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compare, log, round, timed } from './util.mjs';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const MiB = 1024 ** 2;
const DB = '/supervisor/homeassistant/home-assistant_v2.db';

function writeRandom(path, bytes) {
  const fd = openSync(path, 'w');
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 5), Buffer.alloc(16));
  const zeros = Buffer.alloc(4 * MiB);
  for (let done = 0; done < bytes; done += zeros.length) writeSync(fd, cipher.update(zeros.subarray(0, Math.min(zeros.length, bytes - done))));
  closeSync(fd);
}

function buildImage(work, dbBytes) {
  const stage = join(work, 'rp-stage');
  mkdirSync(join(stage, 'supervisor/homeassistant'), { recursive: true });
  mkdirSync(join(stage, 'supervisor/share'), { recursive: true });
  writeRandom(join(stage, 'supervisor/homeassistant/home-assistant_v2.db'), dbBytes);
  const img = join(work, 'rp-card.img');
  const sizeMiB = Math.ceil(dbBytes / MiB) * 2 + 1024;
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '4096', '-L', 'hassos-data', '-d', stage, img, `${sizeMiB}M`]);
  rmSync(stage, { recursive: true, force: true });
  return img;
}

export async function repairRows({ runs, work, tmp, quick }) {
  const dbBytes = (quick ? 1024 : 2048) * MiB;
  log(`  repairs: building a card with a ${dbBytes / MiB} MiB database`);
  const pristine = buildImage(work, dbBytes);
  const local = join(work, 'rp-put.bin');
  writeRandom(local, 100 * MiB);
  const img = join(work, 'rp-run.img');
  const fresh = async () => {
    rmSync(img, { force: true });
    execFileSync('cp', ['--sparse=always', pristine, img]);
    execFileSync('sync');
  };
  const synced = (cmd, args) => timed('sh', ['-c', 'img=$1; shift; "$@" && sync "$img"', 'sh', img, cmd, ...args], { tmpDir: tmp });
  log('  rm of the database, put of 100 MiB: haos-rescue against debugfs -w');
  await fresh();
  const rm = await compare(runs, {
    ours: () => synced(process.execPath, [CLI, 'rm', img, DB, '--no-originals', '--yes']),
    debugfs: () => synced('debugfs', ['-w', '-R', `rm ${DB}`, img]),
  }, fresh);
  const put = await compare(runs, {
    ours: () => synced(process.execPath, [CLI, 'put', img, local, '/supervisor/share/big.bin', '--no-originals', '--yes']),
    debugfs: () => synced('debugfs', ['-w', '-R', `write ${local} /supervisor/share/big.bin`, img]),
  }, fresh);
  rmSync(img, { force: true });
  rmSync(pristine, { force: true });
  rmSync(local, { force: true });
  const row = (what, m) => ({ work: what, oursMs: round(m.ours.medianMs), oursBestMs: round(m.ours.bestMs), debugfsMs: round(m.debugfs.medianMs), debugfsBestMs: round(m.debugfs.bestMs), ratio: round(m.debugfs.medianMs / m.ours.medianMs, 2), oursRssMb: m.ours.rssKb ? round(m.ours.rssKb / 1024) : null });
  return { dbBytes, rows: [row(`rm of a ${dbBytes / MiB} MiB database`, rm), row('put of a 100 MiB file', put)] };
}

export function repairTable(r) {
  const lines = ['Repairs, committed and synced (median [best]; ratio = debugfs / haos-rescue, >1: haos-rescue faster):'];
  for (const x of r.rows) {
    lines.push(`  ${x.work.padEnd(28)} haos-rescue ${(x.oursMs / 1000).toFixed(2)} s [${(x.oursBestMs / 1000).toFixed(2)}]  debugfs ${(x.debugfsMs / 1000).toFixed(2)} s [${(x.debugfsBestMs / 1000).toFixed(2)}]  ${x.ratio}x  RSS ${x.oursRssMb ?? '?'} MB`);
  }
  return lines.join('\n');
}

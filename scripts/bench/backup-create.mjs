// The `backup create` rows (issue 12): a card whose config folder holds ~1 GiB (a recorder database of
// half-compressible records and 2,000 small files), made with mkfs.ext4 -d, page-cached. `backup create
// --no-encrypt` and `backup create` with SecureTar v2 against `tar czf` + `sync` of the same tree as
// `debugfs rdump` wrote it (the rdump itself untimed; backup create fsyncs its output, so the reference
// does too), interleaved, `runs` times; median and best, peak RSS.

import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { createCipheriv } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compare, log, mbps, round, timed } from './util.mjs';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const MiB = 1024 ** 2;

/** A database-like file: records of random bytes and repeated text, about 2:1 for gzip. */
function writeDbFile(path, bytes) {
  const fd = openSync(path, 'w');
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16));
  const text = Buffer.from('{"entity_id":"sensor.living_room_temperature","state":"21.5","attributes":{}}\n'.repeat(100));
  for (let done = 0; done < bytes; ) {
    const random = cipher.update(Buffer.alloc(4096));
    const chunk = Buffer.concat([random, text.subarray(0, 4096)]).subarray(0, Math.min(8192, bytes - done));
    writeSync(fd, chunk);
    done += chunk.length;
  }
  closeSync(fd);
}

export function buildCard(work, dbBytes) {
  const stage = join(work, 'bc-stage');
  const config = join(stage, 'supervisor', 'homeassistant');
  mkdirSync(join(config, '.storage'), { recursive: true });
  writeFileSync(join(config, '.HA_VERSION'), '2025.5.3');
  writeDbFile(join(config, 'home-assistant_v2.db'), dbBytes);
  for (let d = 0; d < 20; d++) {
    const dir = join(config, 'custom_components', `c${d}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 100; f++) writeFileSync(join(dir, `f${f}.py`), `# file ${d}/${f}\n`.repeat(40 + f));
  }
  const img = join(work, 'bc-card.img');
  const sizeMiB = Math.ceil((dbBytes * 1.3) / MiB) + 128;
  execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '4096', '-L', 'hassos-data', '-d', stage, img, `${sizeMiB}M`]);
  rmSync(stage, { recursive: true, force: true });
  return img;
}

export async function backupCreateRows({ runs, work, tmp, quick }) {
  const dbBytes = quick ? 128 * MiB : 1024 * MiB;
  log(`  backup create: building a card with a ${dbBytes / MiB} MiB config`);
  const img = buildCard(work, dbBytes);
  const rdump = join(work, 'bc-rdump');
  mkdirSync(rdump);
  execFileSync('debugfs', ['-R', `rdump /supervisor/homeassistant ${rdump}`, img], { stdio: 'ignore' });
  execFileSync('cat', [img], { stdio: ['ignore', 'ignore', 'ignore'] });
  const treeBytes = Number(execFileSync('du', ['-sb', rdump], { encoding: 'utf8' }).split('\t')[0]);
  const out = (n) => join(work, `bc-out-${n}.tar`);
  const clean = async () => {
    for (const n of ['plain', 'v2', 'tgz']) rmSync(out(n), { force: true });
  };
  log('  backup create --no-encrypt, backup create (SecureTar v2), tar czf of the rdump tree');
  const m = await compare(runs, {
    plain: () => timed(process.execPath, [CLI, 'backup', 'create', img, '--out', out('plain'), '--no-encrypt'], { tmpDir: tmp }),
    v2: () => timed(process.execPath, [CLI, 'backup', 'create', img, '--out', out('v2'), '--password', 'bench', '--securetar', '2'], { tmpDir: tmp }),
    // backup create fsyncs its file before renaming it into place, so the reference syncs its archive too.
    tgz: () => timed('sh', ['-c', 'tar czf "$1" -C "$2" homeassistant && sync "$1"', 'sh', out('tgz'), rdump], { tmpDir: tmp }),
  }, clean);
  await clean();
  const row = (name, what) => ({
    work: what,
    medianMs: round(m[name].medianMs),
    bestMs: round(m[name].bestMs),
    mbPerS: round(mbps(treeBytes, m[name].medianMs), 1),
    ratioToTarCzf: round(m.tgz.medianMs / m[name].medianMs, 2),
    rssMb: m[name].rssKb ? round(m[name].rssKb / 1024) : null,
  });
  rmSync(rdump, { recursive: true, force: true });
  rmSync(img, { force: true });
  return { treeBytes, rows: [row('plain', 'backup create --no-encrypt'), row('v2', 'backup create, SecureTar v2'), row('tgz', 'tar czf + sync (rdump tree)')] };
}

export function backupCreateTable(r) {
  const lines = [`backup create of a ${(r.treeBytes / MiB).toFixed(0)} MiB config folder (median [best], page cache warm):`];
  for (const x of r.rows) {
    lines.push(`  ${x.work.padEnd(32)} ${(x.medianMs / 1000).toFixed(2)} s [${(x.bestMs / 1000).toFixed(2)}]  ${String(x.mbPerS).padStart(6)} MB/s  ${x.ratioToTarCzf}x tar czf  RSS ${x.rssMb ?? '?'} MB`);
  }
  return lines.join('\n');
}


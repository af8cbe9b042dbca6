// The export row on an imitated card (slow-card.py: one request at a time, LATENCY_MS each plus the bytes
// at MB_PER_S, cold page cache on every open). What a user with a card in a USB reader waits for is reading,
// not the tools' own CPU; on tmpfs it is the other way round. Skipped, with the reason, where FUSE or
// Debian's python3-fusepy is missing.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compare, log, timed } from './util.mjs';

const SLOW_CARD = fileURLToPath(new URL('./slow-card.py', import.meta.url));
const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
export const LATENCY_MS = 0.5;
export const MB_PER_S = 40;

/** Why the card rows cannot run here, or null when they can. */
export function cardUnavailable() {
  if (!existsSync('/dev/fuse')) return 'no /dev/fuse';
  const py = spawnSync('/usr/bin/python3', ['-c', 'import fusepy'], { encoding: 'utf8' });
  if (py.status !== 0) return 'Debian python3-fusepy is not installed (apt-get install python3-fusepy)';
  return null;
}

/** Mounts the imitated card outside the work dir (so removing that never walks into a mount). */
async function mountCard(image) {
  const mountpoint = mkdtempSync(join(tmpdir(), 'haos-rescue-card-'));
  const child = spawn('/usr/bin/python3', [SLOW_CARD, image, mountpoint, String(LATENCY_MS), String(MB_PER_S)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const card = join(mountpoint, 'card.img');
  for (let i = 0; i < 100 && !existsSync(card); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(card)) {
    child.kill();
    rmSync(mountpoint, { recursive: true, force: true });
    throw new Error(`slow-card.py did not mount ${mountpoint}: ${stderr}`);
  }
  let mounted = true;
  const unmount = () => {
    if (!mounted) return;
    mounted = false;
    process.removeListener('exit', unmount);
    spawnSync('fusermount', ['-u', mountpoint]);
    child.kill();
    rmSync(mountpoint, { recursive: true, force: true });
  };
  // Also on Ctrl-C or an error elsewhere in the bench (its handlers end the process with exit()).
  process.once('exit', unmount);
  return { card, unmount };
}

/** Export of the small-file tree from the imitated card: the command against debugfs rdump. */
export async function cardRows(img, { runs, work, tmp }) {
  const why = cardUnavailable();
  if (why !== null) {
    log(`  export from an imitated card: skipped (${why})`);
    return [];
  }
  const out = join(work, 'card-out');
  const gone = async () => rmSync(out, { recursive: true, force: true });
  const { card, unmount } = await mountCard(img.treeImg);
  const n = img.treeFiles;
  try {
    log(`  export ${n} files from an imitated card (${LATENCY_MS} ms a request, ${MB_PER_S} MB/s): haos-rescue export, debugfs rdump`);
    const exp = await compare(runs, {
      hr: async () => {
        await gone();
        const r = await timed(process.execPath, [CLI, 'export', card, '--what', 'all', '--out', out, '--json'], { tmpDir: tmp, captureStdout: true });
        const files = JSON.parse(r.stdout).files;
        if (files !== n) throw new Error(`card export: expected ${n} files, got ${files}`);
        return r;
      },
      debugfs: async () => (await gone(), mkdirSync(out), timed('debugfs', ['-R', `rdump / ${out}`, card], { tmpDir: tmp })),
    }, gone);
    return [{
      id: 'card-export', work: `export ${n} small files -> folder, from an imitated card (${LATENCY_MS} ms a request + ${MB_PER_S} MB/s, cold)`,
      unit: 'files/s', amount: n, hr: exp.hr, debugfs: exp.debugfs, cat: null,
    }];
  } finally {
    unmount();
  }
}

// `npm run demo`: the main job on the bundled sample disk image, as a user would run it.
// Unpacks fixtures/sample/haos-sample.img.gz to a temp folder and runs the main flow against that copy:
// info, the users, a password reset, the backups and their key, a backup copy and a config export.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'dist/cli.js');
if (!existsSync(cli)) execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });

const work = mkdtempSync(join(tmpdir(), 'haos-rescue-demo-'));
const image = join(work, 'haos-sample.img');
writeFileSync(image, gunzipSync(readFileSync(join(root, 'fixtures/sample/haos-sample.img.gz'))));

const originals = join(work, 'originals');
const steps = [
  ['What is on this card?', ['info', image]],
  ['Who can log in?', ['auth', 'list', image]],
  ['Locked out: give the owner a new password (written to the card, journaled, verified)',
    ['auth', 'reset', image, '--username', 'vm-user', '--password', 'a new password', '--originals', originals]],
  ['The backups on the card', ['backup', 'list', image]],
  ['The key that decrypts them', ['backup', 'key', image]],
  ['Copy the backups off the card', ['backup', 'extract', image, '--out', join(work, 'backups')]],
  ['Export the configuration folder as one archive', ['export', image, '--out', join(work, 'config.tar.gz')]],
  ['A failing card: copy it to an image first (metadata and config first, with a bad-sector map)', ['image', image, '--out', join(work, 'card-copy.img')]],
  ['Then read the copy: its map is found beside it', ['info', join(work, 'card-copy.img')]],
];
let failed = 0;
try {
  for (const [title, args] of steps) {
    const shown = args.map((a) => (a === image ? 'haos-sample.img' : a.startsWith(work) ? a.slice(work.length + 1) : /\s/.test(a) ? `'${a}'` : a));
    process.stdout.write(`\n== ${title}\n$ haos-rescue ${shown.join(' ')}\n`);
    const r = spawnSync(process.execPath, [cli, ...args], { stdio: 'inherit' });
    if (r.status !== 0) failed++;
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;

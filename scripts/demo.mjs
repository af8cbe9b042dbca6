// `npm run demo`: the main job on the bundled sample disk image, as a user would run it.
// Unpacks fixtures/sample/haos-sample.img.gz to a temp folder, then runs info, ls and cat against it.

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

const steps = [
  ['What is on this card?', ['info', image]],
  ['The Home Assistant configuration folder', ['ls', image, '/supervisor/homeassistant', '--long']],
  ['The backups on the card', ['ls', image, '/supervisor/backup', '--long']],
  ['Which Home Assistant version last ran', ['cat', image, '/supervisor/homeassistant/.HA_VERSION']],
];

let failed = 0;
try {
  for (const [title, args] of steps) {
    process.stdout.write(`\n== ${title}\n$ haos-rescue ${args.map((a) => (a === image ? 'haos-sample.img' : a)).join(' ')}\n`);
    const r = spawnSync(process.execPath, [cli, ...args], { stdio: 'inherit' });
    if (r.status !== 0) failed++;
    if (args[0] === 'cat') process.stdout.write('\n');
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;

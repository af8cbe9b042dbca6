// After tsc: bundles the command line into one file, dist/cli.js (the package's bin), and makes it
// executable. One file instead of ~150 ES modules (ours, yargs and its helpers) takes each run's start-up
// from ~0.38 s to ~0.24 s on the benchmark machine: Node resolves, reads and links every module separately.
// Code split off into dist/chunks/ (below) saves a plain command parsing ~1.4 MB it does not run (0.18 s to 0.17 s here; start-up is now mostly yargs and our own code).
// The other dist/ files stay as tsc wrote them (the benchmark children import them).

import { chmodSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const outfile = `${root}dist/cli.js`;

await build({
  entryPoints: { cli: `${root}src/cli.ts` },
  outdir: `${root}dist`,
  // What only some commands need (the wizard and its prompts, libsodium for SecureTar v3: together over
  // half the bytes) goes into chunks loaded by their dynamic import(), so a plain command does not parse it.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: 'linked',
  logLevel: 'warning',
  // CommonJS dependencies (tar-stream) call require(); an ES module has none of its own.
  banner: { js: "import { createRequire as __haosRescueRequire } from 'node:module';\nconst require = __haosRescueRequire(import.meta.url);" },
});
chmodSync(outfile, 0o755);

// After tsc: bundles the command line into one file, dist/cli.js (the package's bin), and makes it
// executable. One file instead of ~150 ES modules (ours, yargs and its helpers) takes each run's start-up
// from ~0.38 s to ~0.24 s on the benchmark machine: Node resolves, reads and links every module separately.
// Code split off into dist/chunks/ (below) saves a plain command parsing ~1.4 MB it does not run (0.18 s to 0.17 s here; start-up is now mostly yargs and our own code).
// The other dist/ files stay as tsc wrote them (the benchmark children import them).

import { chmodSync, copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const outfile = `${root}dist/cli.js`;
// Chunk names carry a hash: old ones would pile up (and go into the package) without this.
rmSync(`${root}dist/chunks`, { recursive: true, force: true });
rmSync(`${root}dist/page`, { recursive: true, force: true });

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

// The browser window's page (haos-rescue gui): one script for the browser, its HTML and CSS beside it in
// dist/page/, where the server finds them. No framework, no file fetched from the internet.
const page = `${root}src/actions/gui/page`;
mkdirSync(`${root}dist/page`, { recursive: true });
await build({
  entryPoints: [`${page}/app.ts`],
  outfile: `${root}dist/page/app.js`,
  bundle: true,
  platform: 'browser',
  target: ['chrome100', 'firefox100', 'safari15', 'edge100'],
  format: 'iife',
  minify: true,
  logLevel: 'warning',
});
for (const name of ['index.html', 'style.css']) copyFileSync(`${page}/${name}`, `${root}dist/page/${name}`);

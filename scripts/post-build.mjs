// After tsc: bundles the command line into one file, dist/cli.js (the package's bin), and makes it
// executable. One file instead of ~150 ES modules (ours, yargs and its helpers) takes each run's start-up
// from ~0.38 s to ~0.24 s on the benchmark machine: Node resolves, reads and links every module separately.
// Code split off into dist/chunks/ (below) saves a plain command parsing ~1.4 MB it does not run (0.18 s to 0.17 s here; start-up is now mostly yargs and our own code).
// string-width loaded on first use and whitespace-free source: `--version` 0.20 -> 0.17 s, `info` 0.23 -> 0.20 s.
// Each command's handler imports its actions when it runs (src/cli/commands), and a disk file's reader is
// imported once its kind is recognised (device/vdisk/recognise.ts): `--version` 0.20 -> 0.15 s, `ls` of an image
// 0.23 -> 0.21 s (test/cli/start-up.test.ts checks what a run loads).
// The other dist/ files stay as tsc wrote them (the benchmark children import them).

import { chmodSync, copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const outfile = `${root}dist/cli.js`;
// Chunk names carry a hash: old ones would pile up (and go into the package) without this.
rmSync(`${root}dist/chunks`, { recursive: true, force: true });
rmSync(`${root}dist/page`, { recursive: true, force: true });

// Every `import ... from 'string-width'` goes to one shim that loads the real module when first used (see the
// shim); a require() of it (the wizard's prompts, an older CommonJS string-width) is left as it is.
const lazyStringWidth = `${root}scripts/bundle/lazy-string-width.js`;
const lazyStringWidthPlugin = {
  name: 'lazy-string-width',
  setup(b) {
    b.onResolve({ filter: /^string-width$/ }, (args) => (args.importer === lazyStringWidth || args.kind !== 'import-statement' ? undefined : { path: lazyStringWidth }));
  },
};

await build({
  entryPoints: { cli: `${root}src/cli.ts` },
  plugins: [lazyStringWidthPlugin],
  // Less source for V8 to parse at every start (~10 ms here); names stay, and the source map has the rest.
  minifyWhitespace: true,
  minifySyntax: true,
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

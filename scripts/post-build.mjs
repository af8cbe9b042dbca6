// After tsc: bundles the command line into one file, dist/cli.js (the package's bin), and makes it
// executable. One file instead of ~150 ES modules (ours, yargs and its helpers) takes each run's start-up
// from ~0.38 s to ~0.24 s on the benchmark machine: Node resolves, reads and links every module separately.
// The other dist/ files stay as tsc wrote them (the benchmark children import them).

import { chmodSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const outfile = `${root}dist/cli.js`;

await build({
  entryPoints: [`${root}src/cli.ts`],
  outfile,
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

// The package installs without git, without network and without a build step: `npm pack` of the built
// tree, installed from the tarball into an empty folder with --offline and an empty npm cache, runs
// `haos-rescue info` on the sample card; so do `npm i -g` and `npx ./haos-rescue-X.tgz`. The tarball holds
// the bundled CLI, its chunks and the browser page, and nothing of the sources or tests.

import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSampleImage } from '../../fixtures/index.js';
import { tempDir } from '../helpers/images.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const work = tempDir('pack-');
const image = join(work, 'card.img');
let tarball = '';

/** npm with no way to the registry: offline, an empty cache of its own, and a registry address that fails. */
function npm(args: string[], cwd: string): string {
  const env = { ...process.env, npm_config_cache: join(work, 'empty-cache'), npm_config_registry: 'http://127.0.0.1:9/', npm_config_update_notifier: 'false' };
  return execFileSync('npm', [...args, '--offline', '--no-audit', '--no-fund'], { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function run(bin: string, args: string[], cwd: string) {
  return spawnSync(bin, args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_cache: join(work, 'empty-cache'), npm_config_offline: 'true' } });
}

beforeAll(() => {
  writeFileSync(image, readSampleImage());
  const out = JSON.parse(execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: ROOT, encoding: 'utf8' })) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = join(work, out[0]!.filename);
  writeFileSync(join(work, 'files.json'), JSON.stringify(out[0]!.files.map((f) => f.path)));
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('npm pack: a package that installs without network or build', () => {
  it('holds the bundled CLI, its chunks and the page; no sources, tests or source maps; no dependencies to fetch', () => {
    const files = JSON.parse(readFileSync(join(work, 'files.json'), 'utf8')) as string[];
    expect(files).toContain('dist/cli.js');
    expect(files).toContain('dist/page/index.html');
    expect(files).toContain('dist/page/app.js');
    expect(files).toContain('package.json');
    expect(files.filter((f) => f.startsWith('dist/chunks/')).length).toBeGreaterThan(0);
    expect(files.filter((f) => f.startsWith('src/') || f.startsWith('test/') || f.endsWith('.map') || f.endsWith('.ts'))).toEqual([]);
    const pkg = JSON.parse(execFileSync('tar', ['-xOzf', tarball, 'package/package.json'], { encoding: 'utf8' })) as { dependencies?: object; bin: Record<string, string> };
    expect(Object.keys(pkg.dependencies ?? {})).toEqual([]);
    expect(pkg.bin['haos-rescue']).toBe('dist/cli.js');
  });

  it('npm i --offline from the tarball into an empty folder runs haos-rescue info on the sample', () => {
    const app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), '{"name":"try-it","private":true}\n');
    npm(['install', tarball], app);
    // Nothing but the package itself was installed (it has no dependencies to fetch).
    expect(readdirSync(join(app, 'node_modules')).filter((n) => !n.startsWith('.'))).toEqual(['haos-rescue']);
    const r = run(join(app, 'node_modules', '.bin', 'haos-rescue'), ['info', image], app);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Home Assistant:\s+2025\.5\.3/);
  });

  it('npm i -g --offline and npx ./haos-rescue-X.tgz work the same', () => {
    const prefix = join(work, 'global');
    npm(['install', '-g', '--prefix', prefix, tarball], work);
    const g = run(join(prefix, 'bin', 'haos-rescue'), ['info', image, '--json'], work);
    expect(g.status, g.stderr).toBe(0);
    expect(JSON.parse(g.stdout).homeAssistant.version).toBe('2025.5.3');
    // npx resolves ./file against the nearest folder above with a package.json: make it this one, whatever a
    // parent of the temp folder holds (a stray /tmp/package.json once sent it to /tmp).
    const here = join(work, 'npx-here');
    mkdirSync(here);
    writeFileSync(join(here, 'package.json'), '{"name":"npx-here","private":true}\n');
    copyFileSync(tarball, join(here, basename(tarball)));
    const x = run('npx', ['--yes', '--offline', `./${basename(tarball)}`, 'info', image], here);
    expect(x.status, x.stderr).toBe(0);
    expect(x.stdout).toMatch(/2025\.5\.3/);
  });
});

// Exporting onto a USB stick formatted exFAT (the common case for a Windows or Mac user): the file system
// cannot hold : ? * in names, names differing only in case, symbolic or hard links, owners or modes. The
// export adapts (renames, copies, leaves owners) and says so, instead of stopping at the first refusal.
// Needs root, losetup, /dev/fuse, mkfs.exfat and mount.exfat-fuse (.ci/run installs exfatprogs and
// exfat-fuse); skipped with the reason otherwise.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, linkSync, writeFileSync, chownSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { mkfs, tempDir } from '../helpers/images.js';

const work = tempDir('export-exfat-');
const mnt = join(work, 'stick');
const attached: string[] = [];
let mounted = false;

function setUp(): string | null {
  if (process.getuid?.() !== 0) return 'needs root';
  for (const tool of ['mkfs.exfat', 'mount.exfat-fuse', 'losetup']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
  }
  if (!existsSync('/dev/fuse')) return 'no /dev/fuse';
  const stick = join(work, 'stick.img');
  writeFileSync(stick, Buffer.alloc(0));
  execFileSync('truncate', ['-s', '64M', stick]);
  execFileSync('mkfs.exfat', [stick], { stdio: 'ignore' });
  const loop = spawnSync('losetup', ['-f', '--show', stick], { encoding: 'utf8' });
  if (loop.status !== 0) return `losetup failed: ${loop.stderr.trim()}`;
  attached.push(loop.stdout.trim());
  mkdirSync(mnt);
  const m = spawnSync('mount.exfat-fuse', [attached[0]!, mnt], { encoding: 'utf8' });
  if (m.status !== 0) return `mount.exfat-fuse failed: ${m.stderr.trim()}`;
  mounted = true;
  return null;
}

const skip = setUp();
afterAll(() => {
  if (mounted) spawnSync('umount', [mnt]);
  for (const d of attached) spawnSync('losetup', ['-d', d]);
  rmSync(work, { recursive: true, force: true });
});

/** A card whose config folder holds everything exFAT cannot. */
function card(): string {
  const stage = join(work, 'stage');
  const cfg = join(stage, 'supervisor', 'homeassistant');
  mkdirSync(cfg, { recursive: true });
  writeFileSync(join(cfg, 'configuration.yaml'), 'homeassistant:\n');
  symlinkSync('configuration.yaml', join(cfg, 'link.yaml'));
  linkSync(join(cfg, 'configuration.yaml'), join(cfg, 'hard.yaml'));
  writeFileSync(join(cfg, 'Readme.md'), 'one');
  writeFileSync(join(cfg, 'README.md'), 'two');
  writeFileSync(join(cfg, 'what?.yaml'), 'three');
  chownSync(join(cfg, 'Readme.md'), 1000, 1000);
  const image = join(work, 'card.img');
  mkfs(image, stage, { sizeMiB: 16 });
  return image;
}

describe.skipIf(skip !== null)(`export onto exFAT${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('adapts to what the stick can hold and says so, exit 0', () => {
    const out = join(mnt, 'config');
    const r = cli(['export', card(), '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.text);
    expect(result.notes.join('\n')).toMatch(/cannot hold some names[\s\S]*cannot hold symbolic links[\s\S]*cannot hold hard links[\s\S]*does not keep owners/);
    expect(result.unsupported).toEqual([{ path: '/supervisor/homeassistant/link.yaml', reason: expect.stringMatching(/^symbolic link to configuration\.yaml/) }]);
    expect(result.skipped).toEqual([]);
    const names = readdirSync(out).sort();
    expect(names).toHaveLength(5); // configuration, hard (a copy), the two readmes apart, what_.yaml
    expect(readFileSync(join(out, 'hard.yaml'), 'utf8')).toBe('homeassistant:\n');
    expect(names).toContain('what_.yaml');
    const readmes = names.filter((n) => n.toLowerCase().startsWith('readme'));
    expect(readmes.map((n) => readFileSync(join(out, n), 'utf8')).sort()).toEqual(['one', 'two']);
    expect(result.renamed.map((x: { path: string }) => x.path).sort()).toEqual(['/supervisor/homeassistant/Readme.md', '/supervisor/homeassistant/what?.yaml'].sort());
  });
});

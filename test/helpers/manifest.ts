// Canonical per-entry manifests of a filesystem tree, in the column format of the corpus references
// (shared/corpora/e2fsprogs/*/replayed.sha256): path, sha256|dir|symlink, [inode,] size|target, mode,
// uid:gid, mtime. One from our reader, one from the oracle (debugfs rdump into a folder, then lstat).

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { displayName } from '../../src/ext4/path.js';
import type { Ext4Volume } from '../../src/ext4/volume.js';
import { walk } from '../../src/ext4/walk.js';

export interface ManifestOptions {
  withInode?: boolean;
  withMtime?: boolean;
  /** Skip entries that cannot be read, as debugfs rdump does (it prints an error and goes on). */
  tolerant?: boolean;
}

interface Row {
  path: string;
  kind: string;
  ino: number;
  sizeOrTarget: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
}

function format(r: Row, o: ManifestOptions): string {
  const cols = [r.path, r.kind];
  if (o.withInode) cols.push(String(r.ino));
  cols.push(r.sizeOrTarget, `0o${(r.mode & 0o7777).toString(8)}`, `${r.uid}:${r.gid}`);
  // rdump cannot set a symlink's own time (utime follows the link), so symlinks carry none.
  if (o.withMtime !== false) cols.push(r.kind === 'symlink' ? '-' : String(r.mtime));
  return cols.join('\t');
}

/** Our reader's view: every dir, regular file and symlink below the root (special files skipped, as rdump). */
export async function readerManifest(vol: Ext4Volume, o: ManifestOptions = {}): Promise<string[]> {
  const out: string[] = [];
  const root = await vol.readInode(2);
  const onError = (p: Buffer, err: Error): void => {
    if (!o.tolerant) throw new Error(`${displayName(p)}: ${err.message}`);
  };
  for await (const e of walk(vol, root, { onError })) {
    const i = e.inode;
    const base = { ino: i.ino, mode: i.mode, uid: i.uid, gid: i.gid, mtime: i.mtime.seconds };
    const path = displayName(e.path);
    if (i.kind === 'dir') out.push(format({ ...base, path: `${path}/`, kind: 'dir', sizeOrTarget: '' }, o));
    else if (i.kind === 'symlink') out.push(format({ ...base, path, kind: 'symlink', sizeOrTarget: displayName(await vol.readLink(i)) }, o));
    else if (i.kind === 'file') {
      const hash = createHash('sha256');
      for await (const part of vol.stream(i)) hash.update(part);
      out.push(format({ ...base, path, kind: hash.digest('hex'), sizeOrTarget: String(i.sizeBytes) }, o));
    }
  }
  return out.sort();
}

/**
 * Regular-file sizes as debugfs `ls -p` reports them, keyed by display path. debugfs 1.47.0 rdump writes
 * inline-data files padded to 60 bytes although the inode says fewer; the inode's size is the truth.
 */
function debugfsSizes(image: string, dirs: Buffer[]): Map<string, number> {
  const tmp = mkdtempSync(join(tmpdir(), 'dbgcmd-'));
  const cmds = join(tmp, 'cmds');
  writeFileSync(cmds, Buffer.concat(dirs.map((d) => Buffer.concat([Buffer.from('ls -p "/'), d, Buffer.from('"\n')]))));
  const out = execFileSync('debugfs', ['-f', cmds, image], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 28 });
  rmSync(tmp, { recursive: true, force: true });
  const sizes = new Map<string, number>();
  let dir = Buffer.alloc(0);
  for (const raw of out.toString('latin1').split('\n')) {
    const m = /^debugfs: ls -p "\/(.*)"$/.exec(raw);
    if (m) {
      dir = Buffer.from(m[1]!, 'latin1');
      continue;
    }
    const f = /^\/\d+\/(\d+)\/\d+\/\d+\/(.*)\/(\d+)\/$/.exec(raw);
    if (!f || !f[1]!.startsWith('100')) continue;
    const name = Buffer.from(f[2]!, 'latin1');
    sizes.set(displayName(dir.length ? Buffer.concat([dir, Buffer.from('/'), name]) : name), Number(f[3]));
  }
  return sizes;
}

/** The oracle's view: `debugfs -R "rdump / DIR"`, then a walk of DIR with lstat. */
export function debugfsManifest(image: string, o: ManifestOptions = {}): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'rdump-'));
  try {
    execFileSync('debugfs', ['-R', `rdump / ${dir}`, image], { stdio: ['ignore', 'ignore', 'pipe'] });
    const rows: Array<Row & { abs?: Buffer }> = [];
    const dirs: Buffer[] = [Buffer.alloc(0)];
    const visit = (abs: Buffer, rel: Buffer | null): void => {
      for (const name of readdirSync(abs, { encoding: 'buffer' })) {
        const childAbs = Buffer.concat([abs, Buffer.from('/'), name]);
        const childRel = rel ? Buffer.concat([rel, Buffer.from('/'), name]) : name;
        const st = lstatSync(childAbs);
        const base = { ino: 0, mode: st.mode, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000) };
        const path = displayName(childRel);
        if (st.isDirectory()) {
          dirs.push(childRel);
          rows.push({ ...base, path: `${path}/`, kind: 'dir', sizeOrTarget: '' });
          visit(childAbs, childRel);
        } else if (st.isSymbolicLink()) {
          rows.push({ ...base, path, kind: 'symlink', sizeOrTarget: displayName(readlinkSync(childAbs, { encoding: 'buffer' })) });
        } else if (st.isFile()) {
          rows.push({ ...base, path, kind: '', sizeOrTarget: String(st.size), abs: childAbs });
        }
      }
    };
    visit(Buffer.from(dir), null);
    const sizes = debugfsSizes(image, dirs);
    for (const r of rows) {
      if (!r.abs) continue;
      const real = Math.min(sizes.get(r.path) ?? Infinity, Number(r.sizeOrTarget));
      r.kind = createHash('sha256').update(readFileSync(r.abs).subarray(0, real)).digest('hex');
      r.sizeOrTarget = String(real);
    }
    return rows.map((r) => format(r, o)).sort();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

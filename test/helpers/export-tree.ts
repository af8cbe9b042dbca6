// Oracles for `export`: debugfs rdump of an image into a folder, a scan of any folder tree (rdump's, an
// export's, an unpacked archive's), the inode facts rdump does not carry over (debugfs ls -p: full mode
// with setuid/sticky bits, owners of symlinks, inode numbers of hard links, special files, true sizes),
// and a comparison of an exported tree with all of them that returns readable mismatches.
//
// debugfs 1.47.0 rdump quirks this accounts for: `rdump / DIR` writes the root's entries straight into DIR;
// it keeps only the 0777 permission bits (mode_xlate drops setuid, setgid, sticky); it sets neither the
// owner nor the time of a symlink; it copies a hard-linked file once per name; it skips device nodes,
// FIFOs and sockets; it pads inline-data files to 60 bytes.

import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { displayName } from '../../src/ext4/path.js';

export type Kind = 'dir' | 'file' | 'symlink' | 'other';

export interface TreeEntry {
  kind: Kind;
  /** st_mode with the type bits. */
  mode: number;
  uid: number;
  gid: number;
  /** Modification time, whole seconds. */
  mtime: number;
  size: number;
  /** st_ino on this computer (hard links share it). */
  ino: number;
  abs: Buffer;
  target?: Buffer;
}

/** Raw path bytes as a map key; '' is the root. */
export const keyOf = (raw: Buffer): string => raw.toString('latin1');
/** How a key is shown in messages and in ExportResult paths: "/a/b". */
export const showKey = (key: string): string => `/${displayName(Buffer.from(key, 'latin1'))}`;

/** Every entry below `root` (and the root itself, as ''), by raw relative path, with lstat facts. */
export function scanTree(root: string | Buffer): Map<string, TreeEntry> {
  const out = new Map<string, TreeEntry>();
  const visit = (abs: Buffer, rel: Buffer | null): void => {
    const st = lstatSync(abs);
    const kind: Kind = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : 'other';
    const e: TreeEntry = { kind, mode: st.mode, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000), size: st.size, ino: st.ino, abs };
    if (kind === 'symlink') e.target = readlinkSync(abs, { encoding: 'buffer' });
    out.set(rel === null ? '' : keyOf(rel), e);
    if (kind !== 'dir') return;
    for (const name of readdirSync(abs, { encoding: 'buffer' }) as Buffer[]) {
      visit(Buffer.concat([abs, Buffer.from('/'), name]), rel === null ? name : Buffer.concat([rel, Buffer.from('/'), name]));
    }
  };
  visit(Buffer.from(root), null);
  return out;
}

/**
 * `debugfs -R "rdump / DIR" IMAGE`; resolves to what debugfs said on stderr beyond its banner (its errors).
 * Asynchronous, so the export under test can run meanwhile.
 */
export function rdump(image: string, into: string): Promise<string[]> {
  return new Promise((resolveDone, reject) => {
    const child = spawn('debugfs', ['-R', `rdump / ${into}`, image], { stdio: ['ignore', 'ignore', 'pipe'] });
    const err: Buffer[] = [];
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => {
      const text = Buffer.concat(err).toString('latin1');
      if (code !== 0) return reject(new Error(`debugfs rdump exit ${code}: ${text}`));
      // Not root: rdump cannot give entries their owners and says so for each; that is not a read error.
      const notRoot = process.getuid?.() !== 0;
      const errors = text.split('\n').filter((l) => l.trim() !== '' && !/^debugfs \d/.test(l) && !(notRoot && /while changing ownership/.test(l)));
      resolveDone(errors);
    });
  });
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** `debugfs -R "dump PATH OUT"` then its sha256 (a file's bytes as e2fsprogs reads them). */
export function debugfsDumpSha(image: string, path: string): string {
  const tmp = mkdtempSync(join(tmpdir(), 'dbgdump-'));
  try {
    execFileSync('debugfs', ['-R', `dump ${path} ${tmp}/f`, image], { stdio: ['ignore', 'ignore', 'pipe'] });
    const h = createHash('sha256');
    h.update(readFileSync(`${tmp}/f`));
    return h.digest('hex');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

export interface InodeFacts {
  ino: number;
  /** i_mode, type bits included. */
  mode: number;
  uid: number;
  gid: number;
  /** i_size of regular files; null for others. */
  size: number | null;
}

export function kindOfMode(mode: number): Kind {
  const type = mode & 0o170000;
  return type === 0o040000 ? 'dir' : type === 0o100000 ? 'file' : type === 0o120000 ? 'symlink' : 'other';
}

/** Inode facts of every entry of the given folders (keys as scanTree's), from one `debugfs ls -p` run. */
export function debugfsFacts(image: string, dirKeys: Iterable<string>): Map<string, InodeFacts> {
  const tmp = mkdtempSync(join(tmpdir(), 'dbgls-'));
  const dirs = [...dirKeys];
  try {
    const cmds = Buffer.concat(dirs.map((d) => Buffer.concat([Buffer.from('ls -p "/'), Buffer.from(d, 'latin1'), Buffer.from('"\n')])));
    writeFileSync(join(tmp, 'cmds'), cmds);
    const out = execFileSync('debugfs', ['-f', join(tmp, 'cmds'), image], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 28 });
    const facts = new Map<string, InodeFacts>();
    let dir = '';
    for (const line of out.toString('latin1').split('\n')) {
      const cmd = /^debugfs: ls -p "\/(.*)"$/.exec(line);
      if (cmd) {
        dir = cmd[1]!;
        continue;
      }
      // dotAll: a name may hold \r or other line breaks JavaScript's '.' stops at (not \n: the split).
      const m = /^\/(\d+)\/(\d+)\/(\d+)\/(\d+)\/(.*)\/(\d*)\/$/s.exec(line);
      if (!m) continue;
      const name = m[5]!;
      // Inode 0: a free slot (debugfs ls -p shows the names left in empty entries).
      if (m[1] === '0' || name === '..' || (name === '.' && dir !== '')) continue;
      const mode = parseInt(m[2]!, 8);
      const key = name === '.' ? '' : dir === '' ? name : `${dir}/${name}`;
      facts.set(key, { ino: Number(m[1]), mode, uid: Number(m[3]), gid: Number(m[4]), size: kindOfMode(mode) === 'file' ? Number(m[6]) : null });
    }
    return facts;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

export interface CompareOptions {
  /** Keys (rdump side) expected to be absent from the export, e.g. skipped files. */
  missing?: Set<string>;
  /** rdump key -> export key, for renamed entries (and everything below a renamed folder). */
  renames?: Map<string, string>;
  /** Compare owners: rdump and the export set them only when running as root. */
  owners?: boolean;
  /** Compare folder and file times (GNU tar and folder exports keep them). */
  times?: boolean;
  /** Compare the owner of the root folder itself (default true; see export-oracle.test.ts). */
  rootOwner?: boolean;
}

export interface Comparison {
  mismatches: string[];
  /** Entries compared, by kind. */
  counts: Record<Kind, number>;
  /** Special files debugfs lists (not dumped by rdump), as "/path". */
  special: string[];
}

function mapKey(key: string, renames: Map<string, string> | undefined): string {
  if (!renames || renames.size === 0 || key === '') return key;
  const parts = key.split('/');
  for (let i = parts.length; i > 0; i--) {
    const prefix = parts.slice(0, i).join('/');
    const to = renames.get(prefix);
    if (to !== undefined) return [to, ...parts.slice(i)].join('/');
  }
  return key;
}

/**
 * The renames an export reported, as CompareOptions.renames: rdump key -> key in the exported tree.
 * `archive`: the result of a tar export (`as` is the whole member name, first component the root folder);
 * otherwise a folder export (`as` is the new last component).
 */
export function renamesOf(renamed: Array<{ path: string; as: string }>, rdKeys: Iterable<string>, archive: boolean): Map<string, string> {
  const byShown = new Map(renamed.map((r) => [r.path, r.as]));
  const out = new Map<string, string>();
  const latin1 = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');
  // Parents first, so a folder export's renamed child lands below its renamed parent.
  for (const key of [...rdKeys].filter((k) => byShown.has(showKey(k))).sort((a, b) => a.length - b.length)) {
    const as = byShown.get(showKey(key))!;
    if (archive) out.set(key, latin1(as.slice(as.indexOf('/') + 1)));
    else {
      const slash = key.lastIndexOf('/');
      out.set(key, slash < 0 ? latin1(as) : `${mapKey(key.slice(0, slash), out)}/${latin1(as)}`);
    }
  }
  return out;
}

/**
 * Compares an exported tree with debugfs rdump of the same image (paths, kinds, permission bits, owners,
 * bytes, symlink targets, times) and with debugfs ls -p (full mode bits, owners of symlinks, sizes, hard
 * links). Returns every mismatch as a line, so a failure shows all of them at once.
 */
export function compareExport(image: string, rd: Map<string, TreeEntry>, ours: Map<string, TreeEntry>, o: CompareOptions = {}): Comparison {
  const owners = o.owners ?? process.getuid?.() === 0;
  const times = o.times ?? true;
  const facts = debugfsFacts(image, [...rd].filter(([, e]) => e.kind === 'dir').map(([k]) => k));
  const mismatches: string[] = [];
  const counts: Record<Kind, number> = { dir: 0, file: 0, symlink: 0, other: 0 };
  const bad = (key: string, what: string, got: unknown, want: unknown): void => void mismatches.push(`${showKey(key)}: ${what} ${String(got)}, expected ${String(want)}`);
  const expectedOurs = new Set<string>();
  const byIno = new Map<number, string[]>();
  for (const [key, r] of rd) {
    if (o.missing?.has(key)) continue;
    const oursKey = mapKey(key, o.renames);
    expectedOurs.add(oursKey);
    const e = ours.get(oursKey);
    const f = facts.get(key);
    if (!e) {
      mismatches.push(`${showKey(key)}: missing from the export`);
      continue;
    }
    if (!f) {
      mismatches.push(`${showKey(key)}: debugfs ls -p does not list it`);
      continue;
    }
    if (e.kind !== r.kind) {
      bad(key, 'kind', e.kind, r.kind);
      continue;
    }
    counts[e.kind]++;
    if (kindOfMode(f.mode) !== r.kind) bad(key, 'debugfs kind', kindOfMode(f.mode), r.kind);
    if (owners && (key !== '' || o.rootOwner !== false) && (e.uid !== f.uid || e.gid !== f.gid)) bad(key, 'owner', `${e.uid}:${e.gid}`, `${f.uid}:${f.gid}`);
    if (e.kind === 'symlink') {
      if (!e.target!.equals(r.target!)) bad(key, 'symlink target', displayName(e.target!), displayName(r.target!));
      continue;
    }
    if ((e.mode & 0o777) !== (r.mode & 0o777)) bad(key, 'permissions (vs rdump)', (e.mode & 0o777).toString(8), (r.mode & 0o777).toString(8));
    if ((e.mode & 0o7777) !== (f.mode & 0o7777)) bad(key, 'mode (vs inode)', (e.mode & 0o7777).toString(8), (f.mode & 0o7777).toString(8));
    if (owners && (r.uid !== f.uid || r.gid !== f.gid)) bad(key, 'rdump owner (oracle disagrees with itself)', `${r.uid}:${r.gid}`, `${f.uid}:${f.gid}`);
    if (times && key !== '' && e.mtime !== r.mtime) bad(key, 'mtime', e.mtime, r.mtime);
    if (e.kind === 'file') {
      const size = f.size!;
      if (e.size !== size) bad(key, 'size', e.size, size);
      if (r.size < size) bad(key, 'rdump size (oracle short)', r.size, size);
      else if (e.size === size && !readFileSync(e.abs).equals(readFileSync(r.abs).subarray(0, size))) bad(key, 'bytes', 'differ', 'rdump bytes');
      byIno.set(f.ino, [...(byIno.get(f.ino) ?? []), oursKey]);
    }
  }
  for (const key of ours.keys()) if (!expectedOurs.has(key)) mismatches.push(`${showKey(key)}: in the export but not in rdump`);
  // Hard links: names of one inode must be one file in the export too (rdump made copies; we do not).
  for (const [ino, keys] of byIno) {
    const inos = new Set(keys.map((k) => ours.get(k)!.ino));
    if (inos.size !== 1) mismatches.push(`inode ${ino}: names ${keys.map(showKey).join(', ')} are ${inos.size} files in the export, not hard links of one`);
  }
  const special = [...facts].filter(([, f]) => kindOfMode(f.mode) === 'other').map(([k]) => showKey(k)).sort();
  return { mismatches, counts, special };
}

// rm through the CLI on the sample card: the recorder database removed through the journal, its bytes
// saved first (identical to debugfs dump), e2fsck -fn clean, the space given back as dumpe2fs counts it;
// paths outside /supervisor, folders and missing files refused with nothing written.

import { createHash } from 'node:crypto';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, ftruncateSync, linkSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SAMPLE, readSampleImage } from '../../fixtures/index.js';
import { assertCardClean } from '../helpers/card.js';
import { CLI, cli, cliJson } from '../helpers/cli.js';
import { mkfs, tempDir } from '../helpers/images.js';

const work = tempDir('rm-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const DB = '/supervisor/homeassistant/home-assistant_v2.db';

function dataOf(image: string): string {
  const data = `${image}.data`;
  writeFileSync(data, readFileSync(image).subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes));
  return data;
}
const debugfs = (image: string, cmd: string): Buffer => execFileSync('debugfs', ['-R', cmd, dataOf(image)], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 28 });
const freeBlocks = (image: string): number => Number(/Free blocks:\s+(\d+)/.exec(debugfs(image, 'stats').toString())![1]);

describe('rm', () => {
  it('refuses what it must not touch, and a dry run writes nothing', () => {
    const card = join(work, 'refuse.img');
    writeFileSync(card, readSampleImage());
    const before = sha(readFileSync(card));
    expect(cli(['rm', card, '/supervisor/homeassistant/nope.db']).code).toBe(66);
    expect(cli(['rm', card, '/supervisor/homeassistant/.storage']).code).toBe(64);
    const outside = cli(['rm', card, '/supervisor/../lost+found']);
    expect(outside.code).toBe(77);
    expect(outside.stderr).toMatch(/outside \/supervisor/);
    expect(cli(['rm', card, '/supervisor/../lost+found', '--force-system']).code).toBe(64); // allowed there, but a folder
    // A typo outside /supervisor: said as not there (it was "outside /supervisor: add --force-system", then that).
    const typo = cli(['rm', card, '/supervisr/homeassistant/home-assistant_v2.db']);
    expect(typo.code, typo.stderr).toBe(66);
    expect(typo.stderr).toMatch(/^error: \/supervisr\/homeassistant\/home-assistant_v2\.db does not exist on the card$/m);
    const dry = cli(['rm', card, DB, '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.text).toMatch(/Dry run: nothing was written/);
    expect(sha(readFileSync(card))).toBe(before);
  });

  it.skipIf(process.platform !== 'linux')('refuses an image file another program holds open (a running VM): exit 77, nothing written', async () => {
    const card = join(work, 'held.img');
    writeFileSync(card, readSampleImage());
    const before = sha(readFileSync(card));
    const child = spawn('sh', ['-c', `exec 3<"${card}"; echo ready; exec sleep 30`], { stdio: ['ignore', 'pipe', 'ignore'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    await new Promise((r) => setTimeout(r, 100));
    try {
      const r = cli(['rm', card, DB, '--no-originals']);
      expect(r.code).toBe(77);
      expect(r.stderr).toMatch(/is open in sleep \(pid \d+\)/);
      expect(r.stderr).toMatch(/shut the virtual machine down/);
    } finally {
      child.kill();
      await new Promise((r) => child.once('exit', r));
    }
    expect(sha(readFileSync(card))).toBe(before);
  });

  // Matched by path, the file held through a hard link (or a bind mount: a VM in a container) was written.
  it.skipIf(process.platform !== 'linux')('refuses an image file another program holds open through a hard link: exit 77, nothing written', async () => {
    const card = join(work, 'held-linked.img');
    writeFileSync(card, readSampleImage());
    const link = join(work, 'held-other-name.img');
    linkSync(card, link);
    const before = sha(readFileSync(card));
    const child = spawn('sh', ['-c', `exec 3<>"${link}"; echo ready; exec sleep 30`], { stdio: ['ignore', 'pipe', 'ignore'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    try {
      const r = cli(['rm', card, DB, '--no-originals']);
      expect(r.code, r.stderr).toBe(77);
      expect(r.stderr).toMatch(/is open in sleep \(pid \d+\)/);
    } finally {
      child.kill();
      await new Promise((r) => child.once('exit', r));
    }
    expect(sha(readFileSync(card))).toBe(before);
  });

  it('removes the database, and SQLite\'s -wal and -shm beside it: copies saved first, e2fsck -fn clean, the blocks given back', () => {
    const card = join(work, 'card.img');
    writeFileSync(card, readSampleImage());
    const want = debugfs(card, `cat ${DB}`);
    const blocks = ['', '-wal', '-shm'].reduce((n, s) => n + Number(/Blockcount: (\d+)/.exec(debugfs(card, `stat ${DB}${s}`).toString())![1]), 0);
    const free = freeBlocks(card);
    const orig = join(work, 'orig');
    // The database alone named: its -wal and -shm, left beside the new database, could damage it.
    const r = cli(['rm', card, DB, '--originals', orig]);
    expect(r.code, r.stderr).toBe(0);
    for (const s of ['-wal', '-shm']) expect(r.text).toMatch(new RegExp(`^  ${DB}${s}  .* \\(SQLite's own file of home-assistant_v2\\.db, removed with it`, 'm'));
    expect(r.text).toMatch(/^Removed 3 path\(s\), .* given back; checked on the image file \S+ \(not a card\)\.$/m);
    assertCardClean(card);
    expect(cli(['ls', card, '/supervisor/homeassistant']).text).not.toContain('home-assistant_v2.db\n');
    expect(freeBlocks(card)).toBe(free + (blocks * 512) / 4096);
    expect(sha(readFileSync(join(orig, 'supervisor__homeassistant__home-assistant_v2.db')))).toBe(sha(want));
    expect(readdirSync(orig)).toHaveLength(4);
  });

  it('a folder needs --recursive; then it goes with everything in it, every file saved first', () => {
    const card = join(work, 'tree.img');
    writeFileSync(card, readSampleImage());
    const tree = '/supervisor/homeassistant/blueprints';
    expect(cli(['rm', card, tree]).code).toBe(64);
    const files = cliJson<unknown[]>(['ls', card, tree]);
    expect(files.length).toBeGreaterThan(0);
    const orig = join(work, 'orig-tree');
    const dry = cli(['rm', card, tree, '--recursive', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.text).toMatch(new RegExp(`^  ${tree}  folder, [\\d.]+ \\w+ with what was in it$`, 'm'));
    const r = cli(['rm', card, tree, '--recursive', '--originals', orig, '--json']);
    expect(r.code, r.stderr).toBe(0);
    assertCardClean(card);
    expect(cli(['ls', card, tree]).code).toBe(66);
    const manifest = JSON.parse(readFileSync(join(orig, 'manifest.json'), 'utf8')) as { files: Array<{ path: string; savedAs: string }> };
    expect(manifest.files.length).toBeGreaterThan(0);
    for (const f of manifest.files) expect(f.path.startsWith(`${tree}/`)).toBe(true);
  });

  it('--no-originals saves nothing; outside /supervisor needs --force-system', () => {
    const card = join(work, 'system.img');
    writeFileSync(card, readSampleImage());
    const r = cli(['rm', card, '/supervisor/homeassistant/scenes.yaml', '--no-originals', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.text).write.originalsDir).toBeNull();
    assertCardClean(card);
  });
});

// A hard link was said to give back the file's whole size ("939 KiB given back"), where one link fewer frees
// nothing; the bytes given back are now those the card's free count gains.
describe('hard links removed', () => {
  it('a name of a file that keeps another gives back nothing (said); its last name gives back its blocks, once', () => {
    const stage = join(work, 'links-stage');
    const config = join(stage, 'supervisor', 'homeassistant');
    mkdirSync(config, { recursive: true });
    writeFileSync(join(config, 'big.bin'), Buffer.alloc(1024 * 1024, 7));
    linkSync(join(config, 'big.bin'), join(config, 'big-link.bin'));
    linkSync(join(config, 'big.bin'), join(config, 'big-link2.bin'));
    const img = join(work, 'links.img');
    mkfs(img, stage, { sizeMiB: 16 });
    const free = (): number => Number(/Free blocks:\s+(\d+)/.exec(execFileSync('debugfs', ['-R', 'stats', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))![1]);
    type Removed = { removed: Array<{ path: string; allocatedBytes: number; linksLeft?: true }> };
    const before = free();
    const one = cli(['rm', img, '/supervisor/homeassistant/big-link.bin', '--no-originals']);
    expect(one.code, one.stderr).toBe(0);
    expect(one.text).toMatch(/big-link\.bin {2}1 MiB \(another name of the same file stays: nothing given back\)\n/);
    expect(one.text).toMatch(/Removed 1 path\(s\), 0 bytes given back;/);
    expect(free()).toBe(before);
    const rest = JSON.parse(cli(['rm', img, '/supervisor/homeassistant/big.bin', '/supervisor/homeassistant/big-link2.bin', '--no-originals', '--json']).text) as Removed;
    const given = rest.removed.reduce((n, f) => n + f.allocatedBytes, 0);
    expect(rest.removed.some((f) => f.linksLeft)).toBe(false);
    expect(given).toBe((free() - before) * 1024);
    expect(given).toBeGreaterThanOrEqual(1024 * 1024);
    expect(spawnSync('e2fsck', ['-fn', img]).status).toBe(0);
  });

  it('a folder holding one name of a file named elsewhere too: what it gives back leaves that file out (it was counted)', () => {
    const stage = join(work, 'folder-links-stage');
    const config = join(stage, 'supervisor', 'homeassistant');
    mkdirSync(join(config, 'aside'), { recursive: true });
    writeFileSync(join(config, 'big.bin'), Buffer.alloc(1024 * 1024, 7));
    linkSync(join(config, 'big.bin'), join(config, 'aside', 'big-link.bin'));
    writeFileSync(join(config, 'aside', 'own.bin'), Buffer.alloc(64 * 1024, 9));
    const img = join(work, 'folder-links.img');
    mkfs(img, stage, { sizeMiB: 16 });
    const free = (): number => Number(/Free blocks:\s+(\d+)/.exec(execFileSync('debugfs', ['-R', 'stats', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))![1]);
    const before = free();
    const r = JSON.parse(cli(['rm', img, '-r', '/supervisor/homeassistant/aside', '--no-originals', '--json']).text) as { removed: Array<{ allocatedBytes: number }> };
    expect(r.removed[0]!.allocatedBytes).toBe((free() - before) * 1024);
    expect(r.removed[0]!.allocatedBytes).toBeLessThan(1024 * 1024);
    expect(cli(['cat', img, '/supervisor/homeassistant/big.bin']).stdout.length).toBe(1024 * 1024);
    expect(spawnSync('e2fsck', ['-fn', img]).status).toBe(0);
  });
});

// A recorder database with holes (SQLite leaves none, but a copy made with holes does): its saved copy took
// its whole size on this computer (6 GiB for 1 GiB of data), where the card holds only the data.
describe('a sparse file removed', () => {
  it('is saved with its holes: the same bytes, taking about its data on this computer', () => {
    const stage = join(work, 'sparse-stage');
    mkdirSync(join(stage, 'supervisor', 'homeassistant'), { recursive: true });
    const file = join(stage, 'supervisor', 'homeassistant', 'home-assistant_v2.db');
    const fd = openSync(file, 'w');
    writeSync(fd, Buffer.alloc(1024 * 1024, 0x11), 0, 1024 * 1024, 0);
    writeSync(fd, Buffer.alloc(1024 * 1024, 0x22), 0, 1024 * 1024, 40 * 1024 * 1024);
    ftruncateSync(fd, 64 * 1024 * 1024);
    closeSync(fd);
    const card = join(work, 'sparse.img');
    mkfs(card, stage, { sizeMiB: 32 });
    const orig = join(work, 'sparse-originals');
    const r = cli(['rm', card, DB, '--originals', orig, '--yes']);
    expect(r.code, r.stderr).toBe(0);
    const saved = join(orig, 'supervisor__homeassistant__home-assistant_v2.db');
    expect(sha(readFileSync(saved))).toBe(sha(readFileSync(file)));
    expect(statSync(saved).blocks * 512).toBeLessThan(4 * 1024 * 1024);
  });
});

// The copies are the only ones left once the card is changed: a power cut of this computer right after the
// write must not take them with it. Seen with strace: every saved file, the manifest and their folder are
// synced to this computer's disk before the first write to the card.
const hasStrace = spawnSync('strace', ['-V']).status === 0;

/** The paths synced (fsync, fdatasync) before the first write to `target`, from an strace log; null when it was not written. */
function syncedBeforeWriteTo(trace: string, target: string, cwd: string): Set<string> | null {
  const fds = new Map<string, string>();
  const synced = new Set<string>();
  const pending = new Map<string, string>(); // pid → the path or fd of its call left unfinished (threads interleave)
  for (const line of readFileSync(trace, 'utf8').split('\n')) {
    const pid = line.split(' ')[0]!;
    const call = /(openat\(AT_FDCWD, "([^"]+)"|f(?:data)?sync\((\d+)).*<unfinished \.\.\.>$/.exec(line);
    if (call) pending.set(pid, call[2] ?? call[3]!);
    const resumed = /<\.\.\. (openat|f(?:data)?sync) resumed>.*= (\d+)$/.exec(line);
    const opened = /openat\(AT_FDCWD, "([^"]+)", .*\) = (\d+)$/.exec(line) ?? (resumed?.[1] === 'openat' ? [line, pending.get(pid)!, resumed[2]!] : null);
    if (opened) fds.set(opened[2]!, resolve(cwd, opened[1]!));
    const sync = /f(?:data)?sync\((\d+)\)\s+= 0$/.exec(line) ?? (resumed && resumed[1] !== 'openat' && resumed[2] === '0' ? [line, pending.get(pid)!] : null);
    if (sync && fds.has(sync[1]!)) synced.add(fds.get(sync[1]!)!);
    const wrote = /pwrite(?:64|v)\((\d+),/.exec(line);
    if (wrote && fds.get(wrote[1]!) === target) return synced;
  }
  return null;
}

describe.skipIf(!hasStrace || process.platform !== 'linux')('the originals saved', () => {
  it('are synced (each file, the manifest and the folder) before the card is written', () => {
    const card = join(work, 'synced.img');
    writeFileSync(card, readSampleImage());
    const orig = join(work, 'synced-originals');
    const trace = join(work, 'synced.trace');
    const r = spawnSync('strace', ['-f', '-qq', '-o', trace, '-e', 'trace=openat,fsync,fdatasync,pwrite64,pwritev', process.execPath, CLI, 'rm', card, DB, '--originals', orig], { cwd: work });
    expect(r.status, r.stderr.toString()).toBe(0);
    const synced = syncedBeforeWriteTo(trace, card, work);
    expect(synced, 'the card was written').not.toBeNull();
    const saved = [...readdirSync(orig).map((n) => join(orig, n)), orig];
    expect(saved.length).toBe(5);
    for (const p of saved) expect(synced!.has(p), `${p} synced before the card was written`).toBe(true);
  });
});

// A link in /supervisor to / (or ../..) was followed from the filesystem's root: `put` of .../www/x wrote /x,
// `rm -r .../www/lost+found` removed /lost+found, past the check that keeps changes inside /supervisor; and
// `rm -r .../big/..` removed the folder above big.
describe('paths through links, and . or .. at the end', () => {
  it('are refused with nothing written; a link itself is still removed', () => {
    const card = join(work, 'links.img');
    writeFileSync(card, readSampleImage().subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes));
    execFileSync('debugfs', ['-w', '-f', '-', card], { input: 'symlink /supervisor/homeassistant/www /\nsymlink /supervisor/homeassistant/up ../..\n', stdio: ['pipe', 'ignore', 'ignore'] });
    const before = sha(readFileSync(card));
    const local = join(work, 'planted.txt');
    writeFileSync(local, 'hi\n');
    const H = '/supervisor/homeassistant';
    for (const args of [
      ['put', card, local, `${H}/www/planted.txt`],
      ['put', card, local, `${H}/up/planted.txt`],
      ['rm', card, '-r', `${H}/www/lost+found`],
      ['mv', card, `${H}/scenes.yaml`, `${H}/www/`],
      ['mv', card, `${H}/www/lost+found`, `${H}/lf`],
    ]) {
      const r = cli([...args, '--yes', '--no-originals']);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(77);
      expect(r.stderr).toMatch(/is a symbolic link \(to (\/|\.\.\/\.\.)\): haos-rescue does not follow links when it changes the card/);
    }
    for (const args of [['rm', card, '-r', `${H}/.storage/..`], ['rm', card, '-r', `${H}/.`], ['mv', card, `${H}/.storage/..`, '/supervisor/old']]) {
      const r = cli([...args, '--yes', '--no-originals']);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(64);
      expect(r.stderr).toMatch(/ends in \.\.?: name the file or folder itself/);
    }
    expect(sha(readFileSync(card))).toBe(before);
    // Its copy is where it pointed, in the manifest (a link removed lost its target).
    const saved = join(work, 'link-originals');
    const removed = cli(['rm', card, `${H}/www`, '--yes', '--originals', saved]);
    expect(removed.code, removed.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(saved, 'manifest.json'), 'utf8')).files).toEqual([{ path: `${H}/www`, symlinkTo: '/' }]);
    const root = execFileSync('debugfs', ['-R', 'ls /', card], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    expect(root).toMatch(/lost\+found/);
    expect(root).not.toMatch(/planted/);
    const fsck = spawnSync('e2fsck', ['-fn', card], { encoding: 'utf8' });
    expect(fsck.status, fsck.stdout).toBe(0);
  });
});

// Originals were saved as the path with '__' for '/': a deep custom integration's path was over 255 bytes
// (ENAMETOOLONG: the removal could not go ahead without --no-originals), and d/x__y and d/x/y made one name
// (EEXIST: said as "already holds saved originals" of a folder that had not existed).
describe('originals of long and clashing paths', () => {
  it('are each saved under a name of their own, their true paths in the manifest', () => {
    const stage = join(work, 'clash-stage');
    const root = join(stage, 'supervisor', 'homeassistant', 'custom_components', 'hacs');
    let deep = root;
    for (let i = 1; i <= 8; i++) deep = join(deep, `level_${i}_directory_name_xx`);
    mkdirSync(deep, { recursive: true });
    mkdirSync(join(root, 'x'), { recursive: true });
    const contents = new Map([[join(deep, 'file.js'), 'deep\n'], [join(root, 'x__y'), 'ONE\n'], [join(root, 'x', 'y'), 'TWO\n'], [join(root, 'Y'), 'upper\n'], [join(root, 'x', 'Y'), 'upper too\n']]);
    for (const [path, text] of contents) writeFileSync(path, text);
    const card = join(work, 'clash.img');
    mkfs(card, stage, { sizeMiB: 32 });
    const orig = join(work, 'clash-originals');
    const r = cli(['rm', card, '-r', '/supervisor/homeassistant/custom_components/hacs', '--yes', '--originals', orig]);
    expect(r.code, r.stderr).toBe(0);
    const manifest = JSON.parse(readFileSync(join(orig, 'manifest.json'), 'utf8')) as { files: Array<{ path: string; savedAs: string }> };
    expect(manifest.files).toHaveLength(contents.size);
    for (const [path, text] of contents) {
      const onCard = path.slice(stage.length);
      const saved = manifest.files.find((f) => f.path === onCard);
      expect(saved, onCard).toBeDefined();
      expect(Buffer.byteLength(saved!.savedAs)).toBeLessThanOrEqual(240);
      expect(readFileSync(join(orig, saved!.savedAs), 'utf8')).toBe(text);
    }
    expect(new Set(manifest.files.map((f) => f.savedAs.toLowerCase())).size).toBe(contents.size);
    expect(spawnSync('e2fsck', ['-fn', card]).status).toBe(0);
  });

  it('a name that is not UTF-8, or holds characters Windows refuses: the manifest has the path as ls writes it (it had U+FFFD), the saved name only characters every disk takes', () => {
    const stage = join(work, 'bytes-stage');
    const junk = join(stage, 'supervisor', 'homeassistant', 'junk');
    mkdirSync(junk, { recursive: true });
    writeFileSync(Buffer.concat([Buffer.from(`${junk}/bad`), Buffer.from([0xff, 0xfe]), Buffer.from('name')]), 'bytes\n');
    writeFileSync(join(junk, 'a:b?.yaml'), 'colon\n');
    const card = join(work, 'bytes.img');
    mkfs(card, stage, { sizeMiB: 32 });
    expect(cli(['ls', card, '/supervisor/homeassistant/junk']).text).toContain('bad\\xff\\xfename');
    const orig = join(work, 'bytes-originals');
    const r = cli(['rm', card, '-r', '/supervisor/homeassistant/junk', '--yes', '--originals', orig]);
    expect(r.code, r.stderr).toBe(0);
    const manifest = JSON.parse(readFileSync(join(orig, 'manifest.json'), 'utf8')) as { files: Array<{ path: string; savedAs: string }> };
    expect(manifest.files.map((f) => f.path).sort()).toEqual(['/supervisor/homeassistant/junk/a:b?.yaml', '/supervisor/homeassistant/junk/bad\\xff\\xfename']);
    for (const f of manifest.files) {
      expect(f.savedAs).not.toMatch(/[\\:*?"<>|\ufffd]/);
      expect(readFileSync(join(orig, f.savedAs), 'utf8')).toBe(f.path.includes('bad') ? 'bytes\n' : 'colon\n');
    }
  });
});

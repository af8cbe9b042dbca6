// Write commands on cards whose allocation metadata lies (found by a fuzz campaign of the write commands,
// each case made with debugfs, which keeps every checksum right, so only the lie is left): a bitmap that
// calls the journal or a live file's inode free, descriptors whose bitmaps overlap or lie past the end, a
// group flagged unused that is in use, counts that disagree with their bitmaps. Before, `put`, `rm` and
// `safe-mode` wrote over the journal's superblock or the login file, or stopped with an internal error;
// now each is refused with the damage named (exit 65) and the card is byte for byte unchanged, as the
// kernel refuses such a card at mount. A descriptor or bitmap changed on the card itself (its checksum no
// longer matches) is refused likewise. A superblock free count of 0 (which the kernel does not trust) no
// longer stops a put: e2fsck -fn finds nothing new afterwards.

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SAMPLE, readSampleImage } from '../../fixtures/index.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('write-crafted-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const P = '/supervisor/homeassistant';
const small = join(work, 'small.txt');
writeFileSync(small, 'hello\n');
const big = join(work, 'big.bin');
writeFileSync(big, Buffer.alloc(2 * 1024 * 1024, 7));

/** The sample's data partition with debugfs requests applied (-w). */
function crafted(name: string, requests: string[], patch?: [number, number]): string {
  const img = join(work, `${name}.img`);
  writeFileSync(img, readSampleImage().subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes));
  if (patch) {
    const bytes = readFileSync(img);
    bytes[patch[0]] = patch[1];
    writeFileSync(img, bytes);
  }
  // -n: a request after one that left a checksum wrong still opens the image (and `checksum calc` mends it).
  for (const r of requests) execFileSync('debugfs', ['-n', '-w', '-R', r, img], { stdio: 'ignore' });
  return img;
}

/** The inode of /supervisor/homeassistant/.storage/auth_provider.homeassistant in the sample. */
const LOGIN_INO = 46;
const debugfsOut = (img: string, request: string): string => execFileSync('debugfs', ['-R', request, img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

/** e2fsck -fn's problem lines, numbers masked (a count that moved by the write is the same problem). */
function problems(img: string): string[] {
  const r = spawnSync('e2fsck', ['-fn', img], { encoding: 'utf8' });
  return r.stdout.split('\n').filter((l) => /(wrong|differences|Fix\?|Clear\?|corrupt)/i.test(l)).map((l) => l.replace(/\d+/g, 'N')).sort();
}

const CASES: Array<{ name: string; requests: string[]; patch?: [number, number]; args: (img: string) => string[]; error: RegExp }> = [
  { name: 'journal superblock marked free', requests: ['freeb 10'], args: (img) => ['put', img, small, `${P}/new.yaml`], error: /the block bitmap calls blocks 10-10 free, but they hold the journal/ },
  { name: 'login file\'s inode marked free', requests: ['freei <46>'], args: (img) => ['put', img, small, `${P}/new.yaml`], error: /the inode bitmap calls inode 46 free, but it is a file in use/ },
  { name: 'group 0 flagged unused', requests: ['set_bg 0 flags 1', 'set_bg 0 checksum calc'], args: (img) => ['safe-mode', img], error: /block group 0 is marked unused but has inodes in use/ },
  { name: 'inode bitmap on the block bitmap', requests: ['set_bg 0 inode_bitmap 4', 'set_bg 0 checksum calc'], args: (img) => ['rm', img, `${P}/home-assistant_v2.db`], error: /the inode bitmap of group 0 \(block 4\) lies inside the block bitmap of group 0/ },
  // Byte 0x23 of group 0's descriptor (GDT at block 1): the top byte of bg_block_bitmap_hi.
  { name: 'block bitmap far past the end', requests: ['set_bg 0 checksum calc'], patch: [4096 + 0x23, 0xff], args: (img) => ['put', img, small, `${P}/new.yaml`], error: /group 0's block bitmap is said to be at block \d+, outside the filesystem/ },
  // Byte 0x12 of group 0's descriptor (its flags) set to BLOCK_UNINIT on the card, the checksum left as it was:
  // the kernel mounts such a card read-only alone; before, put read the flag and said the card was full.
  { name: 'a descriptor changed on the card', requests: [], patch: [4096 + 0x12, 0x06], args: (img) => ['put', img, small, `${P}/new.yaml`], error: /the descriptor of block group 0 does not match its checksum: it is damaged/ },
  // The login file's extent (block[5]: its start) pointed at the inode table's first block (36): before, rm
  // freed the block, and a later put was given it and wrote over inodes (e2fsck "+36", then worse).
  { name: 'a file whose extent points into the inode table', requests: ['sif <46> block[5] 36'], args: (img) => ['rm', img, `${P}/.storage/auth_provider.homeassistant`], error: /the file's blocks 36-36 are the inode table of group 0: the filesystem is damaged/ },
  // A folder whose block 1 was punched out (the kernel: "Directory hole found"): a name added went into a block
  // appended after the hole, and e2fsck found more wrong ("block 3 should be at block 2").
  { name: 'a folder with a hole', requests: ['mkdir /supervisor/d', 'expand_dir /supervisor/d', 'expand_dir /supervisor/d', 'punch /supervisor/d 1 1'], args: (img) => ['put', img, small, '/supervisor/d/new.yaml'], error: /directory inode \d+ has no block 1 though its size says so: it is damaged/ },
  { name: 'group free count below its bitmap', requests: ['set_bg 0 free_blocks_count 1', 'set_bg 0 checksum calc'], args: (img) => ['put', img, big, '/supervisor/share/big.bin'], error: /a block group's counts disagree with its bitmap/ },
];

describe('write commands on cards whose allocation metadata lies', () => {
  it.each(CASES)('$name: refused with the damage named (exit 65), the card unchanged', ({ name, requests, patch, args, error }) => {
    const img = crafted(name.replace(/\W+/g, '-'), requests, patch);
    const before = sha(img);
    const r = cli([...args(img), '--yes', '--no-originals']);
    expect(r.code, r.stderr).toBe(65);
    expect(r.stderr).toMatch(error);
    expect(r.stderr).toMatch(/^hint: copy the backups and the configuration off the card first; then mark it for a full check, .*nothing was written \(haos-rescue check-at-start .* marks it\)$/m);
    expect(sha(img)).toBe(before);
  });

  // auth reset rewrites the login file in its own blocks: with its extent pointed at the inode table's last block
  // (its bytes made the login file's, so it reads), the new hash went over the inode table (exit 0).
  it('auth reset of a login file whose extent points into the inode table: refused (65), the card unchanged', () => {
    const img = crafted('login-in-inode-table', []);
    const bytes = readFileSync(img);
    const [loginBlock, lastTableBlock] = [Number(/\(0\):(\d+)/.exec(debugfsOut(img, `stat <${LOGIN_INO}>`))![1]), 115];
    expect(debugfsOut(img, 'stats')).toMatch(/inode table at 36\n/);
    expect(debugfsOut(img, 'stats')).toMatch(/Inode blocks per group: +80\n/);
    bytes.copy(bytes, lastTableBlock * 4096, loginBlock * 4096, (loginBlock + 1) * 4096);
    writeFileSync(img, bytes);
    execFileSync('debugfs', ['-n', '-w', '-R', `sif <${LOGIN_INO}> block[5] ${lastTableBlock}`, img], { stdio: 'ignore' });
    const before = sha(img);
    const user = cli(['auth', 'list', img, '--json']);
    expect(user.code, user.stderr).toBe(0);
    const username = (JSON.parse(String(user.stdout)) as Array<{ username: string | null }>).find((u) => u.username)!.username!;
    const r = cli(['auth', 'reset', img, '-u', username, '--password', 'new password 1', '--yes', '--no-originals']);
    expect(r.code, r.stderr).toBe(65);
    expect(r.stderr).toMatch(/^error: \/supervisor\/homeassistant\/\.storage\/auth_provider\.homeassistant has its block 115 where the filesystem keeps the inode table of group 0: the filesystem is damaged/m);
    expect(r.stderr).toMatch(/nothing was written/);
    expect(sha(img)).toBe(before);
  });

  // The remedy the hint gives, end to end: the mark, then the box's own check at its next start (e2fsck -y,
  // no -f, as systemd-fsck runs it there) repairs the damage, and the same write goes through.
  const state = (img: string): string => /^Filesystem state:\s+(.*)$/m.exec(execFileSync('dumpe2fs', ['-h', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))![1]!;
  function markAndCheck(img: string): void {
    const m = cli(['check-at-start', img]);
    expect(m.code, m.stderr).toBe(0);
    expect(m.text).toMatch(/^Marked: the filesystem now says it has errors/m);
    expect(state(img)).toBe('clean with errors');
    expect(spawnSync('e2fsck', ['-y', img]).status).toBeLessThan(4);
    expect(state(img)).toBe('clean');
  }
  const REPAIRED = CASES.filter((c) => c.name !== 'group 0 flagged unused');
  it.each(REPAIRED)('$name: check-at-start marks it, the box\'s check repairs it, and the write then goes through', ({ name, requests, patch, args }) => {
    const img = crafted(`${name.replace(/\W+/g, '-')}-mark`, requests, patch);
    markAndCheck(img);
    const r = cli([...args(img), '--yes', '--no-originals']);
    expect(r.code, r.stderr).toBe(0);
    expect(spawnSync('e2fsck', ['-fn', img]).status).toBe(0);
  });

  // Why the hint (and check-at-start) put the copy first: e2fsck -y takes group 0's "unused" flag at its
  // word, and the inodes of that group, the configuration folder's among them, are gone after the repair.
  it('group 0 flagged unused: the box\'s repair loses the configuration folder, so the copy comes first', () => {
    const c = CASES.find((x) => x.name === 'group 0 flagged unused')!;
    const img = crafted('unused-mark', c.requests);
    expect(cli(['ls', img, P]).code).toBe(0);
    markAndCheck(img);
    expect(cli(['ls', img, P]).code).toBe(66);
  });

  // A bit flipped on the card itself (no debugfs: the bitmap's checksum in its descriptor no longer matches).
  // Before, the allocator took the freed-looking block of the login file for the new file's data and sealed
  // the bitmap again: the password hashes were replaced by the new file's bytes, the put said "read back".
  it.each([
    { kind: 'block', line: /Block bitmap at (\d+)/, bit: (img: string) => Number(debugfsOut(img, `bmap <${LOGIN_INO}> 0`)) },
    { kind: 'inode', line: /Inode bitmap at (\d+)/, bit: () => LOGIN_INO - 1 },
  ])('the $kind bitmap with the login file\'s bit flipped: put and rm refused (exit 65), the card unchanged', ({ kind, line, bit }) => {
    const img = crafted(`flipped-${kind}`, []);
    const at = Number(line.exec(execFileSync('dumpe2fs', [img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))![1]);
    const index = bit(img);
    const bytes = readFileSync(img);
    bytes[at * 4096 + (index >> 3)]! &= ~(1 << (index & 7));
    writeFileSync(img, bytes);
    expect(problems(img).join('\n')).toMatch(kind === 'block' ? /Block bitmap differences/ : /Inode bitmap differences/);
    const before = sha(img);
    for (const args of [['put', img, small, `${P}/new.yaml`], ['rm', img, `${P}/configuration.yaml`]]) {
      const r = cli([...args, '--yes', '--no-originals']);
      expect(r.code, r.stderr).toBe(65);
      expect(r.stderr).toContain(`error: the ${kind} bitmap of block group 0 does not match its checksum: it is damaged, and a ${kind} it calls free may be in use\n`);
      expect(sha(img)).toBe(before);
    }
  });

  it('a damaged resize inode (only online growing uses it; the kernel mounts such a card): the write goes on', () => {
    const img = crafted('resize-inode', ['sif <7> checksum 0']);
    const r = cli(['put', img, small, `${P}/new.yaml`, '--yes', '--no-originals']);
    expect(r.code, r.stderr).toBe(0);
    expect(execFileSync('debugfs', ['-R', `cat ${P}/new.yaml`, img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })).toBe('hello\n');
  });

  it('a superblock free count of 0 (the kernel sums the groups instead): the put goes through, e2fsck finds nothing new', () => {
    const img = crafted('sb-free-0', ['ssv free_blocks_count 0', 'ssv free_inodes_count 0']);
    const before = problems(img);
    expect(before.length).toBeGreaterThan(0); // the counts e2fsck would correct
    const r = cli(['put', img, small, `${P}/new.yaml`, '--yes', '--no-originals']);
    expect(r.code, r.stderr).toBe(0);
    expect(execFileSync('debugfs', ['-R', `cat ${P}/new.yaml`, img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })).toBe('hello\n');
    expect(problems(img)).toEqual(before);
  });
});

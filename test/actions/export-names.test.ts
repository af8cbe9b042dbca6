// Folder-mode export with Windows naming (exportTree option platform: 'win32', export-names.ts
// safeComponent), run on Linux: every name Windows cannot hold (< > : " | ? * \, trailing dots and spaces,
// reserved device names, control characters, bytes that are not UTF-8) and every name that collides with
// another one ignoring case is renamed and reported in result.renamed; no two names in a folder collide;
// every file keeps its bytes (checked against debugfs rdump of the image); names Windows accepts are kept.
// The Windows rules here are written out independently of the code under test.

import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ExportOptions, type ExportResult, exportTree } from '../../src/actions/export/index.js';
import { withFileDevice } from '../../src/device/file-device.js';
import { Ext4Volume } from '../../src/ext4/volume.js';
import { haosLayout } from '../../src/ha/layout.js';
import { type TreeEntry, compareExport, rdump, renamesOf, scanTree, showKey } from '../helpers/export-tree.js';
import { mkfs, tempDir } from '../helpers/images.js';

const CANNOT_HOLD = 'name Windows cannot hold';
const COLLIDES = 'name collides with another name in its folder';

/** Names Windows cannot hold, each in the root folder. */
const INVALID: Array<string | Buffer> = [
  'a<b', 'a>b', 'a:b', 'a"b', 'a|b', 'a?b', 'a*b', 'a\\b',
  'trailing.', 'trailing ', 'dots...', 'mixed. .', 'CON.',
  'CON', 'aux.txt', 'COM1', 'nul.tar.gz', 'lpt9', 'Prn', 'com\u00b9', 'LPT\u00b3.log',
  'ctl\x01x', 'tab\there', 'cr\rhere', 'esc\x1b[0m',
  Buffer.from('caf\xe9', 'latin1'), Buffer.from('mixed-\xff-\xc3\xa9', 'latin1'),
];
/** Names Windows holds: kept as they are. */
const VALID = ['normal.txt', 'CONSOLE', 'com10', 'auxiliary.txt', 'nul-not', 'lpt', '.hidden', 'a.b', 'utf8-été-🏠', 'x y', 'ctl_x', 'tab_here'];
/**
 * Different on ext4, the same to Windows (case-insensitive), or the same as another name renamed: a name
 * Windows holds keeps it (the first in byte order, when two differ in case alone), and a renamed one never
 * takes it: x<y became x_y and the real x_y was moved to x_y~1, its name given to another file's bytes. So
 * x_y, x_y~1, _CON and con_ keep their names, and x<y, x>y, CON and CON. get "~N".
 */
const COLLIDING = ['Readme.md', 'README.md', 'readme.md', 'x<y', 'x>y', 'x_y', 'x_y~1', '_CON', 'con_'];

const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9\u00b9\u00b2\u00b3]|lpt[0-9\u00b9\u00b2\u00b3])(\..*)?$/i;
/** Whether Windows (NTFS through Win32) can hold this name. */
function windowsHolds(name: string): boolean {
  return !/[<>:"/\\|?*\u0000-\u001f]/.test(name) && !/[. ]$/.test(name) && !WINDOWS_RESERVED.test(name) && name.length <= 255;
}

const work = tempDir('export-names-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const image = join(work, 'names.img');
let reference: Map<string, TreeEntry>;
const asBuf = (n: string | Buffer): Buffer => (typeof n === 'string' ? Buffer.from(n, 'utf8') : n);
const key = (...parts: Array<string | Buffer>): string => Buffer.concat(parts.flatMap((p, i) => (i ? [Buffer.from('/'), asBuf(p)] : [asBuf(p)]))).toString('latin1');

beforeAll(async () => {
  const stage = Buffer.from(join(work, 'stage'));
  mkdirSync(stage);
  const put = (rel: Array<string | Buffer>, body?: string): void => {
    const path = Buffer.concat([stage, ...rel.flatMap((p) => [Buffer.from('/'), asBuf(p)])]);
    // Each file's bytes name it, so a swap of two renamed files shows as a mismatch.
    if (body === undefined) mkdirSync(path);
    else writeFileSync(path, `${body} ${key(...rel)}\n`);
  };
  for (const n of [...INVALID, ...VALID, ...COLLIDING]) put([n], 'file');
  // A renamed folder whose entries are renamed too, and a folder equal to it ignoring case.
  put(['dir:1']);
  for (const n of ['a', 'A', 'b?', 'CON']) put(['dir:1', n], 'inner');
  put(['DIR_1']);
  put(['DIR_1', 'a'], 'other folder');
  mkfs(image, stage.toString(), { sizeMiB: 16 });
  const rd = join(work, 'rdump');
  mkdirSync(rd);
  expect(await rdump(image, rd)).toEqual([]);
  reference = scanTree(rd);
});

async function exportWindows(name: string, options: Partial<ExportOptions> = {}, from = image): Promise<{ result: ExportResult; out: string }> {
  const out = join(work, name);
  const result = await withFileDevice(from, {}, async (dev) => exportTree(await Ext4Volume.open(dev), haosLayout(), { out, what: 'all', platform: 'win32', ...options }));
  return { result, out };
}

describe('export to a folder with Windows names', () => {
  let result: ExportResult;
  let out: string;
  beforeAll(async () => {
    ({ result, out } = await exportWindows('win'));
  });

  it('renames every name Windows cannot hold, and reports it', () => {
    const reported = new Map(result.renamed.map((r) => [r.path, r]));
    for (const n of INVALID) {
      const r = reported.get(showKey(key(n)));
      expect(r, `${showKey(key(n))} renamed`).toBeDefined();
      expect(r!.reason).toBe(CANNOT_HOLD);
      expect(windowsHolds(r!.as), r!.as).toBe(true);
    }
    for (const n of ['dir:1', 'dir:1/b?', 'dir:1/CON']) expect(reported.get(`/${n}`)?.reason, n).toBe(CANNOT_HOLD);
  });

  it('keeps names Windows holds', () => {
    const renamed = new Set(result.renamed.map((r) => r.path));
    for (const n of VALID) expect(renamed.has(`/${n}`), n).toBe(false);
    expect(renamed.has('/DIR_1')).toBe(false);
    expect(renamed.has('/README.md')).toBe(false);
    for (const n of VALID) expect(readdirSync(out)).toContain(n);
  });

  it('leaves no two names in a folder equal ignoring case, renaming the later ones', () => {
    const reported = new Map(result.renamed.map((r) => [r.path, r]));
    for (const dir of [out, join(out, reported.get('/dir:1')!.as), join(out, 'DIR_1')]) {
      const names = readdirSync(dir);
      expect(new Set(names.map((n) => n.toLowerCase())).size, dir).toBe(names.length);
      for (const n of names) expect(windowsHolds(n), n).toBe(true);
    }
    for (const n of ['/Readme.md', '/readme.md', '/dir:1/a']) expect(reported.get(n)?.reason, n).toBe(COLLIDES);
    for (const n of ['/x_y', '/x_y~1', '/_CON', '/con_']) expect(reported.has(n), n).toBe(false);
    for (const n of ['/x<y', '/x>y']) expect(reported.get(n)?.as, n).toMatch(/^x_y~[2-9]$/);
    // dir:1 becomes dir_1, which DIR_1 (kept, first in byte order) already is to Windows.
    expect(reported.get('/dir:1')!.as.toLowerCase()).not.toBe('dir_1');
  });

  it('every file keeps its bytes, under the name the report gives, and nothing else is written', () => {
    const renames = renamesOf(result.renamed, reference.keys(), false);
    const cmp = compareExport(image, reference, scanTree(out), { renames });
    expect(cmp.mismatches).toEqual([]);
    expect(cmp.counts.file).toBe(INVALID.length + VALID.length + COLLIDING.length + 5);
    expect(result.skipped).toEqual([]);
    expect(result.files).toBe(cmp.counts.file);
  });

  it('the same image exported for Linux renames nothing but control characters', async () => {
    const linux = await exportWindows('linux', { platform: 'linux' });
    expect(linux.result.renamed.map((r) => r.path).sort()).toEqual(['/ctl\x01x', '/esc\x1b[0m', '/cr\rhere', '/tab\there'].sort());
    // ctl_x and tab_here are real names: the renamed ctl\x01x and tab\there do not take them.
    expect(linux.result.renamed.find((r) => r.path === '/ctl\x01x')?.as).toBe('ctl_x~1');
    expect(linux.result.renamed.find((r) => r.path === '/tab\there')?.as).toBe('tab_here~1');
  });
});

describe('names at the 255-byte limit', () => {
  // A 255-byte name is the ext4 maximum, and Windows' (255 UTF-16 units); Linux's is 255 bytes. Renaming
  // must not make a name longer than that (the create would fail with ENAMETOOLONG):
  // (1) Windows: a byte that is not UTF-8 is written as "\xNN" and then "_xNN", four bytes for one.
  // (2) Any platform: the "~N" suffix added on a collision goes past 255.
  // export-folder.ts cuts such names to 255 bytes (room kept for "~N") and reports them as renamed.
  const longImage = (name: string, names: Buffer[]): string => {
    const stage = Buffer.from(join(work, name));
    mkdirSync(stage);
    for (const n of [...names, Buffer.from('short')]) writeFileSync(Buffer.concat([stage, Buffer.from('/'), n]), n);
    const img = join(work, `${name}.img`);
    mkfs(img, stage.toString(), { sizeMiB: 8 });
    return img;
  };

  it('Windows: a 255-byte name that is not UTF-8 is renamed to one that fits', async () => {
    const { result, out } = await exportWindows('long-win', {}, longImage('long-e9', [Buffer.alloc(255, 0xe9)]));
    const r = result.renamed.find((x) => x.path.startsWith('/\\xe9'));
    expect(r && windowsHolds(r.as)).toBe(true);
    expect(readdirSync(out)).toContain('short');
  });

  it('Linux: two 255-byte names that collide after renaming control characters both fit', async () => {
    const pair = [Buffer.from('x\x01'), Buffer.from('x\x02')].map((head) => Buffer.concat([head, Buffer.alloc(253, 0x61)]));
    const { result, out } = await exportWindows('long-linux', { platform: 'linux' }, longImage('long-pair', pair));
    expect(result.skipped).toEqual([]);
    const names = readdirSync(out, { encoding: 'buffer' }) as Buffer[];
    expect(names.filter((n) => n[0] === 0x78).every((n) => n.length <= 255)).toBe(true);
    expect(names).toHaveLength(4);
  });
});

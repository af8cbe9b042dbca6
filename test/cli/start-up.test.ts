// What a run loads: every start of the program parses and compiles the JavaScript it imports (~30 ms per
// 0.5 MB here, the biggest part of a command's start after Node's own). The command line loads the code of
// the command being run only, and opening a raw image or a card loads none of the VM disk readers. Checked on
// the built program (dist/), with Node's module hooks recording each file it loads; the positive controls
// (a backup command, a qcow2 file) show the markers are found when their code is loaded.

import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { readSampleImage } from '../../fixtures/index.js';
import { CLI } from '../helpers/cli.js';
import { tempDir } from '../helpers/images.js';

const HOOK = fileURLToPath(new URL('../helpers/record-modules.mjs', import.meta.url));
const work = tempDir('start-up-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const image = join(work, 'card.img');
writeFileSync(image, readSampleImage());

/** Function names that are in the built code (names are kept) of each part. */
const MARKERS = {
  engine: 'async function openSource(',
  backups: 'async function extractBackups(',
  tarWriter: 'async function exportToTar(',
  vmReaders: ['async function openQcow2(', 'async function openVhdx(', 'async function openVdi(', 'async function openVmdk(', 'async function openVhd(', 'async function openOva('],
};

/** How the run ended, and which of `markers` the files of ours it loaded hold. */
function loaded(args: string[], markers: string[]): { code: number; found: string[] } {
  const log = join(work, `modules-${Math.random().toString(36).slice(2)}.log`);
  writeFileSync(log, '');
  const r = spawnSync(process.execPath, ['--import', HOOK, CLI, ...args], { env: { ...process.env, HAOS_RESCUE_MODULES_LOG: log }, encoding: 'utf8' });
  const files = [...new Set(readFileSync(log, 'utf8').split('\n').filter((u) => u.includes('/dist/')))];
  expect(files.some((u) => u.endsWith('/dist/cli.js')), `${args.join(' ')}: ${r.stderr}`).toBe(true);
  const text = files.map((u) => readFileSync(fileURLToPath(u), 'utf8')).join('\n');
  return { code: r.status ?? -1, found: markers.filter((m) => text.includes(m)) };
}

describe('what a run of the program loads', () => {
  it('the markers are in the built program', () => {
    const dist = join(fileURLToPath(new URL('../../dist', import.meta.url)));
    const all = [readFileSync(CLI, 'utf8'), ...readdirSync(join(dist, 'chunks')).filter((f) => f.endsWith('.js')).map((f) => readFileSync(join(dist, 'chunks', f), 'utf8'))].join('\n');
    for (const m of [MARKERS.engine, MARKERS.backups, MARKERS.tarWriter, ...MARKERS.vmReaders]) expect(all, m).toContain(m);
  });

  it('--version and a mistyped command load neither the filesystem engine nor the backup code', () => {
    for (const args of [['--version'], ['lss', image]]) expect(loaded(args, [MARKERS.engine, MARKERS.backups]).found, args.join(' ')).toEqual([]);
  });

  it('ls of a raw image loads the engine, no VM disk reader and no backup code; backup list loads the backup code', () => {
    const ls = loaded(['ls', image, '/'], [MARKERS.engine, MARKERS.backups, ...MARKERS.vmReaders]);
    expect(ls).toEqual({ code: 0, found: [MARKERS.engine] });
    expect(loaded(['backup', 'list', image], [MARKERS.backups])).toEqual({ code: 0, found: [MARKERS.backups] });
  });

  it('an export to a folder loads no tar writer; one to a .tar.gz does', () => {
    expect(loaded(['export', image, '--out', join(work, 'folder')], [MARKERS.tarWriter])).toEqual({ code: 0, found: [] });
    expect(loaded(['export', image, '--out', join(work, 'config.tar.gz')], [MARKERS.tarWriter])).toEqual({ code: 0, found: [MARKERS.tarWriter] });
  });

  it('a qcow2 file loads the qcow2 reader and no other', () => {
    const qcow2 = join(work, 'card.qcow2');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', image, qcow2]);
    expect(loaded(['ls', qcow2, '/'], MARKERS.vmReaders)).toEqual({ code: 0, found: ['async function openQcow2('] });
  });
});

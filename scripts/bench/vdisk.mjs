// The virtual-disk rows (issue 14): `backup extract` of a 1 GiB backup (256 MiB with --quick) from the same
// card as a raw image, an uncompressed qcow2 and a VHDX (goal: at least 0.9x the raw extract), the same from
// a compressed qcow2 of a compressible backup against `qemu-img convert -O raw` of that file (goal: at least
// as fast), and `info` on a 256 GiB sparse qcow2 (goal: under 0.5 s). Also, without a goal: `put` of a
// 100 MiB file (32 MiB with --quick) into the raw image, the qcow2 and the VHDX (every new cluster or block
// allocated in the file). Interleaved runs, median and best.

import { execFileSync } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { createCipheriv } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compare, log, round, timed } from './util.mjs';
import { mkfsFromDir } from './images.mjs';

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const MiB = 1024 ** 2;
const qemuImg = (...args) => execFileSync('qemu-img', args, { stdio: 'ignore' });

/** `bytes` of random data, or of text (base64 of random: compresses to ~75 %) when `text`. */
function writeData(path, bytes, text) {
  const fd = openSync(path, 'w');
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 9), Buffer.alloc(16));
  const zeros = Buffer.alloc(3 * MiB);
  for (let done = 0; done < bytes; ) {
    let piece = cipher.update(zeros);
    if (text) piece = Buffer.from(piece.toString('base64'));
    piece = piece.subarray(0, Math.min(piece.length, bytes - done));
    writeSync(fd, piece);
    done += piece.length;
  }
  closeSync(fd);
}

function card(work, name, bytes, text) {
  const stage = join(work, `${name}-stage`);
  mkdirSync(join(stage, 'supervisor', 'backup'), { recursive: true });
  writeData(join(stage, 'supervisor', 'backup', 'big.tar'), bytes, text);
  const img = join(work, `${name}.img`);
  mkfsFromDir(img, stage, Math.ceil((bytes * 1.3) / MiB) * MiB + 64 * MiB);
  rmSync(stage, { recursive: true, force: true });
  return img;
}

export async function vdiskRows({ runs, work, tmp, quick }) {
  const bytes = (quick ? 256 : 1024) * MiB;
  log(`  virtual disks: a card with a ${bytes / MiB} MiB backup as raw, qcow2 and VHDX`);
  const raw = card(work, 'vd-raw', bytes, false);
  qemuImg('convert', '-f', 'raw', '-O', 'qcow2', raw, `${raw}.qcow2`);
  qemuImg('convert', '-f', 'raw', '-O', 'vhdx', raw, `${raw}.vhdx`);
  const textRaw = card(work, 'vd-text', bytes / 4, true);
  qemuImg('convert', '-c', '-f', 'raw', '-O', 'qcow2', textRaw, `${textRaw}.qcow2`);
  rmSync(textRaw, { force: true });
  const big = join(work, 'vd-256g.qcow2');
  qemuImg('convert', '-f', 'raw', '-O', 'qcow2', raw, big);
  qemuImg('resize', big, '256G');
  const out = join(work, 'vd-out');
  const clean = async () => rmSync(out, { recursive: true, force: true });
  const extract = (src) => () => timed(process.execPath, [CLI, 'backup', 'extract', src, '--out', out], { tmpDir: tmp });
  log('  backup extract through raw, qcow2 and VHDX');
  const plain = await compare(runs, { raw: extract(raw), qcow2: extract(`${raw}.qcow2`), vhdx: extract(`${raw}.vhdx`) }, clean);
  log('  backup extract through compressed qcow2, against qemu-img convert -O raw of the file');
  const convertOut = join(work, 'vd-convert.raw');
  const compressed = await compare(runs, {
    ours: extract(`${textRaw}.qcow2`),
    qemu: () => timed('sh', ['-c', 'qemu-img convert -O raw "$1" "$2" && sync "$2"', 'sh', `${textRaw}.qcow2`, convertOut], { tmpDir: tmp }),
  }, async () => (await clean(), rmSync(convertOut, { force: true })));
  const put = await putRows(runs, work, tmp, quick ? 32 * MiB : 100 * MiB, { raw, qcow2: `${raw}.qcow2`, vhdx: `${raw}.vhdx` });
  log('  info on a 256 GiB sparse qcow2');
  const info = await compare(runs, { ours: () => timed(process.execPath, [CLI, 'info', big], { tmpDir: tmp, okExit: [0, 65] }) });
  for (const f of [raw, `${raw}.qcow2`, `${raw}.vhdx`, `${textRaw}.qcow2`, big]) rmSync(f, { force: true });
  const s = (m) => ({ medianMs: round(m.medianMs), bestMs: round(m.bestMs), rssMb: m.rssKb ? round(m.rssKb / 1024) : null });
  return {
    bytes,
    extract: { raw: s(plain.raw), qcow2: s(plain.qcow2), vhdx: s(plain.vhdx), qcow2Ratio: round(plain.raw.medianMs / plain.qcow2.medianMs, 2), vhdxRatio: round(plain.raw.medianMs / plain.vhdx.medianMs, 2) },
    compressed: { bytes: bytes / 4, ours: s(compressed.ours), qemu: s(compressed.qemu), ratio: round(compressed.qemu.medianMs / compressed.ours.medianMs, 2) },
    info256g: s(info.ours),
    put: { bytes: put.bytes, raw: s(put.raw), qcow2: s(put.qcow2), vhdx: s(put.vhdx), qcow2Ratio: round(put.raw.medianMs / put.qcow2.medianMs, 2), vhdxRatio: round(put.raw.medianMs / put.vhdx.medianMs, 2) },
  };
}

/** `put` of a new `bytes`-long file into a fresh copy of each of `disks` (the copy is not timed). */
async function putRows(runs, work, tmp, bytes, disks) {
  log(`  put of a ${bytes / MiB} MiB file into the raw image, the qcow2 and the VHDX`);
  const local = join(work, 'vd-put.bin');
  writeData(local, bytes, false);
  const copy = join(work, 'vd-put-target');
  const put = (src) => () => {
    copyFileSync(src, copy);
    execFileSync('sync');
    return timed(process.execPath, [CLI, 'put', copy, local, '/supervisor/backup/put.bin', '--yes'], { tmpDir: tmp });
  };
  const rows = await compare(runs, { raw: put(disks.raw), qcow2: put(disks.qcow2), vhdx: put(disks.vhdx) }, async () => rmSync(copy, { force: true }));
  rmSync(local, { force: true });
  return { bytes, ...rows };
}

export function vdiskTable(r) {
  const t = (m) => `${(m.medianMs / 1000).toFixed(2)} s [${(m.bestMs / 1000).toFixed(2)}]`;
  return [
    'Virtual disks (median [best]; ratio = raw or qemu-img time / haos-rescue time, >1: haos-rescue faster):',
    `  backup extract ${r.bytes / MiB} MiB  raw ${t(r.extract.raw)}  qcow2 ${t(r.extract.qcow2)} (${r.extract.qcow2Ratio}x)  VHDX ${t(r.extract.vhdx)} (${r.extract.vhdxRatio}x)`,
    `  compressed qcow2, ${r.compressed.bytes / MiB} MiB backup: backup extract ${t(r.compressed.ours)}  qemu-img convert -O raw ${t(r.compressed.qemu)}  ${r.compressed.ratio}x`,
    `  info on a 256 GiB sparse qcow2: ${t(r.info256g)}  RSS ${r.info256g.rssMb ?? '?'} MB`,
    `  put of a ${r.put.bytes / MiB} MiB file (no goal): raw ${t(r.put.raw)}  qcow2 ${t(r.put.qcow2)} (${r.put.qcow2Ratio}x)  VHDX ${t(r.put.vhdx)} (${r.put.vhdxRatio}x)`,
  ].join('\n');
}

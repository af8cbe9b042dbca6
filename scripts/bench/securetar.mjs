// The SecureTar rows (issue 12): decrypting a 1 GiB encrypted inner archive.
//   1. v2 (AES-128-CBC): our decryptSecureTar, streaming the member from a file into a sink, against
//      `openssl enc -d -aes-128-cbc -K KEY -iv IV` on the same ciphertext (the body without the 48-byte
//      header, written to its own file) into /dev/null.
//   2. v3 (Argon2id + secretstream XChaCha20-Poly1305): our decryptSecureTar, the same way.
// The plaintext is "gzip-ish": the gzip magic, then AES-CTR keystream (incompressible, like a .tar.gz). The
// members are written by encryptSecureTar; every run checks the byte count it decrypted. Ours is timed inside
// the child (from the first read to the last byte, Node's start-up not counted), openssl as a whole process;
// the ratio on wall time is given too. The child first makes the call the command line makes at its start
// (keepFreedMemory, src/process-memory.ts). Each of ours runs once more with glibc's own tuning variables
// set (KEEP_FREED_MEMORY), which that call imitates: the two rows should agree. Runs are interleaved; the table shows the median and, in brackets, the best run. Peak RSS
// comes from /usr/bin/time around each child, or from the child's own process.resourceUsage().
// As a script: node scripts/bench/securetar.mjs decrypt MEMBER PASSWORD   (prints one JSON line)

import { createCipheriv, createHash } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { log, mbps, median, round, runStats, shortCmdVersion, timed, timedNode } from './util.mjs';

const SELF = fileURLToPath(import.meta.url);
const dist = (p) => new URL(`../../dist/${p}`, import.meta.url).href;
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const PASSWORD = 'benchmark password';
const READ_CHUNK = MiB;

/** `bytes` of gzip-ish plaintext in 4 MiB pieces: 1f 8b 08, then AES-CTR keystream (fixed key). */
async function* gzipish(bytes) {
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 0x3c), Buffer.alloc(16, 0xc3));
  const zeros = Buffer.alloc(4 * MiB);
  for (let done = 0; done < bytes; done += zeros.length) {
    const piece = cipher.update(zeros.subarray(0, Math.min(zeros.length, bytes - done)));
    if (done === 0) piece.set([0x1f, 0x8b, 0x08]);
    yield piece;
  }
}

/** Writes an encrypted member of `bytes` plaintext; returns its header. */
async function writeMember(path, bytes, version) {
  const { SecureTarKey, encryptSecureTar } = await import(dist('ha/securetar/index.js'));
  const enc = await encryptSecureTar(gzipish(bytes), new SecureTarKey(PASSWORD), { version });
  const out = createWriteStream(path);
  out.write(enc.header);
  for await (const piece of enc.body) if (!out.write(piece)) await once(out, 'drain');
  out.end();
  await once(out, 'close');
  // plaintext_size patched in place, as a backup writer does.
  const header = enc.finalHeader();
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, header, 0, header.length, 0);
  } finally {
    closeSync(fd);
  }
  return header;
}

/** The v2 body alone (for openssl) and the key and IV it needs. */
function v2ForOpenssl(member, bodyPath, header) {
  let key = Buffer.from(PASSWORD, 'utf8');
  for (let i = 0; i < 100; i++) key = createHash('sha256').update(key).digest();
  key = key.subarray(0, 16);
  let iv = Buffer.concat([key, header.subarray(32, 48)]);
  for (let i = 0; i < 100; i++) iv = createHash('sha256').update(iv).digest();
  const fdIn = openSync(member, 'r');
  const fdOut = openSync(bodyPath, 'w');
  const buf = Buffer.alloc(16 * MiB);
  try {
    for (let pos = 48; ; ) {
      const n = readSync(fdIn, buf, 0, buf.length, pos);
      if (n === 0) break;
      writeSync(fdOut, buf, 0, n);
      pos += n;
    }
  } finally {
    closeSync(fdIn);
    closeSync(fdOut);
  }
  return { key: key.toString('hex'), iv: iv.subarray(0, 16).toString('hex') };
}

/** The child: decrypts MEMBER into a sink; {bytes, ms, argon2Ms?, maxRssKb}. */
export async function decryptFile(member, password) {
  const { SecureTarKey, decryptSecureTar } = await import(dist('ha/securetar/index.js'));
  // What the command line does first thing (src/process-memory.ts), so the child runs as the tool does.
  (await import(dist('process-memory.js'))).keepFreedMemory();
  const t0 = process.hrtime.bigint();
  let bytes = 0;
  let firstMs = null;
  for await (const piece of decryptSecureTar(createReadStream(member, { highWaterMark: READ_CHUNK }), new SecureTarKey(password))) {
    firstMs ??= Number(process.hrtime.bigint() - t0) / 1e6;
    bytes += piece.length;
  }
  return { bytes, ms: Number(process.hrtime.bigint() - t0) / 1e6, firstPieceMs: firstMs };
}


function summary(results, bytes) {
  const stats = runStats(results);
  return { ...stats, medianMBps: round(mbps(bytes, stats.medianMs), 1), bestMBps: round(mbps(bytes, stats.bestMs), 1) };
}

/** The rows: v2 ours vs openssl, v3 ours, and one Argon2id in-process. */
export async function securetarRows({ runs, work, tmp, quick }) {
  const bytes = quick ? 256 * MiB : 1 * GiB;
  const v2 = join(work, 'securetar-v2.bin');
  const v3 = join(work, 'securetar-v3.bin');
  const body = join(work, 'securetar-v2-body.bin');
  log(`  writing ${bytes / MiB} MiB SecureTar v2 and v3 members`);
  const header = await writeMember(v2, bytes, 2);
  await writeMember(v3, bytes, 3);
  const { key, iv } = v2ForOpenssl(v2, body, header);
  for (const f of [v2, v3, body]) await timed('cat', [f], { tmpDir: tmp }); // page cache warm
  const ours = async (member, env = {}) => {
    const r = await withEnv(env, () => timedNode(SELF, ['decrypt', member, PASSWORD], { tmpDir: tmp }));
    if (r.report.bytes !== bytes) throw new Error(`decryptSecureTar gave ${r.report.bytes} of ${bytes} bytes`);
    return { ...r, ms: r.report.ms, wallMs: r.ms, firstPieceMs: r.report.firstPieceMs };
  };
  const openssl = () => timed('openssl', ['enc', '-d', '-aes-128-cbc', '-K', key, '-iv', iv, '-in', body, '-out', '/dev/null'], { tmpDir: tmp });
  const tools = {
    v2: () => ours(v2),
    v2Malloc: () => ours(v2, KEEP_FREED_MEMORY),
    openssl,
    v3: () => ours(v3),
    v3Malloc: () => ours(v3, KEEP_FREED_MEMORY),
  };
  const res = Object.fromEntries(Object.keys(tools).map((k) => [k, []]));
  log(`  decrypting, ${runs} runs each, interleaved: ${Object.keys(tools).join(', ')}`);
  for (let i = 0; i < runs; i++) for (const [name, once] of Object.entries(tools)) res[name].push(await once());
  const argon2 = await argon2Ms();
  for (const f of [v2, v3, body]) rmSync(f, { force: true });
  const s = Object.fromEntries(Object.entries(res).map(([k, rs]) => [k, summary(rs, bytes)]));
  return {
    id: 'securetar',
    bytes,
    ...s,
    // Wall time of the whole child (Node start, module load, the decryption), medians.
    v2WallMs: round(median(res.v2.map((r) => r.wallMs)), 1),
    v3WallMs: round(median(res.v3.map((r) => r.wallMs)), 1),
    v3FirstPieceMs: round(median(res.v3.map((r) => r.firstPieceMs)), 1),
    argon2idMs: argon2,
    ratioV2VsOpenssl: round(s.openssl.medianMs / s.v2.medianMs, 2),
    ratioV2MallocVsOpenssl: round(s.openssl.medianMs / s.v2Malloc.medianMs, 2),
    // openssl's time is its whole process; ours without Node's start-up: this ratio puts both on wall time.
    ratioV2WallVsOpenssl: round(s.openssl.medianMs / median(res.v2.map((r) => r.wallMs)), 2),
    opensslVersion: shortCmdVersion('openssl', ['version']),
  };
}

/**
 * glibc settings that keep freed memory for reuse: every 1 MiB piece read and decrypted is a fresh Buffer, and
 * by default glibc hands freed ones back to the kernel, so the next ones fault their pages in again
 * (docs/benchmarks.md, "Where the time goes"). This variant shows what that costs.
 */
const KEEP_FREED_MEMORY = { MALLOC_TRIM_THRESHOLD_: String(256 * MiB), MALLOC_MMAP_THRESHOLD_: String(32 * MiB) };

/** Runs `start` (which spawns synchronously) with extra environment variables for the child. */
function withEnv(env, start) {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return start();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** One Argon2id derivation (opslimit 8, 16 MiB) in this process, libsodium loaded beforehand; median of 3. */
async function argon2Ms() {
  const { argon2idRootKey } = await import(dist('ha/securetar/v3-keys.js'));
  await argon2idRootKey(Buffer.from('warm'), Buffer.alloc(16));
  const times = [];
  for (let i = 0; i < 3; i++) {
    const t0 = process.hrtime.bigint();
    await argon2idRootKey(Buffer.from(PASSWORD), Buffer.alloc(16, i));
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return round(median(times), 1);
}

const mb = (kb) => (kb == null ? '—' : `${round(kb / 1024, 1)} MB`);
const num = (x) => (x >= 100 ? String(Math.round(x)) : x.toFixed(1));

/** The SecureTar table. */
export function securetarTable(row) {
  const cell = (m) => `${num(m.medianMBps)} (${num(m.bestMBps)})`;
  const size = row.bytes >= GiB ? `${row.bytes / GiB} GiB` : `${row.bytes / MiB} MiB`;
  return [
    `SecureTar: decrypt a ${size} inner archive (page cache warm) into a sink; MB/s, median of ${row.v2.runs} (best); ${row.opensslVersion}`,
    '',
    '| work | haos-rescue | openssl enc -d | ratio |',
    '|---|---|---|---|',
    `| v2 AES-128-CBC, MB/s | ${cell(row.v2)} | ${cell(row.openssl)} | ${row.ratioV2VsOpenssl.toFixed(2)}× openssl (wall time: ${row.ratioV2WallVsOpenssl.toFixed(2)}×) |`,
    `| v2, glibc's MALLOC_*_THRESHOLD_ variables set, MB/s | ${cell(row.v2Malloc)} | | ${row.ratioV2MallocVsOpenssl.toFixed(2)}× openssl |`,
    `| v3 Argon2id + XChaCha20-Poly1305, MB/s | ${cell(row.v3)} | — | |`,
    `| v3, glibc's MALLOC_*_THRESHOLD_ variables set, MB/s | ${cell(row.v3Malloc)} | — | |`,
    `| v3: Argon2id (t=8, 16 MiB) once, ms | ${row.argon2idMs} | — | |`,
    `| v3: first plaintext after, ms (Argon2id + libsodium load + first 1 MiB) | ${row.v3FirstPieceMs} | — | |`,
    `| peak RSS: v2 / v3 | ${mb(row.v2.peakRssKb)} / ${mb(row.v3.peakRssKb)} | ${mb(row.openssl.peakRssKb)} | |`,
    `| peak RSS, glibc's variables set: v2 / v3 | ${mb(row.v2Malloc.peakRssKb)} / ${mb(row.v3Malloc.peakRssKb)} | | |`,
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href && process.argv[2] === 'decrypt') {
  const r = await decryptFile(process.argv[3], process.argv[4]);
  console.log(JSON.stringify({ ...r, maxRssKb: process.resourceUsage().maxRSS }));
}

// The tar headers of an OVA (ova.ts), and whether a file's first bytes are one: apart from the reader,
// so that recognising a disk file does not load every reader (recognise.ts).
//
// Tar headers are parsed here rather than with ha/backup-tar.ts, because device/ must not depend on ha/.

import { CorruptError } from '../../errors.js';

export const BLOCK = 512;
const TAR_HINT = 'the OVA is damaged or cut short; check it with `tar -tvf` on a copy';

type Parsed =
  | { kind: 'end' }
  | { kind: 'extended'; type: string; dataSize: number }
  | { kind: 'member'; name: string; size: number; type: string };

/** Parses one 512-byte header block. `pos` names it in messages. */
export function parseTarHeader(block: Buffer, pos: number): Parsed {
  if (block.every((b) => b === 0)) return { kind: 'end' };
  const stored = parseOctal(block, 148, 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  if (stored !== sum) throw tarCorrupt(`tar header at byte ${pos} has a bad checksum (stored ${stored}, computed ${sum})`, pos);
  const size = parseSize(block, pos);
  const type = String.fromCharCode(block[156]!);
  if (type === 'x' || type === 'g' || type === 'L') return { kind: 'extended', type, dataSize: size };
  const name = cString(block, 0, 100);
  // POSIX ustar ("ustar\0") has a prefix field; GNU ("ustar  ") uses those bytes for other things.
  const posixUstar = block.toString('latin1', 257, 263) === 'ustar\0';
  const prefix = posixUstar ? cString(block, 345, 155) : '';
  const hasData = !['1', '2', '3', '4', '5', '6'].includes(type);
  return { kind: 'member', name: prefix === '' ? name : `${prefix}/${name}`, size: hasData ? size : 0, type };
}

function parseSize(block: Buffer, pos: number): number {
  if ((block[124]! & 0x80) !== 0) {
    // GNU base-256: big-endian in the remaining bits.
    let v = 0n;
    for (let i = 125; i < 136; i++) v = (v << 8n) | BigInt(block[i]!);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw tarCorrupt(`tar header at byte ${pos} has a size out of range`, pos);
    return Number(v);
  }
  const size = parseOctal(block, 124, 12);
  if (size === null) throw tarCorrupt(`tar header at byte ${pos} has an unreadable size`, pos);
  return size;
}

function parseOctal(block: Buffer, start: number, length: number): number | null {
  const text = block.toString('latin1', start, start + length).replace(/[\0 ]+$/, '').replace(/^[\0 ]+/, '');
  if (!/^[0-7]{1,16}$/.test(text)) return null;
  const v = parseInt(text, 8);
  return Number.isSafeInteger(v) ? v : null;
}

function cString(block: Buffer, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const nul = field.indexOf(0);
  return field.toString('utf8', 0, nul === -1 ? field.length : nul);
}

/** Applies a PAX or GNU long-name payload to the name (and size) of the next member. */
export function applyExtended(type: string, payload: Buffer, next: { name?: string; size?: number }): void {
  if (type === 'L') next.name = cString(payload, 0, payload.length);
  if (type !== 'x') return;
  // PAX records: "<length> <key>=<value>\n".
  let at = 0;
  while (at < payload.length) {
    const space = payload.indexOf(0x20, at);
    const length = space === -1 ? NaN : Number(payload.toString('latin1', at, space));
    if (!Number.isSafeInteger(length) || length <= 0 || at + length > payload.length) return;
    const record = payload.toString('utf8', space + 1, at + length - 1);
    const eq = record.indexOf('=');
    const key = record.slice(0, eq);
    const value = record.slice(eq + 1);
    if (key === 'path') next.name = value;
    if (key === 'size' && /^[0-9]+$/.test(value) && Number.isSafeInteger(Number(value))) next.size = Number(value);
    at += length;
  }
}

/**
 * A tar whose first member is an .ovf descriptor (the standard order) or a .vmdk disk (an OVA packed by hand,
 * the descriptor after its disk). ustar, GNU, or old v7 headers (no magic, a valid checksum). `head`: the
 * first bytes (up to 64 KiB).
 */
export function detectOva(head: Buffer): boolean {
  try {
    let pos = 0;
    let name: string | undefined;
    for (let i = 0; i < 4 && pos + BLOCK <= head.length; i++) {
      const block = head.subarray(pos, pos + BLOCK);
      const v7 = block.subarray(257, 263).every((b) => b === 0);
      if (!block.toString('latin1', 257, 262).startsWith('ustar') && !v7) return false;
      const parsed = parseTarHeader(block, pos);
      if (parsed.kind === 'end') return false;
      if (parsed.kind === 'member') return /\.(ovf|vmdk)$/i.test(name ?? parsed.name);
      if (parsed.type !== 'g' && pos + BLOCK + parsed.dataSize <= head.length) {
        const next: { name?: string } = {};
        applyExtended(parsed.type, head.subarray(pos + BLOCK, pos + BLOCK + parsed.dataSize), next);
        name = next.name ?? name;
      }
      pos += BLOCK + Math.ceil(parsed.dataSize / BLOCK) * BLOCK;
    }
    return false;
  } catch {
    // A damaged header in a file that is being guessed at: not an OVA, let detection go on.
    return false;
  }
}

export function tarCorrupt(message: string, offset: number): CorruptError {
  return new CorruptError('OVA_BAD_TAR', message, { details: { offset }, hint: TAR_HINT });
}

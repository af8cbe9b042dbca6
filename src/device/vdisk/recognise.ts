// Which kind of virtual machine disk file a file is, told from its first 64 KiB and last 512 bytes, apart
// from the readers: a raw image or a card (nearly every source) is told so without loading any of them, and
// a disk file loads only the reader of its kind (index.ts).

import { QCOW2_MAGIC } from './qcow2-header.js';
import { detectOva } from './ova-tar.js';
import { hasFooterCookie } from './vhd-format.js';
import { looksLikeDescriptor } from './vmdk-descriptor.js';
import { COWD_MAGIC, KDMV_MAGIC } from './vmdk-header.js';

export type DiskFileKind = 'qcow2' | 'vhdx' | 'vdi' | 'vmdk' | 'ova' | 'vhd';

const VDI_SIGNATURE = 0xbeda107f;

export function detectQcow2(head: Buffer): boolean {
  return head.length >= 4 && head.readUInt32BE(0) === QCOW2_MAGIC;
}

/** "vhdxfile" at byte 0 (§2.2.1). `head` is up to the first 64 KiB of the file. */
export function detectVhdx(head: Buffer): boolean {
  return head.length >= 8 && head.toString('latin1', 0, 8) === 'vhdxfile';
}

/** Whether `head` (the start of a file) carries the VDI signature. */
export function detectVdi(head: Buffer): boolean {
  return head.length >= 0x48 && head.readUInt32LE(0x40) === VDI_SIGNATURE;
}

export function detectVmdk(head: Buffer): boolean {
  if (head.length >= 4) {
    const magic = head.readUInt32LE(0);
    if (magic === KDMV_MAGIC || magic === COWD_MAGIC) return true;
  }
  return looksLikeDescriptor(head);
}

/** Whether the file is a VHD: a footer at its end (every VHD) or a footer copy at its start (dynamic). */
export function detectVhd(head: Buffer, tail: Buffer): boolean {
  return hasFooterCookie(tail) || hasFooterCookie(head);
}

/** The kind of disk file `head` and `tail` belong to, in the order the kinds are tried; null for a raw image. */
export function recognise(head: Buffer, tail: Buffer): DiskFileKind | null {
  if (detectQcow2(head)) return 'qcow2';
  if (detectVhdx(head)) return 'vhdx';
  if (detectVdi(head)) return 'vdi';
  if (detectVmdk(head)) return 'vmdk';
  if (detectOva(head)) return 'ova';
  if (detectVhd(head, tail)) return 'vhd';
  return null;
}

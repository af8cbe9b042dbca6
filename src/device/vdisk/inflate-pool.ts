// Compressed qcow2 clusters (zlib) inflated on helper threads: inflating is most of the time of a copy out of
// a compressed image (0.66 s of 1.5 s for a 256 MiB backup, all on the event loop's thread), and QEMU's own
// `qemu-img convert` inflates on several threads. A device read hands over the streams of its whole clusters
// in batches; the copy keeps several reads in flight, so the threads and the event loop (hashing, writing)
// all work at once. A whole cluster whose place in the read is shared memory (the copy's buffers) is
// inflated straight there; the others come back in memory shared with the thread, reused from batch to batch
// (a fresh buffer per cluster left up to ~64 MB of garbage per thread before a collection), which the caller
// copies out and releases. Each answer gives every stream's length or the decoder's error: the caller checks
// them exactly as for a cluster inflated on the event loop's thread (the same code, zlib-into.ts).
// The thread's code is a self-contained string (as crc-worker.ts), so the bundle needs no extra file.
// One thread per core, at most four; none on a single core, where the caller inflates as before.

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { INFLATER_SOURCE } from './zlib-into.js';

const SOURCE = `
const { parentPort } = require('node:worker_threads');
const zlib = require('node:zlib');
const inflateInto = (${INFLATER_SOURCE})(zlib);
parentPort.on('message', ({ id, data, at, spans, clusterSize, out, dests }) => {
  const count = spans.length / 2;
  const slot = out === null ? null : new Uint8Array(out);
  const produced = new Array(count).fill(-1);
  const errors = new Array(count).fill(null);
  let inSlot = 0;
  for (let i = 0; i < count; i++) {
    const dest = dests[i];
    const view = dest === null ? slot : new Uint8Array(dest[0]);
    const where = dest === null ? clusterSize * inSlot++ : dest[1];
    try {
      produced[i] = inflateInto(new Uint8Array(data, at + spans[2 * i], spans[2 * i + 1]), view, where, clusterSize);
    } catch (e) {
      errors[i] = String(e && e.message);
    }
  }
  parentPort.postMessage({ id, produced, errors });
});
`;

export interface Inflated {
  /**
   * The clusters without a destination of their own, one after another in memory shared with the thread
   * (the k-th such cluster at k * clusterSize): copy them out, then call release().
   */
  out: Buffer;
  /** Bytes each stream gave; -1 when it did not decompress. */
  produced: number[];
  /** The decoder's message for a stream that did not decompress. */
  errors: Array<string | null>;
  /** Gives the shared memory back for the next batch. */
  release: () => void;
}

interface Pending {
  resolve: (r: Inflated) => void;
  reject: (e: unknown) => void;
  out: SharedArrayBuffer | null;
  input?: SharedArrayBuffer;
}

/** Free shared output slots by size, at most SLOT_BYTES_KEPT of them in all. */
const freeSlots = new Map<number, SharedArrayBuffer[]>();
const SLOT_BYTES_KEPT = 32 * 1024 * 1024;
let keptBytes = 0;

/** A shared slot of at least `bytes` (sizes rounded up to a power of two from 64 KiB, so slots are reused). */
function takeSlot(bytes: number): SharedArrayBuffer {
  let size = 65536;
  while (size < bytes) size *= 2;
  const slot = freeSlots.get(size)?.pop();
  if (slot === undefined) return new SharedArrayBuffer(size);
  keptBytes -= size;
  return slot;
}

/**
 * A Buffer of `bytes` in memory the threads share: read the compressed streams into it and hand it to
 * inflateClusters, which gives it back to the pool when the thread is done with it.
 */
export function sharedBuffer(bytes: number): Buffer {
  return Buffer.from(takeSlot(bytes), 0, bytes);
}

function giveSlot(slot: SharedArrayBuffer): void {
  if (keptBytes + slot.byteLength > SLOT_BYTES_KEPT) return;
  const list = freeSlots.get(slot.byteLength) ?? [];
  list.push(slot);
  freeSlots.set(slot.byteLength, list);
  keptBytes += slot.byteLength;
}

class InflateThread {
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  /** The thread failed or ended: no more requests go to it. */
  broken = false;

  constructor(private readonly worker: Worker) {
    worker.on('message', (m: { id: number; produced: number[]; errors: Array<string | null> }) => {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (this.pending.size === 0) worker.unref();
      if (p?.input !== undefined) giveSlot(p.input);
      if (p === undefined) return;
      const out = p.out;
      p.resolve({ out: out === null ? Buffer.alloc(0) : Buffer.from(out), produced: m.produced, errors: m.errors, release: () => out !== null && giveSlot(out) });
    });
    const fail = (err: unknown): void => {
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      this.broken = true;
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the inflating thread ended (code ${code})`)));
    // After the listeners: adding a 'message' listener references the thread's port again.
    worker.unref();
  }

  get load(): number {
    return this.pending.size;
  }

  inflate(data: Uint8Array, spans: number[], clusterSize: number, targets: Array<Uint8Array | null>): Promise<Inflated> {
    const id = this.nextId++;
    return new Promise<Inflated>((resolve, reject) => {
      const dests = targets.map((t) => (t === null ? null : [t.buffer, t.byteOffset]));
      const inSlot = dests.filter((d) => d === null).length;
      const out = inSlot === 0 ? null : takeSlot(inSlot * clusterSize);
      // Shared input is read in place (and given back with the reply); other bytes are copied into a slot.
      let input = data;
      if (!(data.buffer instanceof SharedArrayBuffer)) {
        input = sharedBuffer(data.length);
        input.set(data);
      }
      const inputSlot = input.buffer as SharedArrayBuffer;
      this.pending.set(id, { resolve, reject, out, input: inputSlot });
      // Referenced only while it works: an idle thread never keeps the process alive.
      this.worker.ref();
      this.worker.postMessage({ id, data: inputSlot, at: input.byteOffset, spans, clusterSize, out, dests });
    });
  }
}

let threads: InflateThread[] | null = null;

/** The threads, started at the first use; null on a single core or where threads cannot start. */
function pool(): InflateThread[] | null {
  if (threads !== null) return threads.length > 0 ? threads : null;
  const count = Math.min(4, availableParallelism());
  threads = [];
  if (count < 2) return null;
  try {
    for (let i = 0; i < count; i++) threads.push(new InflateThread(new Worker(SOURCE, { eval: true })));
  } catch {
    threads = [];
    return null;
  }
  return threads;
}

/** Whether zlib clusters can be inflated on helper threads here. */
export function inflatePoolAvailable(): boolean {
  return pool() !== null;
}

/**
 * Inflates raw-deflate streams `spans` ([offset, length] pairs into `data`) of one cluster each, on the least
 * busy thread. `data` (best from sharedBuffer) is handed over: the caller must not use it afterwards.
 * targets[i]: where stream i's cluster goes, a whole cluster of memory shared with the threads (a Buffer over
 * a SharedArrayBuffer), written by the thread without a copy; null: into Inflated.out.
 * Rejects only when the thread itself fails (not for a bad stream: see Inflated.errors).
 */
export function inflateClusters(data: Uint8Array, spans: number[], clusterSize: number, targets: Array<Uint8Array | null>): Promise<Inflated> {
  const all = pool()?.filter((t) => !t.broken) ?? [];
  if (all.length === 0) return Promise.reject(new Error('no inflating thread'));
  const thread = all.reduce((a, b) => (b.load < a.load ? b : a));
  return thread.inflate(data, spans, clusterSize, targets);
}

/** Whether the threads can write into `target`'s memory: it lies in a SharedArrayBuffer. */
export function isShared(target: Uint8Array): boolean {
  return target.buffer instanceof SharedArrayBuffer;
}

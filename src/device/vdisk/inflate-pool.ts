// Compressed qcow2 clusters (zlib) inflated on helper threads: inflating is most of the time of a copy out of
// a compressed image (0.66 s of 1.5 s for a 256 MiB backup, all on the event loop's thread), and QEMU's own
// `qemu-img convert` inflates on several threads. A device read hands over the streams of its whole clusters
// in batches; the copy keeps several reads in flight, so the threads and the event loop (hashing, writing)
// all work at once. Each cluster comes back in its own moved buffer (inflated in one output piece: nothing
// joined or copied on the thread), or with the decoder's error: the caller checks them exactly as for a
// cluster inflated on the event loop's thread.
// The thread's code is a self-contained string (as crc-worker.ts), so the bundle needs no extra file.
// One thread per core, at most four; none on a single core, where the caller inflates as before.

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

const SOURCE = `
const { parentPort } = require('node:worker_threads');
const zlib = require('node:zlib');
parentPort.on('message', ({ id, data, spans, clusterSize }) => {
  const count = spans.length / 2;
  const outs = new Array(count).fill(null);
  const errors = new Array(count).fill(null);
  for (let i = 0; i < count; i++) {
    try {
      // One output chunk of a whole cluster: no joining of 16 KiB pieces, and a buffer of its own to move.
      const r = zlib.inflateRawSync(new Uint8Array(data, spans[2 * i], spans[2 * i + 1]), { chunkSize: clusterSize, maxOutputLength: clusterSize, finishFlush: zlib.constants.Z_SYNC_FLUSH });
      outs[i] = r.byteOffset === 0 && r.byteLength === r.buffer.byteLength ? r.buffer : new Uint8Array(r).buffer;
    } catch (e) {
      errors[i] = String(e && e.message);
    }
  }
  parentPort.postMessage({ id, outs, errors }, outs.filter((o) => o !== null));
});
`;

export interface Inflated {
  /** What stream i gave (at most a cluster); null when it did not decompress. */
  outs: Array<Buffer | null>;
  /** The decoder's message for a stream that did not decompress. */
  errors: Array<string | null>;
}

interface Pending {
  resolve: (r: Inflated) => void;
  reject: (e: unknown) => void;
}

class InflateThread {
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  /** The thread failed or ended: no more requests go to it. */
  broken = false;

  constructor(private readonly worker: Worker) {
    worker.on('message', (m: { id: number; outs: Array<ArrayBuffer | null>; errors: Array<string | null> }) => {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (this.pending.size === 0) worker.unref();
      p?.resolve({ outs: m.outs.map((o) => (o === null ? null : Buffer.from(o))), errors: m.errors });
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

  inflate(data: Uint8Array, spans: number[], clusterSize: number): Promise<Inflated> {
    const id = this.nextId++;
    return new Promise<Inflated>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Referenced only while it works: an idle thread never keeps the process alive.
      this.worker.ref();
      // The bytes are moved, not copied, when `data` is all of its memory (a read of more than 4 KiB is).
      const own = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer;
      const moved = own ? (data.buffer as ArrayBuffer) : new Uint8Array(data).buffer;
      this.worker.postMessage({ id, data: moved, spans, clusterSize }, [moved]);
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
 * busy thread. `data` is handed over: the caller must not use it afterwards. Rejects only when the thread
 * itself fails (not for a bad stream: see Inflated.errors).
 */
export function inflateClusters(data: Uint8Array, spans: number[], clusterSize: number): Promise<Inflated> {
  const all = pool()?.filter((t) => !t.broken) ?? [];
  if (all.length === 0) return Promise.reject(new Error('no inflating thread'));
  const thread = all.reduce((a, b) => (b.load < a.load ? b : a));
  return thread.inflate(data, spans, clusterSize);
}

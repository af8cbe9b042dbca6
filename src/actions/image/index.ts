// `haos-rescue image SOURCE --out IMG`: copies a failing card to an image file once, carefully, as GNU
// ddrescue does (rescuer.ts), but in the order that matters for a Home Assistant rescue (order.ts), and
// keeps a bad-sector map in ddrescue's format beside it. The map is saved every few seconds, after the
// image's bytes are made durable, so Ctrl-C, a pulled reader or a crash loses seconds; the same command
// run again continues from the map. The card is only read.

import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { BlockDevice } from '../../device/block-device.js';
import { type Mapfile, type PhaseStatus, formatMapfile, writeMapfileAtomic } from '../../device/rescue/mapfile.js';
import { RegionMap } from '../../device/rescue/region-map.js';
import { readMaxRequestBytes } from '../../device/sysfs-geometry.js';
import { RescueStopped, Rescuer } from '../../device/rescue/rescuer.js';
import { rescuingDevice } from '../../device/rescue/rescuing-device.js';
import { SectorWorker } from '../../device/rescue/sector-worker.js';
import { rescueFileDescriptor } from '../../device/file-device.js';
import { containerOf } from '../../device/vdisk/index.js';
import { firstHeld } from '../../device/vdisk/in-use.js';
import { AppError, NotFoundError, RefusedError, UsageError } from '../../errors.js';
import { formatBytes } from '../../units.js';
import { withInterruptCleanup } from '../critical.js';
import { makeOutputFolder, outputError } from '../output-error.js';
import { assertOutputOffSource } from '../host-mounts.js';
import { type SourceOptions, openSourceDevice } from '../source.js';
import { type Phase, type PhaseName, rescueOrder } from './order.js';
import { assertMapOfThisSize, assertNotFolders, assertSameDisk, checkResume, forgetPastEnd, readPreviousMap } from './resume.js';
import { ImageFile, assertFirstRoom, assertImageFits, assertNotOnSource, assertRoom } from './output.js';
import { type ImageProgress, type ImageResult, progressOf, resultOf } from './report.js';

export type { ImageProgress, ImageResult } from './report.js';
export { freeLeftOutText, inUseText, progressLine } from './report.js';

export interface ImageOptions {
  out: string;
  /** Default: OUT.map. */
  mapPath?: string;
  /** Leave the data partition's free blocks out. */
  usedOnly?: boolean;
  /** Extra passes over the bad sectors. */
  retries?: number;
  /**
   * Continuing a copy (its map there), one pass over the parts it could not read when `retries` is not set:
   * the guided flow and the window say "copying again to the same file tries the missing parts once more".
   */
  retryOnResume?: boolean;
  /** How the owner continues a copy that stopped: "run the same command again" unless the front end says. */
  continueWords?: string;
  trim?: boolean;
  scrape?: boolean;
  /** Start over on an existing --out that has no map. */
  force?: boolean;
  /** Which data filesystem orders the copy (partition/offset). */
  source?: SourceOptions;
  /** For the map's header. */
  commandLine: string;
  version: string;
  readBytes?: number;
  clusterBytes?: number;
  saveIntervalMs?: number;
}

export type Pass = 'metadata' | 'copy' | 'sweep' | 'trim' | 'scrape' | 'retry';

/** One imaging run: start() opens everything, run() copies, stop() (Ctrl-C) saves the map and ends it. */
export class ImageJob {
  pass: Pass = 'metadata';
  phase: PhaseName | null = null;
  retry = 0;
  phases: Phase[] = [];
  linearBecause: string | null = null;
  /** Why the free blocks were left out of a copy that was to hold them (the image's disk filled up). */
  freeLeftOut: string | null = null;
  /** The image file was shorter than its map said (its length): what lay past it is copied again. */
  imageCutAt: number | null = null;
  /** Another program holds the disk file open (a running virtual machine): what it says; null otherwise. */
  inUse: string | null = null;
  /** The rescue map found beside a source that is itself an image of a card (its unrescued parts read as errors). */
  sourceMap: string | null = null;
  readonly startedAt = Date.now();
  private saving: Promise<void> = Promise.resolve();

  private constructor(
    readonly path: string,
    readonly source: BlockDevice,
    readonly image: ImageFile,
    readonly mapPath: string,
    readonly rescuer: Rescuer,
    private readonly stopFlag: { requested: boolean },
    readonly resumed: boolean,
    private readonly opts: ImageOptions,
  ) {}

  static async start(path: string, opts: ImageOptions): Promise<ImageJob> {
    const out = resolve(opts.out);
    const mapPath = resolve(opts.mapPath ?? `${opts.out}.map`);
    assertNotFolders(out, mapPath);
    if (mapPath === out) throw new UsageError('MAP_IS_OUT', 'the map and the image name the same file', { hint: 'the map goes beside the image by itself, as IMAGE.map', remedy: 'no-map' });
    await assertImageNotHeld(out);
    const { device: source, rescueMap } = await openSourceDevice(path, { rescueReads: true });
    try {
      // An empty file copied as "rescued 0 bytes of 0 bytes", exit 0, and an empty image and map made.
      if (source.sizeBytes === 0) {
        throw new NotFoundError('EMPTY_SOURCE', `${source.description} is empty (0 bytes): there is nothing to copy`, { hint: 'a copy of a card that stopped at once leaves an empty file: copy the card itself (the list of disks names it)', remedy: 'list-disks' });
      }
      // Looked at before the map is written: from then on, a stop is one the map keeps.
      const inUse = await heldElsewhere(path, source);
      const container = containerOf(source);
      await assertNotOnSource(path, [out, mapPath], container === null ? [] : [...container.backing, ...(container.parts ?? [])]);
      // Also a folder where this computer mounts the card (or the image file, through a loop device).
      await assertOutputOffSource(path, [out, mapPath]);
      await assertImageFits(out, source.sizeBytes);
      const previous = await readPreviousMap(mapPath, source.sizeBytes);
      if (previous !== null) assertMapOfThisSize(previous, source.sizeBytes, { source: path, out, mapPath });
      const fresh = checkResume(out, mapPath, previous, opts.force ?? false);
      if (fresh) await assertFirstRoom(out);
      // The image's folder is made as export's and extract's are (D:\rescue\card.img with no D:\rescue yet).
      for (const dir of new Set([dirname(out), dirname(mapPath)])) await makeOutputFolder(dir);
      const map = fresh ? new RegionMap(source.sizeBytes) : previous!.map;
      // A new image's map first, all non-tried: stopped at any moment from here, the same command continues.
      if (fresh) await writeMapfileAtomic(mapPath, mapText({ currentPos: 0, currentStatus: '?', currentPass: 1, map }, opts, new Date(), false)).catch((err: unknown) => Promise.reject(mapNotSaved(err, mapPath)));
      const sectorSize = Math.max(512, source.sectorSize);
      const cutAt = fresh ? null : forgetPastEnd(map, out, sectorSize);
      const image = await ImageFile.open(out, source.sizeBytes, fresh);
      if (!fresh) {
        await assertSameDisk(source, image, map, { source: path, out, mapPath }).catch(async (err: unknown) => {
          await image.close();
          throw err;
        });
        await image.fit(source.sizeBytes);
      }
      const stop = { requested: false };
      const fd = rescueFileDescriptor(source);
      const rescuer = new Rescuer(source, image, map, {
        sectorSize,
        readBytes: opts.readBytes ?? 1024 * 1024,
        clusterBytes: opts.clusterBytes ?? 64 * 1024,
        requestBytes: await maxRequestBytes(path),
        stillAttached: await attachedCheck(path),
        shouldStop: () => stop.requested,
        ...(fd !== null ? { sectorRuns: new SectorWorker(fd, sectorSize, path) } : {}),
      });
      const job = new ImageJob(path, source, image, mapPath, rescuer, stop, previous !== null, opts);
      job.imageCutAt = cutAt;
      job.inUse = inUse;
      job.sourceMap = rescueMap?.path ?? null;
      return job;
    } catch (err) {
      await source.close().catch(() => undefined);
      throw err;
    }
  }

  private get continueWords(): string {
    return this.opts.continueWords ?? 'run the same command again';
  }

  get stopped(): boolean {
    return this.stopFlag.requested;
  }

  progress(): ImageProgress {
    return progressOf(this);
  }

  /** Copies everything in order; resolves with the summary (also after stop()). */
  async run(): Promise<ImageResult> {
    // A map that cannot be saved stops the copy: reads a crash would lose wear the card for nothing.
    let saveFailed: AppError | null = null;
    const timer = setInterval(() => {
      this.save(false).catch((err: AppError) => {
        saveFailed ??= err;
        this.stopFlag.requested = true;
      });
    }, this.opts.saveIntervalMs ?? 5000);
    let completed = false;
    let failure: unknown = null;
    try {
      await withInterruptCleanup(() => this.stop(), () => this.passes());
      completed = true;
    } catch (err) {
      if (!(err instanceof RescueStopped)) failure = withResumeHint(err, this.phase, this.continueWords);
    }
    clearInterval(timer);
    const lastSave = await this.save(completed).then(() => null, (err: AppError) => err);
    await this.rescuer.close();
    await this.image.close().catch(() => undefined);
    await this.source.close().catch(() => undefined);
    if (failure !== null) throw lastSave === null ? failure : withMapNotSaved(failure, lastSave);
    if (lastSave !== null || saveFailed !== null) throw lastSave ?? saveFailed;
    return resultOf(this);
  }

  /**
   * Stops at the next read and saves the map; says what that means. A read under way on a stalled card
   * cannot be called back: no process can end before the operating system gives that read up.
   */
  async stop(): Promise<string> {
    this.stopFlag.requested = true;
    await this.save(false);
    const done = `the map is saved (${formatBytes(this.rescuer.map.totals()['+'])} rescued so far): ${this.continueWords} to continue`;
    if (this.rescuer.stats.readStartedAt === null) return `Stopped: ${done}.`;
    return `Stopped: ${done}. The card has not answered its last read yet; haos-rescue ends as soon as it does (unplugging the reader ends it at once).`;
  }

  /** The byte ranges of the phases to work on, in order. */
  ranges(): Array<[number, number]> {
    return this.phases.flatMap((p) => p.ranges);
  }

  private async passes(): Promise<void> {
    const r = this.rescuer;
    const order = await rescueOrder(this.path, rescuingDevice(r, this.source), r, {
      source: this.opts.source ?? {},
      usedOnly: this.opts.usedOnly ?? false,
      checkRoom: (used, zeros) => assertRoom(this.image.path, r.map, used, zeros),
    });
    this.phases = order.phases;
    this.linearBecause = order.linearBecause;
    await this.eachPhase('copy', '?', 1, (a, b) => r.copy(a, b, true));
    await this.eachPhase('sweep', '?', 2, (a, b) => r.copy(a, b, false));
    if (this.opts.trim !== false) await this.eachPhase('trim', '*', 1, (a, b) => r.trim(a, b));
    if (this.opts.scrape !== false) await this.eachPhase('scrape', '/', 1, (a, b) => r.scrape(a, b));
    const retries = this.opts.retries ?? (this.resumed && this.opts.retryOnResume === true ? 1 : 0);
    for (this.retry = 1; this.retry <= retries; this.retry++) {
      // Nothing bad left: a pass would read nothing (10,000,000 of them ran for ever, deaf to Ctrl-C).
      if (r.map.next('-', 0, r.map.sizeBytes) === null) break;
      await this.eachPhase('retry', '-', this.retry, (a, b) => r.retry(a, b));
      await new Promise((resolve) => setImmediate(resolve)); // a stop asked for, and the map's save, come in
    }
  }

  private async eachPhase(pass: Pass, status: PhaseStatus, passNumber: number, fn: (start: number, end: number) => Promise<void>): Promise<void> {
    this.pass = pass;
    this.rescuer.phase = status;
    this.rescuer.pass = passNumber;
    // The phases overlap (the metadata and the configuration lie inside the used blocks, those inside the
    // partition). A copying pass changes what it reads, so it never reads a part twice; a retry pass leaves
    // a sector that fails again bad, so it is given each bad part once, in the first phase holding it.
    const seen = pass === 'retry' ? new RegionMap(this.rescuer.map.sizeBytes, '?') : null;
    for (const phase of this.phases) {
      this.phase = phase.name;
      const ranges = seen === null ? phase.ranges : badPartsNotSeen(this.rescuer.map, phase.ranges, seen);
      try {
        for (const [start, end] of ranges) await fn(start, end);
      } catch (err) {
        if (phase.name !== 'free' || !(err instanceof AppError) || err.code !== 'OUTPUT_FULL') throw err;
        this.leaveOutFree(err.message);
        return;
      }
    }
  }

  /**
   * The image's disk filled up with the data partition's free blocks, the last phase: everything a rescue
   * (or a new card) needs is in the image by then, so the copy ends as with usedOnly, saying why.
   */
  private leaveOutFree(why: string): void {
    this.phases = this.phases.filter((p) => p.name !== 'free');
    this.freeLeftOut = why;
  }

  /** Saves the map: its text first, then the image made durable, then the map written atomically. */
  save(finished: boolean): Promise<void> {
    const r = this.rescuer;
    const snapshot: Mapfile = { currentPos: r.currentPos, currentStatus: finished ? '+' : r.phase, currentPass: r.pass, map: r.map };
    const text = mapText(snapshot, this.opts, new Date(this.startedAt), finished);
    this.saving = this.saving.catch(() => undefined).then(async () => {
      await this.image.sync();
      await writeMapfileAtomic(this.mapPath, text).catch((err: unknown) => {
        throw mapNotSaved(err, this.mapPath);
      });
    });
    return this.saving;
  }
}

/** The map's own write failed: said about the map, as an output of this computer (a full disk, a lost stick). */
/** The map's text, with the header ddrescue writes. */
function mapText(snapshot: Mapfile, opts: ImageOptions, startTime: Date, finished: boolean): string {
  return formatMapfile(snapshot, { commandLine: opts.commandLine, startTime, currentTime: new Date(), finished, version: opts.version });
}

function mapNotSaved(err: unknown, mapPath: string): AppError {
  const raw = err instanceof AppError && err.cause !== undefined ? err.cause : err;
  const e = outputError(raw, mapPath);
  const hint = e.code === 'OUTPUT_FULL' ? 'free space there, or write the image to another disk; a run continues from the last map saved' : (e.hint ?? 'write the image to another folder');
  return new AppError(e.code, e.exitCode, `the bad-sector map could not be saved: ${e.message}`, { hint, details: e.details, cause: raw });
}

/** The run failed, and saving the map after it failed too: the first failure is the news, the map a note. */
function withMapNotSaved(failure: unknown, lastSave: AppError): unknown {
  if (!(failure instanceof AppError)) return failure;
  const hint = `${failure.hint ?? ''}${failure.hint ? '; ' : ''}the map could not be saved at the end (${lastSave.message}): a run continues from the last map saved`;
  return new AppError(failure.code, failure.exitCode, failure.message, { hint, details: failure.details, cause: failure.cause ?? failure });
}

/**
 * A card that vanished mid-copy (a pulled reader) or a full output disk ends the run; what was copied is kept
 * and continues. A disk that fills up only after every used block of the data partition was copied left the
 * image complete for a rescue: that is said.
 */
function withResumeHint(err: unknown, phase: PhaseName | null, continueWords: string): unknown {
  if (!(err instanceof AppError)) return err;
  const late = err.code === 'OUTPUT_FULL' && phase === 'other';
  const message = late ? `${err.message}, after the data partition's files were copied: the image can be read as it is` : err.message;
  const hint = `${err.hint ? `${err.hint}; ` : ''}what was copied so far is kept: ${continueWords} to continue`;
  return new AppError(err.code, err.exitCode, `the copy stopped: ${message}`, { hint, details: err.details, cause: err });
}

/** The bad parts of `ranges` in `map` that `seen` does not mark yet, marked now. */
function badPartsNotSeen(map: RegionMap, ranges: Array<[number, number]>, seen: RegionMap): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const [start, end] of ranges) {
    for (let r = map.next('-', start, end); r !== null; r = map.next('-', r.pos + r.size, end)) {
      for (const part of seen.regions(r.pos, r.pos + r.size)) if (part.status === '?') out.push([part.pos, part.pos + part.size]);
      seen.set(r.pos, r.size, '+');
    }
  }
  return out;
}

/**
 * Whether the source path still names what it named at the start (a pulled reader's /dev/sdX goes away): a
 * file of the same size. Not the disk's size: a virtual machine's disk file is not as long as its disk, and
 * one cut short read as a reader pulled at every run.
 */
async function attachedCheck(path: string): Promise<() => Promise<boolean>> {
  const atStart = await stat(path).catch(() => null);
  return async () => {
    try {
      const s = await stat(path);
      return !s.isFile() || s.size === atStart?.size;
    } catch {
      return false;
    }
  };
}

/**
 * Two copies into one image at once (the same command in two windows) mixed their maps: the second stopped
 * with "the map could not be saved: its folder takes no new files". The one writing it is named instead.
 */
async function assertImageNotHeld(out: string): Promise<void> {
  const held = await firstHeld([out]).catch(() => null);
  if (held === null) return;
  const ours = held.users.every((u) => u.name === 'haos-rescue');
  throw new RefusedError('IMAGE_BUSY', `${out} is open in ${held.who}${ours ? ': another copy into it is under way' : ''}`, {
    hint: ours
      ? 'let that copy finish (or stop it with Ctrl-C), then run this command again: it continues from the map; nothing was written'
      : 'close that program, or give the image another name; nothing was written',
  });
}

/** A disk file (or one of its parts) another program holds open (a running virtual machine writes to it meanwhile): said, not refused. */
async function heldElsewhere(path: string, source: BlockDevice): Promise<string | null> {
  if (!(await stat(path).catch(() => null))?.isFile()) return null;
  const held = await firstHeld([path, ...(containerOf(source)?.parts ?? [])]).catch(() => null);
  if (held === null) return null;
  const what = held.file === path ? path : `${held.file} (part of the disk ${path})`;
  if (held.users.every((u) => u.name === 'haos-rescue')) return `${what} is open in another haos-rescue (pid ${held.users.map((u) => u.pid).join(', ')}), which may be changing it`;
  return `${what} is open in ${held.who}: a running virtual machine, or another program`;
}

/** The largest read request the OS sends this disk (Linux sysfs), else FUSE's and many USB readers' 128 KiB. */
async function maxRequestBytes(path: string): Promise<number> {
  const fallback = 128 * 1024;
  if (process.platform !== 'linux') return fallback;
  const s = await stat(path, { bigint: true }).catch(() => null);
  if (s === null || !s.isBlockDevice()) return fallback;
  return (await readMaxRequestBytes(s.rdev)) ?? fallback;
}

// What `image` shows while it runs (progress) and when it ends (the summary, also as --json): counted from
// the map, over the domain being copied (the whole card, or its used blocks with usedOnly).

import { containerOf } from '../../device/vdisk/index.js';
import type { BlockStatus, RegionMap } from '../../device/rescue/region-map.js';
import { formatBytes, partOf } from '../../units.js';
import { formatDuration } from '../progress.js';
import type { ImageJob, Pass } from './index.js';
import type { PhaseName } from './order.js';

export interface ImageProgress {
  pass: Pass;
  phase: PhaseName | null;
  retry: number;
  sizeBytes: number;
  /** Bytes to copy: the whole card, or its used part with usedOnly (known once the order is). */
  domainBytes: number;
  rescuedBytes: number;
  /** Tried and not (yet) read: non-trimmed, non-scraped and bad sectors. */
  errorBytes: number;
  badAreas: number;
  readErrors: number;
  elapsedMs: number;
  /** Over the last ten seconds. */
  bytesPerSecond: number;
  secondsLeft: number | null;
  /** How long the read under way has waited, when over two seconds (a stalled card). */
  stalledMs: number | null;
}

export interface ImageResult {
  source: string;
  out: string;
  map: string;
  sizeBytes: number;
  resumed: boolean;
  /** Stopped by Ctrl-C: the same command continues. */
  stopped: boolean;
  /** Every byte of the domain was tried to the end (read, or marked bad after trimming and scraping). */
  finished: boolean;
  order: 'filesystem' | 'linear';
  linearBecause: string | null;
  usedOnly: boolean;
  /** Why the free blocks were left out of a copy meant to hold them (its disk filled up), or null. */
  freeLeftOut: string | null;
  /** The image file continued was shorter than its map said (its length then): what lay past it was copied again. */
  imageCutAt: number | null;
  /** Another program held the disk file open (a running virtual machine): the copy may be out of date or torn. */
  inUse: string | null;
  /** The rescue map the source (an image made from a card) was read with: what it never rescued stays unreadable. */
  sourceMap: string | null;
  /** The source is a virtual machine's disk file (its format), not a card: the words name it so. */
  diskFile: string | null;
  domainBytes: number;
  rescuedBytes: number;
  nonTriedBytes: number;
  nonTrimmedBytes: number;
  nonScrapedBytes: number;
  badSectorBytes: number;
  badAreas: number;
  reads: number;
  failedReads: number;
  elapsedMs: number;
  phases: Array<{ name: PhaseName; bytes: number; rescuedBytes: number }>;
}

const samples = new WeakMap<ImageJob, Array<[number, number]>>();

export function progressOf(job: ImageJob, now = Date.now()): ImageProgress {
  const { map, stats } = job.rescuer;
  const domain = domainTotals(job);
  const window = samples.get(job) ?? [];
  window.push([now, stats.rescuedBytes]);
  while (window.length > 2 && now - window[0]![0] > 10_000) window.shift();
  samples.set(job, window);
  const [t0, b0] = window[0]!;
  const rate = now > t0 ? ((stats.rescuedBytes - b0) * 1000) / (now - t0) : 0;
  const left = domain.bytes - domain['+'] - domain['-'];
  const stalled = stats.readStartedAt !== null ? now - stats.readStartedAt : 0;
  return {
    pass: job.pass,
    phase: job.phase,
    retry: job.retry,
    sizeBytes: map.sizeBytes,
    domainBytes: domain.bytes,
    rescuedBytes: domain['+'],
    errorBytes: domain['*'] + domain['/'] + domain['-'],
    badAreas: map.areas('*') + map.areas('/') + map.areas('-'),
    readErrors: stats.failedReads,
    elapsedMs: now - job.startedAt,
    bytesPerSecond: rate,
    secondsLeft: rate > 0 && job.pass !== 'metadata' ? left / rate : null,
    stalledMs: stalled > 2000 ? stalled : null,
  };
}

export function resultOf(job: ImageJob): ImageResult {
  const { map, stats } = job.rescuer;
  const d = domainTotals(job);
  return {
    source: job.path,
    out: job.image.path,
    map: job.mapPath,
    sizeBytes: map.sizeBytes,
    resumed: job.resumed,
    stopped: job.stopped,
    finished: !job.stopped && d['?'] + d['*'] + d['/'] === 0,
    order: job.linearBecause === null ? 'filesystem' : 'linear',
    linearBecause: job.linearBecause,
    usedOnly: !job.phases.some((p) => p.name === 'free' || p.name === 'disk'),
    freeLeftOut: job.freeLeftOut,
    imageCutAt: job.imageCutAt,
    inUse: job.inUse,
    sourceMap: job.sourceMap,
    diskFile: containerOf(job.source)?.format ?? null,
    domainBytes: d.bytes,
    rescuedBytes: d['+'],
    nonTriedBytes: d['?'],
    nonTrimmedBytes: d['*'],
    nonScrapedBytes: d['/'],
    badSectorBytes: d['-'],
    badAreas: map.areas('*') + map.areas('/') + map.areas('-'),
    reads: stats.reads,
    failedReads: stats.failedReads,
    elapsedMs: Date.now() - job.startedAt,
    phases: job.phases.map((p) => {
      const t = totalsIn(map, p.ranges);
      return { name: p.name, bytes: t.bytes, rescuedBytes: t['+'] };
    }),
  };
}

type Totals = Record<BlockStatus, number> & { bytes: number };

/** Status totals over the domain: the whole card until the order is known, or when free blocks are in it. */
function domainTotals(job: ImageJob): Totals {
  const { map } = job.rescuer;
  if (job.phases.length === 0 || job.phases.some((p) => p.name === 'free' || p.name === 'disk')) {
    return { ...map.totals(), bytes: map.sizeBytes };
  }
  return totalsIn(map, job.ranges());
}

/** Totals over the union of `ranges` (they may overlap: metadata lies inside the used blocks). */
export function totalsIn(map: RegionMap, ranges: Array<[number, number]>): Totals {
  const out: Totals = { '?': 0, '*': 0, '/': 0, '-': 0, '+': 0, bytes: 0 };
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  let covered = 0;
  for (const [a, b] of sorted) {
    const start = Math.max(a, covered);
    if (b <= start) continue;
    for (const r of map.regions(start, b)) out[r.status] += r.size;
    out.bytes += b - start;
    covered = b;
  }
  return out;
}

const PASS_NAMES: Record<ImageProgress['pass'], string> = {
  metadata: 'reading the filesystem',
  copy: 'copying',
  sweep: 'copying what was skipped',
  trim: 'trimming bad areas',
  scrape: 'scraping bad areas',
  retry: 'retrying bad sectors',
};

const PHASE_NAMES: Record<NonNullable<ImageProgress['phase']>, string> = {
  metadata: 'filesystem structure',
  config: 'configuration',
  backups: 'backups',
  used: 'other used blocks',
  other: 'other partitions',
  free: 'free space',
  disk: 'whole disk',
};

/** Said after a copy whose disk filled up with the card's free space (freeLeftOut), else null. */
export function freeLeftOutText(r: ImageResult): string | null {
  if (r.freeLeftOut === null) return null;
  return `The free space of the card's data partition was left out: ${r.freeLeftOut}. It holds no files; the copy has everything a rescue, or a new card, needs.`;
}

/** The copy was made of a disk file another program held open: said, with the way to a whole one (`again`). */
export function inUseText(r: ImageResult, again: string): string | null {
  return r.inUse === null ? null : `${r.inUse}: what was copied may be out of date or torn; shut the virtual machine down and ${again}`;
}

/** One line for people: the pass, the part being copied, bytes rescued, bad areas, speed, time left, a stall. */
export function progressLine(p: ImageProgress): string {
  const what = `${PASS_NAMES[p.pass]}${p.pass === 'retry' ? ` (pass ${p.retry})` : ''}${p.phase && p.phase !== 'disk' ? `, ${PHASE_NAMES[p.phase]}` : ''}`;
  const parts = [
    `${partOf(p.rescuedBytes, p.domainBytes)} rescued`,
    `${p.badAreas} bad area(s)${p.errorBytes > 0 ? ` (${formatBytes(p.errorBytes)})` : ''}`,
    `${formatBytes(Math.round(p.bytesPerSecond))}/s`,
  ];
  if (p.secondsLeft !== null) parts.push(`${formatDuration(p.secondsLeft)} left`);
  if (p.stalledMs !== null) parts.push(`the card has not answered for ${Math.round(p.stalledMs / 1000)} s`);
  return `${what}: ${parts.join(', ')}`;
}

// Tar mode of `export`: a tar (optionally gzip) archive written to FILE.partial-<pid> next to FILE and
// renamed when complete; removed on error. Names are UTF-8 (tar-stream adds PAX headers for long and
// non-ASCII names); a name that is not UTF-8 is shown with \xNN escapes and reported.

import { createWriteStream } from 'node:fs';
import { lstat, open, rename, unlink } from 'node:fs/promises';
import { dirname, basename, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { type Pack, pack as tarPack } from 'tar-stream';
import { AppError, UsageError } from '../../errors.js';
import { unfinishedFile } from '../critical.js';
import type { BatchRead } from '../../ext4/file-batch.js';
import type { Inode } from '../../ext4/inode.js';
import { type ExportContext, LARGE_FILE, NO_FILE_TYPE } from './types.js';
import { type BatchEntry, SmallFiles, batchable } from './batch.js';
import { archiveComponent } from './names.js';
import { addBuffered, addLargeFile, header } from './tar-entry.js';
import { makeOutputFolder } from '../output-error.js';

/** A file read whole (under LARGE_FILE); Stop is heard between its pieces (it waited for a whole database). */
async function readWhole(ctx: ExportContext, inode: Inode): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of ctx.vol.stream(inode)) {
    parts.push(chunk);
    ctx.progress();
  }
  const all = Buffer.concat(parts);
  if (all.length >= inode.sizeBytes) return all.subarray(0, inode.sizeBytes);
  return Buffer.concat([all, Buffer.alloc(inode.sizeBytes - all.length)]);
}

export async function exportToTar(ctx: ExportContext, gzip: boolean): Promise<void> {
  const { options, result } = ctx;
  const out = resolve(options.out);
  const exists = await lstat(out).then(() => true, (err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return false;
    throw err;
  });
  if (exists && !options.force) {
    throw new UsageError('OUT_EXISTS', `${out} already exists`, { hint: 'name a new file, or replace this one', remedy: 'force' });
  }
  await makeOutputFolder(dirname(out)); // as a folder export makes its folder
  const partial = join(dirname(out), `${basename(out)}.partial-${process.pid}`);
  const pack = tarPack();
  const file = createWriteStream(partial, { flags: 'wx' });
  const forget = unfinishedFile(partial);
  const gz = gzip ? createGzip({ chunkSize: 1 << 20 }) : null;
  const done = gz ? pipeline(pack, gz, file) : pipeline(pack, file);
  // A failing output (disk full) rejects `done`; entries waiting for the archive to drain would then wait
  // forever, so the walk races it. Late 'error' events after the pipeline gave up must not crash the process.
  const outputFailed = done.then(() => new Promise<never>(() => undefined));
  outputFailed.catch(() => undefined);
  for (const stream of [pack, gz, file] as Array<NodeJS.EventEmitter | null>) stream?.on('error', () => undefined);
  try {
    await Promise.race([writeEntries(ctx, pack, { sparse: true }), outputFailed]);
    pack.finalize();
    await done;
    await flushToDisk(partial);
    await rename(partial, out);
  } catch (err) {
    pack.destroy();
    await done.catch(() => undefined);
    await unlink(partial).catch(() => undefined);
    throw err;
  } finally {
    forget();
  }
  result.out = out;
}

/**
 * The archive's bytes on the disk before it takes its name, as `backup create` and `backup extract` do: a
 * new file renamed into place without it can be empty after a power cut or a stick pulled too soon.
 */
async function flushToDisk(path: string): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

/**
 * Every entry of the export into `pack`. `sparse`: files with big holes as GNU sparse entries (tar-entry.ts);
 * a backup made for Home Assistant leaves it off, as Home Assistant's own backups hold plain entries.
 */
export async function writeEntries(ctx: ExportContext, pack: Pack, opts: { sparse: boolean } = { sparse: false }): Promise<void> {
  const { result } = ctx;
  const root = ctx.rootName;
  await addBuffered(pack, header(root, ctx.root, { type: 'directory' }));
  const names = new Map<string, string>([['', root]]);
  const firstName = new Map<number, string>();
  const damaged = new Set<number>();
  // Small files come back from the batch in disk order; the bytes are copied because the pack keeps them.
  const small = new SmallFiles<BatchEntry & { name: string }>(ctx, (e, bytes) => addSmallFile(ctx, pack, e.path, e.name, e.inode, bytes), { oneFolder: true });
  for await (const entry of ctx.entries()) {
    const { path, inode } = entry;
    const slash = path.lastIndexOf(0x2f);
    const parentKey = slash < 0 ? '' : path.subarray(0, slash).toString('latin1');
    const parent = names.get(parentKey);
    if (parent === undefined) {
      ctx.skip(path, 'its folder was not exported');
      continue;
    }
    const comp = archiveComponent(path.subarray(slash + 1));
    const name = `${parent}/${comp.name}`;
    if (comp.renamed) result.renamed.push({ path: ctx.show(path), as: name, reason: comp.renamed });
    if (batchable(inode)) {
      await small.add({ path, name, inode });
      continue;
    }
    await small.flush();
    switch (inode.kind) {
      case 'dir':
        names.set(path.toString('latin1'), name);
        await addBuffered(pack, header(name, inode, { type: 'directory' }));
        result.dirs++;
        break;
      case 'symlink': {
        const target = await ctx.readLink(path, inode);
        if (target === null) break;
        const linkname = archiveComponent(target).name === target.toString('utf8') ? target.toString('utf8') : target.toString('latin1');
        await addBuffered(pack, header(name, inode, { type: 'symlink', linkname }));
        result.symlinks++;
        break;
      }
      case 'file':
        await addFile(ctx, pack, path, name, inode, { firstName, damaged }, opts.sparse);
        break;
      case 'unknown':
        ctx.skip(path, NO_FILE_TYPE);
        break;
      default:
        result.special.push(ctx.show(path));
        break;
    }
  }
  await small.finish();
}

async function addSmallFile(ctx: ExportContext, pack: Pack, path: Buffer, name: string, inode: Inode, bytes: BatchRead): Promise<void> {
  if (bytes instanceof AppError) {
    ctx.skip(path, bytes);
    return;
  }
  await addBuffered(pack, header(name, inode, { type: 'file', size: bytes.length }), Buffer.from(bytes));
  ctx.result.bytes += bytes.length;
  ctx.result.files++;
  ctx.progress();
}

/** Hard-linked files already in the archive (by inode), and those whose bytes could not all be read. */
interface Links {
  firstName: Map<number, string>;
  damaged: Set<number>;
}

async function addFile(ctx: ExportContext, pack: Pack, path: Buffer, name: string, inode: Inode, links: Links, sparse: boolean): Promise<void> {
  const { result } = ctx;
  const first = inode.linksCount > 1 ? links.firstName.get(inode.ino) : undefined;
  if (first !== undefined) {
    await addBuffered(pack, header(name, inode, { type: 'link', linkname: first }));
    result.hardlinks++;
    if (links.damaged.has(inode.ino)) ctx.skip(path, `a hard link to ${first}, which could not be read whole`);
    return;
  }
  if (inode.sizeBytes <= LARGE_FILE) {
    let body: Buffer;
    try {
      body = await readWhole(ctx, inode);
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      ctx.skip(path, err);
      return;
    }
    await addBuffered(pack, header(name, inode, { type: 'file', size: body.length }), body);
    result.bytes += body.length;
  } else {
    const added = await addLargeFile(ctx, pack, path, name, inode, sparse);
    if (added === 'skipped') return;
    if (added === 'damaged') links.damaged.add(inode.ino);
  }
  result.files++;
  ctx.progress();
  if (inode.linksCount > 1) links.firstName.set(inode.ino, name);
}

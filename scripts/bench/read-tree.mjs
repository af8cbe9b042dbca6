// Benchmark child: walks a whole image through the haos-rescue library and reads every regular file,
// either discarding the bytes or, given OUTDIR, recreating the tree there (mkdir + writeFile per entry,
// like an export). Prints one JSON line {files, dirs, bytes, ms, maxRssKb}.
//   node scripts/bench/read-tree.mjs IMAGE [OUTDIR [--sync]]
// Files are written with fs/promises writeFile (open, write, close: three thread-pool round trips per
// file), or with writeFileSync under --sync, to show what the choice costs a 10,000-file export.

import { mkdirSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';

const dist = (p) => new URL(`../../dist/${p}`, import.meta.url).href;
const { openFileDevice } = await import(dist('device/file-device.js'));
const { Ext4Volume } = await import(dist('ext4/volume.js'));
const { walk } = await import(dist('ext4/walk.js'));

const SLASH = Buffer.from('/');

async function readTree(image, outDir, sync) {
  const t0 = process.hrtime.bigint();
  const device = await openFileDevice(image);
  const counts = { files: 0, dirs: 0, bytes: 0 };
  const outPrefix = outDir ? Buffer.concat([Buffer.from(outDir), SLASH]) : null;
  try {
    const vol = await Ext4Volume.open(device);
    for await (const { path, inode } of walk(vol, await vol.readInode(2))) {
      const target = outPrefix ? Buffer.concat([outPrefix, path]) : null;
      if (inode.kind === 'dir') {
        counts.dirs++;
        if (target) mkdirSync(target);
      } else if (inode.kind === 'file') {
        const data = await vol.readFile(inode);
        if (target && sync) writeFileSync(target, data);
        else if (target) await writeFile(target, data);
        counts.files++;
        counts.bytes += data.length;
      }
    }
  } finally {
    await device.close();
  }
  return { ...counts, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
}

const [image, outDir, flag] = process.argv.slice(2);
const r = await readTree(image, outDir, flag === '--sync');
console.log(JSON.stringify({ ...r, maxRssKb: process.resourceUsage().maxRSS }));

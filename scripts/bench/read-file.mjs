// Benchmark child (also imported in-process by bench.mjs): opens an image through the haos-rescue
// library, looks a file up and streams all of it, either into a sink that discards it or into an output
// file (what an extract does). As a script it prints one JSON line {bytes, ms, maxRssKb}.
//   node scripts/bench/read-file.mjs IMAGE /PATH/IN/FS [OUTFILE]

import { open } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';

const dist = (p) => new URL(`../../dist/${p}`, import.meta.url).href;

/** Reads `fsPath` from `image`; writes it to `outFile` when given. Returns {bytes, ms}. */
export async function readWholeFile(image, fsPath, outFile) {
  const { openFileDevice } = await import(dist('device/file-device.js'));
  const { Ext4Volume } = await import(dist('ext4/volume.js'));
  const t0 = process.hrtime.bigint();
  const device = await openFileDevice(image);
  let bytes = 0;
  try {
    const vol = await Ext4Volume.open(device);
    const inode = await vol.lookup(fsPath, { followFinal: true });
    const out = outFile ? await open(outFile, 'w') : null;
    try {
      for await (const piece of vol.stream(inode)) {
        if (out) await out.write(piece);
        bytes += piece.length;
      }
    } finally {
      await out?.close();
    }
  } finally {
    await device.close();
  }
  return { bytes, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [image, fsPath, outFile] = process.argv.slice(2);
  const r = await readWholeFile(image, fsPath, outFile);
  console.log(JSON.stringify({ ...r, maxRssKb: process.resourceUsage().maxRSS }));
}

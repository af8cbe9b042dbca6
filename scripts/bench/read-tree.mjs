// Benchmark child: walks a whole image through the haos-rescue library and reads every regular file,
// discarding the bytes. Prints one JSON line {files, dirs, bytes, ms, maxRssKb}. (Exports are measured
// with the `export` command itself: cases.mjs.)
//   node scripts/bench/read-tree.mjs IMAGE

const dist = (p) => new URL(`../../dist/${p}`, import.meta.url).href;
const { openFileDevice } = await import(dist('device/file-device.js'));
const { Ext4Volume } = await import(dist('ext4/volume.js'));
const { walk } = await import(dist('ext4/walk.js'));

async function readTree(image) {
  const t0 = process.hrtime.bigint();
  const device = await openFileDevice(image);
  const counts = { files: 0, dirs: 0, bytes: 0 };
  try {
    const vol = await Ext4Volume.open(device);
    for await (const { inode } of walk(vol, await vol.readInode(2))) {
      if (inode.kind === 'dir') counts.dirs++;
      else if (inode.kind === 'file') {
        const data = await vol.readFile(inode);
        counts.files++;
        counts.bytes += data.length;
      }
    }
  } finally {
    await device.close();
  }
  return { ...counts, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
}

const r = await readTree(process.argv[2]);
console.log(JSON.stringify({ ...r, maxRssKb: process.resourceUsage().maxRSS }));

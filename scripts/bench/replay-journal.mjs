// Benchmark child: opens an image through the haos-rescue library and replays its journal into a
// copy-on-write overlay (what every read command does on a dirty card). Prints one JSON line
// {bytes, ms, transactions, blocks, maxRssKb}.   node scripts/bench/replay-journal.mjs IMAGE

const dist = (p) => new URL(`../../dist/${p}`, import.meta.url).href;
const { openFileDevice } = await import(dist('device/file-device.js'));
const { CowDevice } = await import(dist('device/cow-device.js'));
const { Ext4Volume } = await import(dist('ext4/volume.js'));
const { replayJournal } = await import(dist('ext4/journal/replay.js'));

const t0 = process.hrtime.bigint();
const device = await openFileDevice(process.argv[2]);
try {
  const vol = await Ext4Volume.open(device);
  const state = await replayJournal(vol, new CowDevice(device));
  if (!state.replayed || state.report.error) throw new Error(`replay failed: ${state.notReplayed ?? state.report?.error}`);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const { transactions, blocksReplayed } = state.report;
  console.log(JSON.stringify({ bytes: blocksReplayed * vol.sb.blockSize, ms, transactions, blocks: blocksReplayed, maxRssKb: process.resourceUsage().maxRSS }));
} finally {
  await device.close();
}

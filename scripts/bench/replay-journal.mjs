// Benchmark child: opens an image through the haos-rescue library and replays its journal by reference
// (what every read command does on a dirty card: source.ts withJournal), then opens the replayed view.
// Prints one JSON line {bytes, ms, transactions, blocks, mappedBlocks, maxRssKb}.
//   node scripts/bench/replay-journal.mjs IMAGE

const dist = (p) => new URL(`../../dist/${p}`, import.meta.url).href;
const { openFileDevice } = await import(dist('device/file-device.js'));
const { Ext4Volume } = await import(dist('ext4/volume.js'));
const { mapJournal } = await import(dist('ext4/journal/replay.js'));
const { JournalOverlayDevice } = await import(dist('ext4/journal/overlay-device.js'));

const t0 = process.hrtime.bigint();
const device = await openFileDevice(process.argv[2]);
try {
  const vol = await Ext4Volume.open(device);
  const { state, map } = await mapJournal(vol);
  if (!state.replayed || state.report.error || !map) throw new Error(`replay failed: ${state.notReplayed ?? state.report?.error}`);
  await Ext4Volume.open(new JournalOverlayDevice(device, map));
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const { transactions, blocksReplayed } = state.report;
  console.log(JSON.stringify({ bytes: blocksReplayed * vol.sb.blockSize, ms, transactions, blocks: blocksReplayed, mappedBlocks: map.size, maxRssKb: process.resourceUsage().maxRSS }));
} finally {
  await device.close();
}

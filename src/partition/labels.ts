// The ext4 labels a Home Assistant data filesystem carries (haos-format.md §2): the one in use, and the
// ones the OS gives a data filesystem it stopped using. discover.ts ranks candidates by them; scan.ts
// searches a disk for them.

/** The label of the data filesystem in use. */
export const DATA_LABEL = 'hassos-data';

/** Labels of data filesystems the OS set aside, best first, with why it did. */
export const SET_ASIDE_LABELS: ReadonlyArray<{ label: string; why: string }> = [
  { label: 'hassos-data-dis', why: 'disabled at first boot because another disk carried hassos-data' },
  { label: 'hassos-data-old', why: 'stale copy left behind when the data moved to another disk' },
  { label: 'hassos-data-fail', why: 'target of a failed data-disk move, contents unreliable' },
];

/** Every data label, best first. */
export const DATA_LABELS: readonly string[] = [DATA_LABEL, ...SET_ASIDE_LABELS.map((l) => l.label)];

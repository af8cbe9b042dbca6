// Linux /proc/self/mountinfo: which device numbers are mounted where. Used by the disk listing's sysfs
// fallback and by the in-use check before a write (src/actions/host-mounts.ts); the file system types by
// the output checks (src/actions/output-fs.ts).

/** Mounted device numbers and their file system types ("vfat", "fuse.fusefat", ...), from mountinfo text. */
export function mountTypes(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ');
    const dev = left?.split(' ')[2];
    const type = right?.split(' ')[0];
    if (dev && /^\d+:\d+$/.test(dev) && type && !out.has(dev)) out.set(dev, type);
  }
  return out;
}

/** Mounted device numbers and where they are mounted, from mountinfo text. */
export function parseMountinfo(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length > 4 && /^\d+:\d+$/.test(f[2]!)) out.set(f[2]!, f[4]!.replace(/\\040/g, ' '));
  }
  return out;
}

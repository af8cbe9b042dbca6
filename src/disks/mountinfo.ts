// Linux /proc/self/mountinfo: which device numbers are mounted where. Used by the disk listing's sysfs
// fallback and by the in-use check before a write (src/actions/host-mounts.ts).

/** Mounted device numbers and where they are mounted, from mountinfo text. */
export function parseMountinfo(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length > 4 && /^\d+:\d+$/.test(f[2]!)) out.set(f[2]!, f[4]!.replace(/\\040/g, ' '));
  }
  return out;
}

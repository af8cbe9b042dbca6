// Sizes for people, shared by every layer that writes a message: "512 bytes", "20 MiB", "1.5 GiB".

const UNITS = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function formatBytes(bytes: number): string {
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  if (u === 0) return `${bytes} bytes`;
  return `${Number.isInteger(v) ? v : v.toFixed(v >= 100 ? 0 : 1)} ${UNITS[u]}`;
}

/**
 * "PART of WHOLE"; "all but MISSING of WHOLE" when the rounding would show a part short of the whole as
 * the whole ("32.0 MiB of 32 MiB" rescued, with a sector missing).
 */
export function partOf(part: number, whole: number): string {
  const shown = (n: number): string => formatBytes(n).replace(/\.0 /, ' ');
  if (part < whole && shown(part) === shown(whole)) return `all but ${formatBytes(whole - part)} of ${formatBytes(whole)}`;
  return `${formatBytes(part)} of ${formatBytes(whole)}`;
}

/** Today as YYYY-MM-DD in this computer's time: the date in the default names of what is saved. */
export function localDay(now: Date = new Date()): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${now.getFullYear()}-${two(now.getMonth() + 1)}-${two(now.getDate())}`;
}

// What the page knows between screens (the server's state, the opened card) and the screen switches,
// filled in by app.ts so the screen modules do not import each other in a circle.
import type { CardSummary, StateAnswer } from '../api.js';
import type { Screen } from './ui.js';

export const app: {
  state: StateAnswer | null;
  card: CardSummary | null;
  stopped: boolean;
  /** The card went away while open (CARD_GONE): said on the disk list until another is opened. */
  gone: { message: string; hint: string | null; path?: string } | null;
  /** This tab is opening a disk: the "opened" news of it is its own, not another tab's. */
  opening: boolean;
} = {
  state: null,
  card: null,
  stopped: false,
  gone: null,
  opening: false,
};

const unset = (): void => undefined;
export const nav: {
  disks: () => void;
  card: () => void;
  stopped: (reason: string | null) => void;
  image: () => void;
  /** Offers the mark for the box's full check at its next start (confirm.ts), from `trigger` on `screen`'s section. */
  repairAtStart: (screen: Screen, trigger: HTMLButtonElement) => void;
} = {
  disks: unset,
  card: unset,
  stopped: unset,
  image: unset,
  repairAtStart: unset,
};

export function isWindows(): boolean {
  return app.state?.platform === 'win32';
}

export function sep(): string {
  return isWindows() ? '\\' : '/';
}

/** folder + name with the platform's separator (no doubled separator). */
export function joinPath(folder: string, name: string): string {
  if (folder === '') return name;
  const s = sep();
  return folder.endsWith('/') || folder.endsWith('\\') ? folder + name : folder + s + name;
}

/** The last part of a path (a file's name). */
export function baseName(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] ?? path;
}

/** Where outputs go unless the user says otherwise. */
export function downloads(): string {
  return app.state?.downloads ?? '';
}

/** Today as YYYY-MM-DD (local time), for default file names. */
export function today(): string {
  const d = new Date();
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}`;
}

/** An ISO time as "2024-11-21 17:58" in this computer's time (as the command line shows it); the text itself when unreadable. */
export function localTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}`;
}

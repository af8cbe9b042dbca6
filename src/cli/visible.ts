// Text from the card (file, folder, backup and user names, messages that quote them) shown on a terminal:
// a control character in it could move the cursor, recolour or retitle the terminal, or hide a line (ESC
// and CSI sequences). Shown instead as \xNN (C0 and DEL: the byte, as a name's invalid bytes are shown) or
// \u00NN (C1); newlines and tabs stay. JSON output escapes them already. The marks that turn the direction of
// the text (U+202E and its kin) are shown as \uNNNN too: in a name, they reordered the rest of its row.

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export function visible(text: string): string {
  return text.replace(CONTROL, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x80 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** Text that must stay on one line (a table cell, an error or warning line): newlines and tabs written as \n, \t too. */
export function oneLine(text: string): string {
  return visible(text.replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t'));
}

/** A name shown in a table column, cut to `max` characters (the full name is in the JSON output). */
export function clipped(text: string, max: number): string {
  const chars = [...oneLine(text)];
  return chars.length <= max ? chars.join('') : `${chars.slice(0, max - 1).join('')}…`;
}

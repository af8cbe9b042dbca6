// Paths typed or dragged into the guided flow's questions: quotes (drag and drop), backslash-escaped spaces,
// ~ for the home folder. They were taken as they were: "'/x/my card.img' does not exist", and an export into
// "~/myexport" made a folder named ~ in the current one.

import { describe, expect, it } from 'vitest';
import { typedPath } from '../../src/actions/typed-path.js';

describe('typedPath', () => {
  it.each([
    ["'/tmp/dir with space/my card.img'", '/tmp/dir with space/my card.img'],
    ['"/tmp/dir with space/my card.img"  ', '/tmp/dir with space/my card.img'],
    ['/tmp/dir\\ with\\ space/my\\ card\\ \\(1\\).img', '/tmp/dir with space/my card (1).img'],
    ['~/myexport', '/home/owner/myexport'],
    ['~', '/home/owner'],
    ['/tmp/plain.img', '/tmp/plain.img'],
    // GNOME's terminal pastes a dragged name with a quote in it so; some file managers drag a file:// address.
    ["'/tmp/my cards/It'\\''s card (1).img'", "/tmp/my cards/It's card (1).img"],
    ["file:///tmp/my%20cards/It's%20card%20(1).img", "/tmp/my cards/It's card (1).img"],
  ])('%s on Linux or macOS is %s', (typed, meant) => {
    expect(typedPath(typed, 'linux', '/home/owner')).toBe(meant);
  });

  it('a name that only starts with ~ (~backup) is a name, not the home folder', () => {
    expect(typedPath('/tmp/~backup', 'linux', '/home/owner')).toBe('/tmp/~backup');
  });
});

// The source a wizard or window session keeps open: after a change it is opened again; when that fails (the
// card taken out, the image file moved), every later use says why instead of reading a closed device (which
// came out as an internal error, "used after it was closed").

import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSampleImage } from '../../fixtures/index.js';
import { SourceSession, openSource } from '../../src/actions/source.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('source-session-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('SourceSession', () => {
  it('a card gone at a refresh: the refresh and every later use throw its reason; another source replaces it', async () => {
    const card = join(work, 'card.img');
    writeFileSync(card, readSampleImage());
    const session = new SourceSession(await openSource(card, { replay: true }));
    await session.refresh();
    expect(await session.source.volume.exists('/supervisor/homeassistant')).toBe(true);
    rmSync(card);
    await expect(session.refresh()).rejects.toMatchObject({ code: 'SOURCE_NOT_FOUND', exitCode: 66 });
    expect(() => session.source).toThrow(expect.objectContaining({ code: 'SOURCE_NOT_FOUND' }));
    const other = join(work, 'other.img');
    writeFileSync(other, readSampleImage());
    await session.replace(await openSource(other, { replay: true }));
    expect(session.source.path).toBe(other);
    await session.close();
  });
});

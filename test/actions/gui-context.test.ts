// The browser window's session (GuiContext) on a real image: a card swapped while a job works on it, and a
// card that cannot be opened again after a write that went through.

import { rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSampleImage } from '../../fixtures/index.js';
import { GuiContext } from '../../src/actions/gui/context.js';
import { Jobs } from '../../src/actions/gui/jobs.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('gui-context-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

function card(name: string): string {
  const path = join(work, name);
  writeFileSync(path, readSampleImage());
  return path;
}

describe('GuiContext', () => {
  it('another disk opened, or the card closed, while a job runs is refused (BUSY): the job keeps its card (it failed as "used after it was closed")', async () => {
    const ctx = new GuiContext(new Jobs(() => undefined), work, { replay: true });
    const first = card('first.img');
    await ctx.openCard(first);
    const second = card('second.img');
    const seen = await ctx.jobs.run('Writing a change to the card', 'files', async () => {
      // The open began before the job and ends during it: it is refused when the card would be swapped.
      await expect(ctx.openCard(second)).rejects.toMatchObject({ code: 'BUSY', message: '"Writing a change to the card" is still under way on this card' });
      await expect(ctx.closeCard()).rejects.toMatchObject({ code: 'BUSY' });
      return ctx.source.volume.exists('/supervisor/homeassistant');
    });
    expect(seen).toBe(true);
    expect(ctx.source.path).toBe(first);
    await ctx.openCard(second);
    expect(ctx.source.path).toBe(second);
    await ctx.close();
  });

  it('a write that went through on a card taken out at once is still its result; the card is gone from then on (it said "does not exist", stuck on the old card)', async () => {
    const ctx = new GuiContext(new Jobs(() => undefined), work, { replay: true });
    const path = card('pulled.img');
    await ctx.openCard(path);
    const result = await ctx.afterWrite(async () => {
      rmSync(path);
      return 'written';
    });
    expect(result).toBe('written');
    expect(ctx.gonePath).toBe(path);
    expect(() => ctx.source).toThrow(expect.objectContaining({ code: 'CARD_GONE' }));
    // A write that failed on a card gone: CARD_GONE, as before.
    const other = card('other.img');
    await ctx.openCard(other);
    await expect(ctx.afterWrite(async () => {
      rmSync(other);
      throw new Error('the write failed');
    })).rejects.toMatchObject({ code: 'CARD_GONE' });
    await ctx.close();
  });

  it('a card still there but cut short under the window is said as such, not as "not there any more"', async () => {
    const ctx = new GuiContext(new Jobs(() => undefined), work, { replay: true });
    const path = card('cut.img');
    await ctx.openCard(path);
    await expect(ctx.afterWrite(async () => {
      truncateSync(path, 1024 * 1024);
      throw new Error('the write failed');
    })).rejects.toMatchObject({ code: 'CARD_GONE', message: expect.stringMatching(/^\S+cut\.img cannot be opened again \(.+\): something changed it while it was open here, an image file cut short or rewritten by another program$/) });
    expect(ctx.goneError().hint).toBe('nothing more was written to it. Stop the program that changed it, then open it again by its path (or a good copy of it); or open another');
    await ctx.close();
  });
});

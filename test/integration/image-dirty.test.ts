// `image --used-only` of a card pulled from a running box: the last transactions are in the journal, not
// yet in place. A file those transactions created has its data on the card already (ordered mode writes
// data before the commit), but its blocks are free in the card's own bitmaps and used only in the
// journal's copies. The image must hold them: the used blocks are those of both views. Built as the box
// leaves it: debugfs writes the file into a copy; its data blocks go to the card in place, every other
// changed block into one committed transaction of the card's journal (debugfs jo/jw/jc).

import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SAMPLE, readSampleImage } from '../../fixtures/index.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/images.js';

const work = tempDir('image-dirty-');
afterAll(() => rmSync(work, { recursive: true, force: true }));
const BS = 4096;
const NEW = '/supervisor/new.bin';

const blocksOf = (img: string, what: string): number[] =>
  execFileSync('debugfs', ['-R', `blocks ${what}`, img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split(/\s+/).filter(Boolean).map(Number);

/** The sample's data filesystem with NEW created by a committed, unreplayed transaction; and the state it leads to. */
function pulledCard(): { card: string; after: string; data: number[] } {
  const card = join(work, 'card.img');
  const after = join(work, 'after.img');
  const part = readSampleImage().subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes);
  writeFileSync(card, part);
  writeFileSync(after, part);
  const content = join(work, 'new.bin');
  writeFileSync(content, Buffer.from(Array.from({ length: 40_000 }, (_, i) => (i * 7 + 3) & 0xff)));
  execFileSync('debugfs', ['-w', '-R', `write ${content} ${NEW}`, after], { stdio: 'ignore' });
  const journal = new Set(blocksOf(card, '<8>'));
  const data = blocksOf(after, NEW);
  const [a, b] = [readFileSync(card), readFileSync(after)];
  const block = (buf: Buffer, n: number): Buffer => buf.subarray(n * BS, (n + 1) * BS);
  const changed = Array.from({ length: a.length / BS }, (_, n) => n).filter((n) => !journal.has(n) && !block(a, n).equals(block(b, n)));
  const meta = changed.filter((n) => !data.includes(n));
  for (const n of data) block(b, n).copy(a, n * BS);
  writeFileSync(card, a);
  const log = join(work, 'transaction.bin');
  writeFileSync(log, Buffer.concat(meta.map((n) => block(b, n))));
  execFileSync('debugfs', ['-w', '-f', '-', card], { input: `jo -c\njw -b ${meta.join(',')} ${log}\njc\n`, stdio: ['pipe', 'ignore', 'ignore'] });
  return { card, after, data };
}

describe('image --used-only of a card whose journal holds the newest file', () => {
  it('copies the file\'s blocks, used only in the journal\'s bitmaps', () => {
    const { card, after, data } = pulledCard();
    expect(data.length).toBeGreaterThan(5);
    // The card as it is: the file is there only with the journal replayed, and its blocks are free on disk.
    expect(cli(['ls', card, '/supervisor']).text).toContain('new.bin');
    expect(cli(['ls', card, '/supervisor', '--no-replay']).text).not.toContain('new.bin');
    const out = join(work, 'copy.img');
    const r = cli(['image', card, '--out', out, '--used-only']);
    expect(r.code, r.stderr).toBe(0);
    const [image, want] = [readFileSync(out), readFileSync(after)];
    const missing = data.filter((n) => !image.subarray(n * BS, (n + 1) * BS).equals(want.subarray(n * BS, (n + 1) * BS)));
    expect(missing).toEqual([]);
    expect(cli(['cat', out, NEW]).stdout.equals(readFileSync(join(work, 'new.bin')))).toBe(true);
    // info counts the free blocks left out among what is missing (it said "… missing in 0 area(s)").
    const rescue = (JSON.parse(cli(['info', out, '--json']).text) as { rescue: { missingBytes: number; badAreas: number; missingAreas: number } }).rescue;
    expect(rescue.missingBytes).toBeGreaterThan(0);
    expect(rescue.badAreas).toBe(0);
    const tried = spawnSync('ddrescuelog', ['-t', `${out}.map`], { encoding: 'utf8' }).stdout;
    expect(rescue.missingAreas).toBe(Number(/non-tried:.*in +(\d+) area/.exec(tried)![1]));
    expect(cli(['info', out]).text).toMatch(new RegExp(`missing in ${rescue.missingAreas} area\\(s\\)`));
  });
});

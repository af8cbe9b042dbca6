// The sample card with bad sectors over one of its files (the login file unless told), for the tests of the
// offer to copy a failing card first (guided flow, browser window), and the check that such a copy is the card
// but for them.

import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { expect } from 'vitest';
import { SAMPLE, readSampleImage } from '../../fixtures/index.js';
import { openSource } from '../../src/actions/source.js';
import { SECTOR } from './failing-card.js';

const hasDdrescuelog = spawnSync('ddrescuelog', ['--version']).status === 0;

/** Writes the sample image to `image`; returns the card sectors [first, count] of the first block of `file`. */
export async function sampleWithBadSectors(image: string, file = '/supervisor/homeassistant/.storage/auth'): Promise<[number, number]> {
  writeFileSync(image, readSampleImage());
  const src = await openSource(image);
  try {
    const layout = await src.volume.layout(await src.volume.lookup(file));
    return [(SAMPLE.dataOffsetBytes + layout.runs![0]!.physical * layout.blockSize) / SECTOR, layout.blockSize / SECTOR];
  } finally {
    await src.device.close();
  }
}

/** `out` is the card `image` byte for byte but for the bad sectors, which its map (and only its map) marks bad. */
export function expectCopyOfCard(image: string, out: string, [first, count]: [number, number]): void {
  const card = readFileSync(image);
  const copy = readFileSync(out);
  expect(copy.length).toBe(card.length);
  expect(copy.subarray(0, first * SECTOR).equals(card.subarray(0, first * SECTOR))).toBe(true);
  expect(copy.subarray((first + count) * SECTOR).equals(card.subarray((first + count) * SECTOR))).toBe(true);
  if (!hasDdrescuelog) return;
  const listed = spawnSync('ddrescuelog', ['-b', String(SECTOR), '-l-', `${out}.map`], { encoding: 'utf8' });
  expect(listed.status).toBe(0);
  expect(listed.stdout.trim().split('\n').map(Number)).toEqual(Array.from({ length: count }, (_, k) => first + k));
}

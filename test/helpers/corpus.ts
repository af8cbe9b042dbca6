// Access to the shared test corpora (../shared/corpora beside the repository, or $HAOS_RESCUE_CORPORA):
// the e2fsprogs test images with their manifest, unpacked on demand into a temp folder.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const CORPORA = process.env.HAOS_RESCUE_CORPORA ?? resolve(repoRoot, '../shared/corpora');
export const E2FS_CORPUS = join(CORPORA, 'e2fsprogs');
export const HA_CORPUS = join(CORPORA, 'ha');
export const hasCorpora = existsSync(join(E2FS_CORPUS, 'MANIFEST.tsv'));

export interface CorpusImage {
  test: string;
  verdict: string;
  needsRecovery: boolean;
  journal: string;
  features: string;
  description: string;
}

export function corpusImages(): CorpusImage[] {
  if (!hasCorpora) return [];
  const [header, ...rows] = readFileSync(join(E2FS_CORPUS, 'MANIFEST.tsv'), 'utf8').trimEnd().split('\n');
  const cols = header!.split('\t');
  const at = (name: string): number => cols.indexOf(name);
  return rows.map((row) => {
    const f = row.split('\t');
    return {
      test: f[at('test')]!,
      verdict: f[at('verdict')]!,
      needsRecovery: f[at('needs_recovery')] === 'yes',
      journal: f[at('journal')]!,
      features: f[at('features')]!,
      description: f[at('description')]!,
    };
  });
}

const unpackDir = join(tmpdir(), `haos-rescue-corpus-${process.getuid?.() ?? 0}`);

/** Unpacks the test's image.gz once per machine into a temp folder and returns its path (a copy). */
export function corpusImagePath(test: string): string {
  mkdirSync(unpackDir, { recursive: true });
  const out = join(unpackDir, `${test}.img`);
  if (!existsSync(out)) {
    const tmp = `${out}.${process.pid}.tmp`;
    writeFileSync(tmp, gunzipSync(readFileSync(join(E2FS_CORPUS, test, 'image.gz'))));
    execFileSync('mv', ['-f', tmp, out]);
  }
  return out;
}

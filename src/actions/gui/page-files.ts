// The page's three files, built by scripts/post-build.mjs into dist/page/ and read once at start. They are
// found beside the running code: dist/cli.js (./page), a split-off chunk in dist/chunks (../page), or the
// unbundled dist/actions/gui/ (../../page).

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { AppError, ExitCode } from '../../errors.js';

export interface PageFile {
  type: string;
  /** The bytes to send; the HTML names the session token in its two links and its meta tag. */
  render(token: string): string | Buffer;
}

export interface PageFiles {
  files: Map<string, PageFile>;
}

function pageFolder(): string {
  for (const rel of ['./page/', '../page/', '../../page/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(`${dir}index.html`)) return dir;
  }
  throw new AppError('NO_PAGE', ExitCode.INTERNAL, 'the browser window\'s page is missing from this installation', {
    hint: 'build it with npm run build (from a clone), or install the package again',
  });
}

export function loadPage(): PageFiles {
  const folder = pageFolder();
  const read = (name: string): Buffer => readFileSync(`${folder}${name}`);
  const html = read('index.html').toString('utf8');
  const css = read('style.css');
  const js = read('app.js');
  const files = new Map<string, PageFile>([
    ['/', { type: 'text/html; charset=utf-8', render: (token) => html.replaceAll('{{TOKEN}}', token) }],
    ['/style.css', { type: 'text/css; charset=utf-8', render: () => css }],
    ['/app.js', { type: 'text/javascript; charset=utf-8', render: () => js }],
  ]);
  return { files };
}

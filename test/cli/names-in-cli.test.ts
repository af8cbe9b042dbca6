// The command line's option and command names stay in the command line (src/cli): the layers below it are
// shared with the window, where "add --force" or "run haos-rescue disks" means nothing. They name the action
// in words and a remedy (errors.ts); the command line adds its option or command. This reads every string in
// src/ outside src/cli and the window's own layer and fails on one that names an option or command of ours.

import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '../../src');
const OWN_LAYERS = ['cli', join('actions', 'gui')];
/** Strings that are another program's command line, in a hint or as its arguments. */
const OTHER_PROGRAM = /\b(lsblk|qemu-img|VBoxManage|sudo|diskutil)\b/;

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return OWN_LAYERS.includes(relative(SRC, path)) || e.name === 'page' ? [] : tsFiles(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every name the command line defines with `pattern` (its first group), in every file under src/cli. */
function cliNames(pattern: RegExp): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else for (const m of readFileSync(path, 'utf8').matchAll(pattern)) names.add(m[1]!);
    }
  };
  walk(join(SRC, 'cli'));
  return names;
}

/** Every option (`.option('name'`), with its `no-` form. */
function cliOptions(): Set<string> {
  return new Set([...cliNames(/\.option\(\s*'([a-z][a-z-]*)'/g)].flatMap((name) => [name, `no-${name}`]));
}

function stringsOf(path: string): Array<{ line: number; text: string }> {
  const file = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: Array<{ line: number; text: string }> = [];
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isTemplateHead(node) || ts.isTemplateMiddle(node) || ts.isTemplateTail(node)) {
      found.push({ line: file.getLineAndCharacterOfPosition(node.getStart()).line + 1, text: node.text });
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

/** The options of ours a string names; none for an argument of another program (a string that is one flag). */
export function ownFlagsIn(text: string, options: Set<string>): string[] {
  if (/^--[a-z][a-z-]*$/.test(text) || OTHER_PROGRAM.test(text)) return [];
  return [...text.matchAll(/(?:^|[^\w-])--([a-z][a-z-]*)/g)].map((m) => m[1]!).filter((name) => options.has(name));
}

/** The commands of ours a string tells the user to run: `haos-rescue NAME`, or SOURCE, the command line's word. */
export function ownCommandsIn(text: string, commands: Set<string>): string[] {
  const named = [...text.matchAll(/haos-rescue ([a-z][a-z-]*)/g)].map((m) => m[1]!).filter((name) => commands.has(name));
  return /\bSOURCE\b/.test(text) ? [...named, 'SOURCE'] : named;
}

describe('option and command names below the command line', () => {
  const options = cliOptions();
  const commands = cliNames(/command: '([a-z][a-z-]*)/g);

  it('the command line defines the options this test looks for', () => {
    for (const name of ['force', 'out', 'what', 'map', 'recursive', 'no-replay', 'originals']) expect(options).toContain(name);
  });

  it('tells an option of ours from another program\'s', () => {
    expect(ownFlagsIn('name a new file, or add --force to replace it', options)).toEqual(['force']);
    expect(ownFlagsIn('run `lsblk --json` yourself', options)).toEqual([]);
    expect(ownFlagsIn('--json', options)).toEqual([]);
    expect(ownFlagsIn('a well-known--name', options)).toEqual([]);
  });

  it('tells a command of ours from prose and error codes', () => {
    expect(commands).toContain('disks');
    expect(ownCommandsIn('see the list with haos-rescue disks', commands)).toEqual(['disks']);
    expect(ownCommandsIn('name it as SOURCE', commands)).toEqual(['SOURCE']);
    expect(ownCommandsIn('haos-rescue cannot read it (SOURCE_NOT_FOUND)', commands)).toEqual([]);
  });

  it('no string outside src/cli and the window names one', () => {
    const offenders = tsFiles(SRC).flatMap((path) =>
      stringsOf(path).flatMap(({ line, text }) => [
        ...ownFlagsIn(text, options).map((flag) => `${relative(SRC, path)}:${line} --${flag}`),
        ...ownCommandsIn(text, commands).map((command) => `${relative(SRC, path)}:${line} ${command}`),
      ]),
    );
    expect(offenders).toEqual([]);
  });
});

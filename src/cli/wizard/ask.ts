// The guided flow's questions: inquirer's prompts, with Esc as "go back" inside a step (`orBack`). Inquirer
// has no Escape of its own; Ctrl-C ends the whole session, which is too much for "I chose the wrong entry".

import * as prompts from '@inquirer/prompts';
import { emitKeypressEvents } from 'node:readline';
import { discardTypeahead } from '../typeahead.js';

/** What `orBack` returns when the user pressed Esc at one of its questions. */
export const BACK: unique symbol = Symbol('back');

let scopes = 0;

/** Runs `work`; Esc at any question asked inside it stops it there and gives BACK. */
export async function orBack<T>(work: () => Promise<T>): Promise<T | typeof BACK> {
  scopes += 1;
  try {
    return await work();
  } catch (err) {
    if (err instanceof Error && err.name === 'AbortPromptError') return BACK;
    throw err;
  } finally {
    scopes -= 1;
  }
}

type Context = { signal?: AbortSignal };

/** One question; inside an `orBack`, on a terminal, Esc aborts it (Node's readline names the key after ~0.5 s). */
async function ask<R>(question: (context: Context) => Promise<R>): Promise<R> {
  if (process.stdin.isTTY) await discardTypeahead();
  if (scopes === 0 || !process.stdin.isTTY) return question({});
  const escape = new AbortController();
  const onKey = (_text: unknown, key?: { name?: string }): void => {
    if (key?.name === 'escape') escape.abort();
  };
  emitKeypressEvents(process.stdin);
  process.stdin.on('keypress', onKey);
  try {
    return await question({ signal: escape.signal });
  } finally {
    process.stdin.off('keypress', onKey);
  }
}

export function select<V>(config: Parameters<typeof prompts.select<V>>[0]): Promise<V> {
  return ask((context) => prompts.select<V>(config, context));
}

export function input(config: Parameters<typeof prompts.input>[0]): Promise<string> {
  return ask((context) => prompts.input(config, context));
}

export function confirm(config: Parameters<typeof prompts.confirm>[0]): Promise<boolean> {
  return ask((context) => prompts.confirm(config, context));
}

export function password(config: Parameters<typeof prompts.password>[0]): Promise<string> {
  return ask((context) => prompts.password(config, context));
}

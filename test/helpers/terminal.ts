// A real terminal for tests: tmux on a private socket runs a command in a detached session, the test
// reads the screen and types like a person. The shell prints EXIT=<code> when the command ends.

import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { CLI } from './cli.js';

export const hasTmux = spawnSync('tmux', ['-V']).status === 0;

export class Terminal {
  private readonly socket = `haos-rescue-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

  private tmux(...args: string[]): string {
    const r = spawnSync('tmux', ['-L', this.socket, ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  /**
   * Runs `haos-rescue ARGS` in session `name`, in folder `cwd`, with HOME=`home`; `redirect`: shell words after
   * it (`> out.txt`); `env`: more variables (NAME=value words).
   */
  start(name: string, cwd: string, home: string, args: string[] = [], redirect = '', env = ''): void {
    mkdirSync(home, { recursive: true });
    const quoted = args.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const cmd = `cd ${cwd} && HOME=${home} ${env} ${process.execPath} ${CLI} ${quoted} ${redirect}; echo EXIT=$?; sleep 600`;
    this.tmux('new-session', '-d', '-s', name, '-x', '160', '-y', '50', cmd);
  }

  screen(name: string): string {
    return this.tmux('capture-pane', '-p', '-J', '-S', '-200', '-t', name);
  }

  async waitFor(name: string, pattern: RegExp, timeoutMs = 30_000): Promise<string> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const text = this.screen(name);
      if (pattern.test(text)) return text;
      if (Date.now() > until) throw new Error(`timed out waiting for ${pattern} on the screen:\n${text}`);
      await new Promise((r) => setTimeout(r, 150));
    }
  }

  /**
   * Sends keys as a person would: once a question is shown. The flow drops keys typed before its question is
   * drawn (typed while a step worked, they answered it unseen); a test that matched an answered question
   * ("✔ Where?") instead of the one asked ("? Where?") typed ahead. Ctrl-C and Ctrl-D go at once.
   */
  keys(name: string, ...k: string[]): void {
    if (!k.every((key) => key === 'C-c' || key === 'C-d')) this.untilAsked(name);
    this.tmux('send-keys', '-t', name, ...k);
  }

  /** Keys sent at once, a question shown or not (typed ahead while a step works). */
  keysAhead(name: string, ...k: string[]): void {
    this.tmux('send-keys', '-t', name, ...k);
  }

  /** Types literal text (no key-name lookup), then Enter. */
  type(name: string, text: string): void {
    this.untilAsked(name);
    this.tmux('send-keys', '-t', name, '-l', text);
    this.tmux('send-keys', '-t', name, 'Enter');
  }

  /**
   * Waits (10 s at most) while the flow's last question on the screen is an answered one ("✔ ...") and no new
   * one ("? ...") follows it; a screen without the flow's questions is left as it is.
   */
  private untilAsked(name: string): void {
    const until = Date.now() + 10_000;
    while (Date.now() < until) {
      const last = this.screen(name).split('\n').filter((line) => /^[?✔] /.test(line)).at(-1);
      if (last === undefined || last.startsWith('? ')) return;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    }
  }

  /** In the guided flow's first question, "An image file" (Up twice wraps round to it), then `path` typed. */
  async openPath(name: string, path: string): Promise<void> {
    // The question being asked ("?"), not one answered before ("✔"): keys typed before a question is drawn
    // are dropped by the flow, as a person's would be.
    await this.waitFor(name, /\? Which disk holds your Home Assistant\?/);
    this.keys(name, 'Up');
    this.keys(name, 'Up');
    await this.waitFor(name, /❯ An image file/);
    this.keys(name, 'Enter');
    await this.waitFor(name, /\? Path of the image file/);
    this.type(name, path);
  }

  close(): void {
    spawnSync('tmux', ['-L', this.socket, 'kill-server']);
  }
}

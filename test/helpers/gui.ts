// Starts `haos-rescue gui --no-open` from the built CLI as a user would and reads the address it prints;
// raw HTTP requests with any Host, Origin or method (fetch() would not send a foreign Host).

import { type ChildProcess, spawn } from 'node:child_process';
import { request } from 'node:http';
import { CLI } from './cli.js';

export interface GuiProcess {
  url: string;
  base: string;
  port: number;
  token: string;
  child: ChildProcess;
  /** Resolves when the process exits: its code and everything it printed. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  /** Milliseconds from the spawn to the printed address. */
  listeningMs: number;
}

export async function startGui(args: string[], env: Record<string, string> = {}, cwd?: string): Promise<GuiProcess> {
  const started = performance.now();
  const child = spawn(process.execPath, [CLI, 'gui', '--no-open', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(cwd ? { cwd } : {}),
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no address printed in 20 s\n${stdout}\n${stderr}`)), 20_000);
    const look = (): void => {
      const m = /Address: (http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]+)/.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', look);
    void exited.then((e) => reject(new Error(`exited ${e.code} before printing an address\n${e.stdout}\n${e.stderr}`)));
  });
  const parsed = new URL(url);
  return {
    url,
    base: `${parsed.protocol}//${parsed.host}`,
    port: Number(parsed.port),
    token: parsed.searchParams.get('token')!,
    child,
    exited,
    listeningMs: performance.now() - started,
  };
}

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP request with exactly these headers (Host included) to the server's port. */
export function rawRequest(port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { Host: `127.0.0.1:${port}`, ...headers } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// Who may talk to the local server. It runs with the rights to write to disks, so every request must come
// from the page it served: the session token (compared in constant time), a Host naming the loopback
// address and port (a DNS-rebinding page has its own name there), an Origin, when sent, of this server
// (other tabs and sites), writes only as POST with a JSON body (a cross-site form cannot send one without
// a preflight, and the server answers no preflight: there are no CORS headers at all).

import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { TOKEN_HEADER } from './api.js';

export interface Refusal {
  status: number;
  code: string;
  message: string;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Constant-time: both sides are hashed to the same length first, so neither length nor content leaks. */
export function sameToken(given: string | null, token: string): boolean {
  if (given === null) return false;
  return timingSafeEqual(digest(given), digest(token));
}

function allowedOrigins(port: number): Set<string> {
  return new Set([`http://127.0.0.1:${port}`, `http://localhost:${port}`]);
}

function header(req: IncomingMessage, name: string): string | null {
  const v = req.headers[name.toLowerCase()];
  return typeof v === 'string' ? v : null;
}

const refuse = (code: string, message: string, status = 403): Refusal => ({ status, code, message });

/** Null when the request may go on; else why not (always 403 but for a body that is too large). */
export function checkRequest(req: IncomingMessage, url: URL, token: string, port: number): Refusal | null {
  const origins = allowedOrigins(port);
  const host = (header(req, 'host') ?? '').toLowerCase();
  if (!origins.has(`http://${host}`)) return refuse('BAD_HOST', 'this server answers only on its loopback address');
  if (!sameToken(header(req, TOKEN_HEADER) ?? url.searchParams.get('token'), token)) {
    return refuse('BAD_TOKEN', 'the address lacks the session token: open the address haos-rescue printed');
  }
  const origin = header(req, 'origin');
  if (origin !== null && !origins.has(origin)) return refuse('BAD_ORIGIN', 'requests from other pages are refused');
  const site = header(req, 'sec-fetch-site');
  if (site !== null && site !== 'same-origin' && site !== 'none') return refuse('BAD_ORIGIN', 'requests from other pages are refused');
  if (req.method === 'POST') {
    if (origin === null) return refuse('BAD_ORIGIN', 'a change must come from the page haos-rescue opened');
    const type = (header(req, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json') return refuse('BAD_REQUEST', 'a change must be sent as JSON');
  } else if (req.method !== 'GET' && req.method !== 'HEAD') {
    return refuse('BAD_METHOD', `${req.method ?? 'this method'} is not answered here`);
  }
  return null;
}

/** Headers on every answer: nothing cached, nothing framed, nothing sniffed, no referrer (the token). */
export const SAFE_HEADERS: Record<string, string> = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

export const PAGE_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

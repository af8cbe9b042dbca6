// The hook record-modules.mjs registers: it runs on Node's hooks thread, which sees the same environment.
import { appendFileSync } from 'node:fs';

export async function load(url, context, next) {
  if (url.startsWith('file:') && process.env.HAOS_RESCUE_MODULES_LOG) appendFileSync(process.env.HAOS_RESCUE_MODULES_LOG, `${url}\n`);
  return next(url, context);
}

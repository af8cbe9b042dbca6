// Checks of a sample card image after a write: the data filesystem is sliced out, its journal optionally
// recovered as the kernel would at mount, `e2fsck -fn` must be clean, and a login's stored bcrypt hash is
// read back through our own reader (the CLI's `cat`, journal replayed in memory).

import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import bcrypt from 'bcryptjs';
import { SAMPLE } from '../../fixtures/index.js';
import { cli } from './cli.js';

const PROVIDER = '/supervisor/homeassistant/.storage/auth_provider.homeassistant';

/** Throws unless the sample image's data filesystem is e2fsck-clean (after journal recovery if asked). */
export function assertCardClean(image: string, opts: { recoverJournal?: boolean } = {}): void {
  const data = `${image}.data`;
  writeFileSync(data, readFileSync(image).subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes));
  if (opts.recoverJournal) spawnSync('e2fsck', ['-fy', '-E', 'journal_only', data]);
  const fsck = spawnSync('e2fsck', ['-fn', data], { encoding: 'utf8' });
  if (fsck.status !== 0) throw new Error(`e2fsck -fn on the data filesystem of ${image}: exit ${fsck.status}\n${fsck.stdout}`);
}

/** Whether `password` is the stored password of `username` on the card (SOURCE may be an image or a device). */
export function cardPasswordIs(source: string, username: string, password: string): boolean {
  const store = JSON.parse(cli(['cat', source, PROVIDER]).text) as { data: { users: Array<{ username: string; password: string }> } };
  const user = store.data.users.find((u) => u.username === username);
  if (!user) throw new Error(`no login ${username} on ${source}`);
  return bcrypt.compareSync(password, Buffer.from(user.password, 'base64').toString());
}

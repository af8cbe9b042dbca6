// Checks of a sample card image after a write: the data filesystem is sliced out, its journal optionally
// recovered as the kernel would at mount, `e2fsck -fn` must be clean, and a login's stored bcrypt hash is
// read back through our own reader (the CLI's `cat`, journal replayed in memory). And the sample's data
// filesystem with a journal the kernel stopped.

import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import bcrypt from 'bcryptjs';
import { SAMPLE, readSampleImage } from '../../fixtures/index.js';
import { crc32cUpdate } from '../../src/ext4/checksum.js';
import { cli } from './cli.js';

/**
 * Writes the sample's data filesystem to `img` with jbd2's s_errno set (-EIO by default) and the journal
 * superblock's checksum made right, as jbd2_journal_update_sb_errno leaves it when a write of the card fails.
 */
export function sampleWithAbortedJournal(img: string, errno = -5): void {
  writeFileSync(img, readSampleImage().subarray(SAMPLE.dataOffsetBytes, SAMPLE.dataOffsetBytes + SAMPLE.dataSizeBytes));
  const journalBlock = Number(execFileSync('debugfs', ['-R', 'bmap <8> 0', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  const data = readFileSync(img);
  const jsb = data.subarray(journalBlock * 4096, journalBlock * 4096 + 1024);
  jsb.writeInt32BE(errno, 0x20);
  jsb.writeUInt32BE(0, 0xfc);
  jsb.writeUInt32BE(crc32cUpdate(0xffffffff, jsb) >>> 0, 0xfc);
  writeFileSync(img, data);
}

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

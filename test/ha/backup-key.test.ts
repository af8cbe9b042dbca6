import { describe, expect, it } from 'vitest';
import { backupKey } from '../../src/ha/backup-key.js';
import { codeOf, demoFile, hasDemo, storeBytes } from './helpers.js';

describe.skipIf(!hasDemo)('backupKey on the real .storage/backup', () => {
  it('finds the key at data.config.create_backup.password and the unprotected agent', () => {
    const raw = JSON.parse(demoFile('backup').toString('utf8'));
    const result = backupKey(demoFile('backup'));
    expect(result.key).toBe(raw.data.config.create_backup.password);
    expect(result.key).toBe('HQ50-YK77-8JQY-B5CN-8NCK-S71Y-CK4R');
    expect(result.status).toBe('set');
    expect(result.unprotectedAgents).toEqual(['hassio.local']);
    expect(result.message).toContain('backups kept on the Home Assistant box itself are not encrypted');
  });

  it('truncated → BAD_STORE_JSON', () => {
    expect(codeOf(() => backupKey(demoFile('backup').subarray(0, 300)))).toBe('BAD_STORE_JSON');
  });
});

describe('backupKey on crafted files', () => {
  const config = (createBackup: unknown, agents: unknown = {}) => storeBytes('backup', { backups: [], config: { agents, create_backup: createBackup } }, 1, 6);

  it('null password → not-set', () => {
    const result = backupKey(config({ agent_ids: [], password: null }));
    expect(result).toMatchObject({ key: null, status: 'not-set', unprotectedAgents: [] });
    expect(result.message).toMatch(/^no backup encryption key is stored \(.*\): Home Assistant does not encrypt its automatic backups$/);
  });

  it('empty password → not-set', () => {
    expect(backupKey(config({ password: '' }))).toMatchObject({ key: null, status: 'not-set' });
  });

  it('a password that is not text (a damaged file) → no key, said to be damage, not "not encrypted"', () => {
    for (const [password, what] of [[12345, 'a number'], [['x'], 'a list'], [{ k: 'x' }, 'an object'], [true, 'a boolean']] as const) {
      const result = backupKey(config({ password }));
      expect(result).toMatchObject({ key: null, status: 'not-set' });
      expect(result.message).toContain(`is damaged: create_backup.password holds ${what}, not the key's text`);
      expect(result.message).toContain('emergency kit');
      expect(result.message).not.toContain('not encrypted');
    }
  });

  it('no create_backup, or no config at all → no-config', () => {
    expect(backupKey(config(undefined))).toMatchObject({ key: null, status: 'no-config' });
    expect(backupKey(storeBytes('backup', { backups: [] }))).toMatchObject({ key: null, status: 'no-config' });
  });

  it('lists only agents with protected=false', () => {
    const result = backupKey(config({ password: 'K' }, { a: { protected: true }, b: { protected: false }, c: {} }));
    expect(result).toMatchObject({ key: 'K', status: 'set', unprotectedAgents: ['b'] });
  });

  it('wrong file → BAD_STORE_KEY, garbage → BAD_STORE_JSON', () => {
    expect(codeOf(() => backupKey(storeBytes('auth', {})))).toBe('BAD_STORE_KEY');
    expect(codeOf(() => backupKey(Buffer.from('\x00\x01garbage')))).toBe('BAD_STORE_JSON');
  });
});

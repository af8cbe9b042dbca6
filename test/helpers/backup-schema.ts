// The Supervisor's checks of a backup, written from haos-format.md §5.2, §5.3 and §5.7 (SCHEMA_BACKUP and
// the restore path), independent of src/ha/backup-meta.ts: returns every rule a backup breaks.

import { createHash } from 'node:crypto';

const FOLDERS = ['share', 'addons/local', 'ssl', 'media'];
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const unique = (xs: unknown[]): boolean => new Set(xs.map((x) => JSON.stringify(x))).size === xs.length;

/** Problems of `meta` (backup.json) in an outer archive with members `names`. */
export function checkBackupJson(meta: Record<string, unknown>, names: string[]): string[] {
  const bad: string[] = [];
  const need = (ok: boolean, rule: string): void => {
    if (!ok) bad.push(rule);
  };
  for (const k of ['slug', 'name', 'date']) need(typeof meta[k] === 'string', `${k} is a required string`);
  need(meta.type === 'full' || meta.type === 'partial', 'type is "full" or "partial"');
  need(meta.version === undefined || meta.version === 1 || meta.version === 2, 'version is 1 or 2');
  need(meta.version === 2, 'new backups write version 2');
  need(meta.supervisor_version === undefined || typeof meta.supervisor_version === 'string', 'supervisor_version is a version string');
  need(meta.compressed === undefined || typeof meta.compressed === 'boolean', 'compressed is a bool');
  need(typeof meta.protected === 'boolean', 'protected is a bool');
  need(meta.crypto === undefined || meta.crypto === null || meta.crypto === 'aes128', 'crypto is null or "aes128"');
  const date = String(meta.date);
  need(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?[+-]\d{2}:\d{2}$/.test(date) && !Number.isNaN(Date.parse(date)), 'date is ISO 8601 with an offset');
  need(meta.slug === createHash('sha1').update(`${date} - ${String(meta.name)}`.toLowerCase()).digest('hex').slice(0, 8), 'slug = sha1(date - name)[:8]');
  const ha = meta.homeassistant;
  need(isObj(ha) && typeof ha.version === 'string', 'homeassistant.version is set (the restore needs Core data)');
  if (isObj(ha)) {
    need(ha.size === undefined || typeof ha.size === 'number', 'homeassistant.size is a number');
    need(ha.exclude_database === undefined || typeof ha.exclude_database === 'boolean', 'homeassistant.exclude_database is a bool');
  }
  const folders = meta.folders ?? [];
  need(Array.isArray(folders) && folders.every((f) => FOLDERS.includes(f as string)) && unique(folders), 'folders: unique entries of share, addons/local, ssl, media');
  const addons = meta.addons ?? [];
  need(Array.isArray(addons) && addons.every((a) => isObj(a) && typeof a.slug === 'string' && typeof a.name === 'string' && typeof a.version === 'string' && (a.size === undefined || typeof a.size === 'number')), 'addons: {slug, name, version, size}');
  need(Array.isArray(addons) && unique((addons as Array<Record<string, unknown>>).map((a) => a.slug)), 'addon slugs are unique');
  const repos = meta.repositories ?? [];
  need(Array.isArray(repos) && repos.every((r) => typeof r === 'string') && unique(repos), 'repositories: unique strings');
  need(meta.extra === undefined || isObj(meta.extra), 'extra is an object');
  // §5.2, §7.8: the exact ./backup.json name, inner names ending .tar.gz when compressed, one per part.
  need(names.includes('./backup.json'), 'the metadata member is named exactly ./backup.json');
  const inner = (n: string): boolean => names.includes(`${n}.tar.gz`) || names.includes(`./${n}.tar.gz`);
  need(inner('homeassistant'), 'homeassistant.tar.gz is there');
  for (const f of Array.isArray(folders) ? folders : []) need(inner(String(f).replace('/', '_')), `${String(f)} has its archive`);
  for (const a of Array.isArray(addons) ? addons : []) need(isObj(a) && inner(String(a.slug)), `add-on ${isObj(a) ? String(a.slug) : '?'} has its archive`);
  need(names.filter((n) => n !== './backup.json').every((n) => n.endsWith('.tar.gz')), 'every inner name ends .tar.gz (compressed: true)');
  return bad;
}

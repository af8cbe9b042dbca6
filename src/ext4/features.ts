// ext4 feature flags (kernel Documentation/filesystems/ext4/super.rst, s_feature_*), their names as
// dumpe2fs prints them, and which incompatible ones this reader can handle.

export const Compat = {
  DIR_PREALLOC: 0x1,
  IMAGIC_INODES: 0x2,
  HAS_JOURNAL: 0x4,
  EXT_ATTR: 0x8,
  RESIZE_INODE: 0x10,
  DIR_INDEX: 0x20,
  LAZY_BG: 0x40,
  EXCLUDE_INODE: 0x80,
  EXCLUDE_BITMAP: 0x100,
  SPARSE_SUPER2: 0x200,
  FAST_COMMIT: 0x400,
  STABLE_INODES: 0x800,
  ORPHAN_FILE: 0x1000,
} as const;

export const RoCompat = {
  SPARSE_SUPER: 0x1,
  LARGE_FILE: 0x2,
  BTREE_DIR: 0x4,
  HUGE_FILE: 0x8,
  GDT_CSUM: 0x10,
  DIR_NLINK: 0x20,
  EXTRA_ISIZE: 0x40,
  HAS_SNAPSHOT: 0x80,
  QUOTA: 0x100,
  BIGALLOC: 0x200,
  METADATA_CSUM: 0x400,
  REPLICA: 0x800,
  READONLY: 0x1000,
  PROJECT: 0x2000,
  SHARED_BLOCKS: 0x4000,
  VERITY: 0x8000,
  ORPHAN_PRESENT: 0x10000,
} as const;

export const Incompat = {
  COMPRESSION: 0x1,
  FILETYPE: 0x2,
  RECOVER: 0x4,
  JOURNAL_DEV: 0x8,
  META_BG: 0x10,
  EXTENTS: 0x40,
  BIT64: 0x80,
  MMP: 0x100,
  FLEX_BG: 0x200,
  EA_INODE: 0x400,
  DIRDATA: 0x1000,
  CSUM_SEED: 0x2000,
  LARGEDIR: 0x4000,
  INLINE_DATA: 0x8000,
  ENCRYPT: 0x10000,
  CASEFOLD: 0x20000,
} as const;

const COMPAT_NAMES: Record<number, string> = {
  [Compat.DIR_PREALLOC]: 'dir_prealloc',
  [Compat.IMAGIC_INODES]: 'imagic_inodes',
  [Compat.HAS_JOURNAL]: 'has_journal',
  [Compat.EXT_ATTR]: 'ext_attr',
  [Compat.RESIZE_INODE]: 'resize_inode',
  [Compat.DIR_INDEX]: 'dir_index',
  [Compat.LAZY_BG]: 'lazy_bg',
  [Compat.EXCLUDE_INODE]: 'snapshot_exclude',
  [Compat.EXCLUDE_BITMAP]: 'exclude_bitmap',
  [Compat.SPARSE_SUPER2]: 'sparse_super2',
  [Compat.FAST_COMMIT]: 'fast_commit',
  [Compat.STABLE_INODES]: 'stable_inodes',
  [Compat.ORPHAN_FILE]: 'orphan_file',
};

const RO_COMPAT_NAMES: Record<number, string> = {
  [RoCompat.SPARSE_SUPER]: 'sparse_super',
  [RoCompat.LARGE_FILE]: 'large_file',
  [RoCompat.BTREE_DIR]: 'btree_dir',
  [RoCompat.HUGE_FILE]: 'huge_file',
  [RoCompat.GDT_CSUM]: 'uninit_bg',
  [RoCompat.DIR_NLINK]: 'dir_nlink',
  [RoCompat.EXTRA_ISIZE]: 'extra_isize',
  [RoCompat.HAS_SNAPSHOT]: 'snapshot',
  [RoCompat.QUOTA]: 'quota',
  [RoCompat.BIGALLOC]: 'bigalloc',
  [RoCompat.METADATA_CSUM]: 'metadata_csum',
  [RoCompat.REPLICA]: 'replica',
  [RoCompat.READONLY]: 'read-only',
  [RoCompat.PROJECT]: 'project',
  [RoCompat.SHARED_BLOCKS]: 'shared_blocks',
  [RoCompat.VERITY]: 'verity',
  [RoCompat.ORPHAN_PRESENT]: 'orphan_present',
};

const INCOMPAT_NAMES: Record<number, string> = {
  [Incompat.COMPRESSION]: 'compression',
  [Incompat.FILETYPE]: 'filetype',
  [Incompat.RECOVER]: 'needs_recovery',
  [Incompat.JOURNAL_DEV]: 'journal_dev',
  [Incompat.META_BG]: 'meta_bg',
  [Incompat.EXTENTS]: 'extent',
  [Incompat.BIT64]: '64bit',
  [Incompat.MMP]: 'mmp',
  [Incompat.FLEX_BG]: 'flex_bg',
  [Incompat.EA_INODE]: 'ea_inode',
  [Incompat.DIRDATA]: 'dirdata',
  [Incompat.CSUM_SEED]: 'metadata_csum_seed',
  [Incompat.LARGEDIR]: 'large_dir',
  [Incompat.INLINE_DATA]: 'inline_data',
  [Incompat.ENCRYPT]: 'encrypt',
  [Incompat.CASEFOLD]: 'casefold',
};

/** Incompatible features whose on-disk format this reader understands (encrypt and casefold per file). */
export const SUPPORTED_INCOMPAT =
  Incompat.FILETYPE | Incompat.RECOVER | Incompat.META_BG | Incompat.EXTENTS | Incompat.BIT64 |
  Incompat.MMP | Incompat.FLEX_BG | Incompat.EA_INODE | Incompat.CSUM_SEED | Incompat.LARGEDIR |
  Incompat.INLINE_DATA | Incompat.ENCRYPT | Incompat.CASEFOLD;

function names(mask: number, table: Record<number, string>, prefix: string): string[] {
  const out: string[] = [];
  for (let bit = 0; bit < 32; bit++) {
    const flag = 2 ** bit;
    if (Math.floor(mask / flag) % 2 === 1) out.push(table[flag] ?? `${prefix}${bit}`);
  }
  return out;
}

/** Feature names in dumpe2fs order: compat, incompat, ro_compat. Unknown bits as FEATURE_C12 etc. */
export function featureNames(compat: number, incompat: number, roCompat: number): string[] {
  return [
    ...names(compat, COMPAT_NAMES, 'FEATURE_C'),
    ...names(incompat, INCOMPAT_NAMES, 'FEATURE_I'),
    ...names(roCompat, RO_COMPAT_NAMES, 'FEATURE_R'),
  ];
}

/** Names of the incompatible features set in `incompat` that this reader cannot handle. */
export function unsupportedIncompat(incompat: number): string[] {
  const unsupported = (incompat & ~SUPPORTED_INCOMPAT) >>> 0;
  return names(unsupported, INCOMPAT_NAMES, 'FEATURE_I');
}

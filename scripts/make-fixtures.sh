#!/usr/bin/env bash
# Builds small, reproducible HAOS-like disk images for tests and the demo.
#
# Usage: scripts/make-fixtures.sh [OUT_DIR] [--update-sample] [--verify]
#   OUT_DIR          where images go (default: fixtures/build, ignored by git)
#   --update-sample  also copy OUT_DIR/haos-sample.img.gz to fixtures/sample/ (the committed sample)
#   --verify         afterwards check every image with scripts/fixtures/verify-fixtures.sh
#
# Layouts follow docs haos-format §1.2-§1.5 (partition tables), §1.7 (ext4 features), §2 (external
# data disk, hassos-data-old), §3 (data partition tree), §4.2 (auth_provider) and §6 (Supervised).
# Real data comes from ../shared/corpora/ha (or $HAOS_RESCUE_CORPORA/ha, as for the tests).
# fixtures/README.md says what each image contains; docs/fixtures.md how to regenerate.
#
# Needs: e2fsprogs (mkfs.ext4, debugfs), gdisk (sgdisk), fdisk (sfdisk), node, gzip; dosfstools
# (mkfs.vfat) is optional (without it the boot partitions stay zero-filled). No root needed.
# Output is deterministic: fixed UUIDs, hash seeds, timestamps, owners and modes, a pinned mke2fs.conf,
# E2FSPROGS_FAKE_TIME, LC_ALL=C (mke2fs -d sorts directory entries with the locale's collation).
# Pieces sourced from scripts/fixtures/: lib.sh (constants, filesystem builders), stage.sh (staging
# trees), layouts.sh (partition tables and the manifest records); this file parses the arguments,
# checks the tools and the corpus, and runs the build.
set -euo pipefail

export LC_ALL=C TZ=UTC
export PATH="$PATH:/usr/sbin:/sbin"
umask 022

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
AUX="$HERE/fixtures"

OUT=""
UPDATE_SAMPLE=0
VERIFY=0
for arg in "$@"; do
  case "$arg" in
    --update-sample) UPDATE_SAMPLE=1 ;;
    --verify) VERIFY=1 ;;
    -h | --help)
      sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    -*) echo "make-fixtures: unknown option $arg" >&2; exit 2 ;;
    *) [[ -z "$OUT" ]] || { echo "make-fixtures: one OUT_DIR only" >&2; exit 2; }; OUT="$arg" ;;
  esac
done
OUT=${OUT:-$ROOT/fixtures/build}

CORPUS=${HAOS_RESCUE_CORPORA:-$ROOT/../shared/corpora}/ha
CONFIG_SRC="$CORPUS/config_dirs/smarter-project_home-assistant-demo/config"
BACKUP_SRC="$CORPUS/supervisor_fixtures"
BACKUPS=(backup_example.tar backup_example_enc.tar backup_example_sec_v3.tar)

need() {
  command -v "$1" >/dev/null 2>&1 || {
    echo "make-fixtures: '$1' not found; install it (apt-get install -y $2)" >&2
    exit 1
  }
}
need mkfs.ext4 e2fsprogs
need debugfs e2fsprogs
need sgdisk gdisk
need sfdisk fdisk
need node nodejs
need gzip gzip
HAVE_VFAT=0
command -v mkfs.vfat >/dev/null 2>&1 && HAVE_VFAT=1

[[ -f "$CONFIG_SRC/.HA_VERSION" ]] || { echo "make-fixtures: corpus not found at $CORPUS (set HAOS_RESCUE_CORPORA)" >&2; exit 1; }
for b in "${BACKUPS[@]}"; do [[ -f "$BACKUP_SRC/$b" ]] || { echo "make-fixtures: missing $BACKUP_SRC/$b" >&2; exit 1; }; done

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "$OUT/.work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# shellcheck source=fixtures/lib.sh
source "$AUX/lib.sh"
# shellcheck source=fixtures/stage.sh
source "$AUX/stage.sh"
# shellcheck source=fixtures/layouts.sh
source "$AUX/layouts.sh"

MANIFEST="$WORK/manifest.jsonl"
: >"$MANIFEST"

# ---------------------------------------------------------------------------------------------
# Build

started=$(date +%s)

stage_data "$WORK/stage-data" current
normalise_tree "$WORK/stage-data"
make_data_fs "$WORK/data.ext4" hassos-data "$WORK/stage-data" "$T_NOW"

stage_data "$WORK/stage-data-old" old
normalise_tree "$WORK/stage-data-old"
make_data_fs "$WORK/data-old.ext4" hassos-data-old "$WORK/stage-data-old" "$T_OLD"

stage_overlay "$WORK/stage-overlay"
normalise_tree "$WORK/stage-overlay"
# genimage images-os.cfg: "-I 256 -E lazy_itable_init=0,lazy_journal_init=0"; the "small" profile
# gives 1 KiB blocks, as for the real 96 MiB overlay.
make_ext4 "$WORK/overlay.ext4" "$OVERLAY_MIB" hassos-overlay "$OVERLAY_UUID" "$OVERLAY_HASH_SEED" \
  "$WORK/stage-overlay" "$T_NOW" -I 256

make_boot_fs "$WORK/boot.vfat" 1

stage_supervised "$WORK/stage-rootfs"
normalise_tree "$WORK/stage-rootfs"

IMAGES=(haos-gpt.img haos-hybrid.img haos-mbr.img haos-mbr-old-logical.img haos-odroid-m1.img
  haos-external.img haos-with-old.img bare-data.img supervised-root.img haos-sample.img.gz manifest.json)
for i in "${IMAGES[@]}"; do rm -f "$OUT/$i"; done

# 1. plain GPT (generic-x86-64, ova): data p8 at 11 MiB. 32 MiB disk.
mapfile -t specs < <(haos_gpt_specs 1 1 data)
build_gpt "$OUT/haos-gpt.img" 32 6e1c0f5a-2b3d-4c8e-9f71-0a2b4c6d8e01 "${specs[@]}"

# 2. hybrid (rpi3/4, yellow, green): same GPT plus genimage's hybrid MBR.
build_gpt "$OUT/haos-hybrid.img" 32 6e1c0f5a-2b3d-4c8e-9f71-0a2b4c6d8e02 "${specs[@]}"
write_hybrid_mbr "$OUT/haos-hybrid.img" 1 1

# 3. MBR board (odroid-c2/c4/n2, khadas-vim3), genimage layout.
build_mbr_genimage "$OUT/haos-mbr.img"

# 4. old sfdisk MBR with the data as the last logical partition.
build_mbr_old_logical "$OUT/haos-mbr-old-logical.img"

# 5. odroid-m1/m1s: uboot (Microsoft reserved) at 8 MiB size 8 MiB first, then the HAOS set; data p9.
mapfile -t specs < <(echo "1|uboot|$T_MSRES|$G_UBOOT|8|8|empty"; haos_gpt_specs 2 16 data)
build_gpt "$OUT/haos-odroid-m1.img" 47 6e1c0f5a-2b3d-4c8e-9f71-0a2b4c6d8e05 "${specs[@]}"
write_hybrid_mbr "$OUT/haos-odroid-m1.img" 16 1

# 6. external data disk (§2.1): one GPT partition named hassos-data-external, fs label hassos-data.
build_gpt "$OUT/haos-external.img" 22 6e1c0f5a-2b3d-4c8e-9f71-0a2b4c6d8e06 \
  "1|hassos-data-external|$T_LINUX|$G_EXTERNAL|1|$DATA_MIB|data"

# 7. after a data-disk move, both on one disk: p8 (GPT name hassos-data, the HAOS PARTUUID) holds the
#    stale copy relabelled hassos-data-old; p9 (hassos-data-external) holds the live hassos-data.
#    Same ext4 UUID in both (e2image -ra copy).
mapfile -t specs < <(haos_gpt_specs 1 1 data-old; echo "9|hassos-data-external|$T_LINUX|$G_EXTERNAL|31|$DATA_MIB|data")
build_gpt "$OUT/haos-with-old.img" 52 6e1c0f5a-2b3d-4c8e-9f71-0a2b4c6d8e07 "${specs[@]}"

# 8. the data filesystem alone.
cp "$WORK/data.ext4" "$OUT/bare-data.img"

# 9. Debian Supervised root filesystem, no partition table.
make_ext4 "$OUT/supervised-root.img" 24 rootfs "$ROOTFS_UUID" "$ROOTFS_HASH_SEED" "$WORK/stage-rootfs" "$T_NOW" \
  -b 4096 -I 256 -i 16384

# Manifest: every partition of every image (what tests assert against).
node -e '
  const fs = require("fs");
  const [jsonl, out] = process.argv.slice(1);
  const images = {};
  for (const line of fs.readFileSync(jsonl, "utf8").split("\n").filter(Boolean)) {
    const { image, table, ...part } = JSON.parse(line);
    (images[image] ??= { table, partitions: [] }).partitions.push(part);
  }
  for (const im of Object.values(images)) im.partitions.sort((a, b) => a.number - b.number);
  images["bare-data.img"] = { table: "none", partitions: [], fs: "ext4", label: "hassos-data" };
  images["supervised-root.img"] = { table: "none", partitions: [], fs: "ext4", label: "rootfs" };
  fs.writeFileSync(out, JSON.stringify({ images }, null, 2) + "\n");
' "$MANIFEST" "$OUT/manifest.json"

# Compressed sample = haos-gpt.img (gzip -n: no name or time stamp in the header).
gzip -9 -n -c "$OUT/haos-gpt.img" >"$OUT/haos-sample.img.gz"
if [[ $UPDATE_SAMPLE == 1 ]]; then
  mkdir -p "$ROOT/fixtures/sample"
  cp "$OUT/haos-sample.img.gz" "$ROOT/fixtures/sample/haos-sample.img.gz"
fi

echo "make-fixtures: built ${#IMAGES[@]} files in $OUT in $(($(date +%s) - started)) s" >&2
if [[ $VERIFY == 1 ]]; then
  bash "$AUX/verify-fixtures.sh" "$OUT"
fi

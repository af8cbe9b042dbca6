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

# ---------------------------------------------------------------------------------------------
# Constants

MIB=1048576
SPM=2048 # 512-byte sectors per MiB

T_NOW=1748779200    # 2025-06-01T12:00:00Z: every file time in the current data filesystem
T_OLD=1738411200    # 2025-02-01T12:00:00Z: the stale hassos-data-old copy
OLD_HA_VERSION=2025.1.4

DATA_MIB=20
OVERLAY_MIB=4

# ext4 UUIDs (haos-format §1.7: the same on every device from one build; a data-disk move keeps it,
# so hassos-data-old and the moved hassos-data share one UUID, §7.2).
DATA_UUID=5a3c0e71-8d2b-4f4e-9b1a-7c6d5e4f3a21
DATA_HASH_SEED=0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0
OVERLAY_UUID=7b9d2c44-1e3f-4a5b-8c6d-2e1f0a9b8c7d
OVERLAY_HASH_SEED=1a2b3c4d-5e6f-4071-8293-a4b5c6d7e8f9
ROOTFS_UUID=c0ffee00-1234-4abc-8def-0123456789ab
ROOTFS_HASH_SEED=2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901
BOOT_VOLID=48617373

# GPT type GUIDs (§1.2, §1.3)
T_ESP=C12A7328-F81F-11D2-BA4B-00A0C93EC93B
T_LINUX=0FC63DAF-8483-4772-8E79-3D69D8477DE4
T_MSRES=E3C9E316-0B5C-4DB8-817D-F92DF00215AE

# Fixed unique partition GUIDs of every HAOS image (§1.2)
G_BOOT=b3dd0952-733c-4c88-8cba-cab9b8b4377f
G_KERNEL0=26700fc6-b0bc-4ccf-9837-ea1a4cba3e65
G_SYSTEM0=8d3d53e3-6d49-4c38-8349-aff6859e82fd
G_KERNEL1=fc02a4f0-5350-406f-93a2-56cbed636b5f
G_SYSTEM1=a3ec664e-32ce-4665-95ea-7ae90ce9aa20
G_BOOTSTATE=33236519-7f32-4dff-8002-3390b62c309d
G_OVERLAY=f1326040-5236-40eb-b683-aaa100a9afcf
G_DATA=a52a4597-fa3a-4851-aefd-2fbe9f849079
# Not fixed upstream (random per build or per move); fixed here for reproducibility.
G_UBOOT=9e5a1c3b-7d2f-4e8a-b6c4-1f0e2d3c4b5a
G_EXTERNAL=3d6f1b2a-9c8e-4d7f-a1b2-c3d4e5f60718

# ---------------------------------------------------------------------------------------------
# Staging trees

json_updater='{
  "channel": "stable"
}'

write_apparmor_profile() {
  cat >"$1" <<'EOF'
#include <tunables/global>

profile hassio-supervisor flags=(attach_disconnected,mediate_deleted) {
  #include <abstractions/base>

  capability,
  file,
  network,
  mount,
  umount,
  signal,
  ptrace,
  dbus,
}
EOF
}

# Supervisor's record for Core (§5.4.2), orjson indent 2 without trailing newline (§3.3).
# refresh_token is the Supervisor system user's token from the demo's .storage/auth (§4.5).
write_homeassistant_json() { # FILE HA_VERSION CONFIG_DIR
  node -e '
    const fs = require("fs");
    const [file, version, config] = process.argv.slice(1);
    const auth = JSON.parse(fs.readFileSync(config + "/.storage/auth", "utf8")).data;
    const hassio = JSON.parse(fs.readFileSync(config + "/.storage/hassio", "utf8")).data;
    const token = auth.refresh_tokens.find((t) => t.user_id === hassio.hassio_user);
    const rec = {
      access_token: "d1f8c0a4b2e6f3a5c7d9e1b3a5c7d9e1f3a5b7c9d1e3f5a7b9c1d3e5f7a9b1c3d5e7f9a1b3c5d7e9f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d3e5f7a9b1c3d5e7",
      audio_input: null,
      audio_output: null,
      backups_exclude_database: false,
      boot: true,
      duplicate_log_file: false,
      image: "ghcr.io/home-assistant/qemux86-64-homeassistant",
      override_image: false,
      port: 8123,
      refresh_token: token ? token.token : null,
      ssl: false,
      uuid: "4f3e2d1c0b0a49f8a7b6c5d4e3f2a1b0",
      version,
      watchdog: true,
    };
    fs.writeFileSync(file, JSON.stringify(rec, null, 2));
  ' "$1" "$2" "$3"
}

# The HA config dir: a copy of the real demo config with the committed auth_provider (known passwords).
stage_config() { # DEST HA_VERSION
  local dest=$1 version=$2
  mkdir -p "$dest"
  cp -R "$CONFIG_SRC/." "$dest/"
  chmod -R u+w "$dest"
  cp "$AUX/auth_provider.homeassistant" "$dest/.storage/auth_provider.homeassistant"
  printf '%s' "$version" >"$dest/.HA_VERSION"
}

# HAOS data filesystem tree (§3.1, §3.2). VARIANT: current | old
stage_data() { # DIR VARIANT
  local dir=$1 variant=$2 version backups
  version=$(cat "$CONFIG_SRC/.HA_VERSION")
  backups=("${BACKUPS[@]}")
  if [[ "$variant" == old ]]; then
    version=$OLD_HA_VERSION
    backups=(backup_example.tar backup_example_enc.tar) # the v3 backup came after the move
  fi
  mkdir -p "$dir"/supervisor/{backup,core/backup,apparmor/cache,share,ssl,media,tmp,dns,audio}
  mkdir -p "$dir"/supervisor/addons/{core,data,git,local}
  mkdir -p "$dir"/docker/{containers,image/overlay2,overlay2,volumes,network/files,plugins,buildkit}
  mkdir -p "$dir"/logs
  stage_config "$dir/supervisor/homeassistant" "$version"
  local b
  for b in "${backups[@]}"; do cp "$BACKUP_SRC/$b" "$dir/supervisor/backup/$b"; done
  write_homeassistant_json "$dir/supervisor/homeassistant.json" "$version" "$dir/supervisor/homeassistant"
  printf '%s' "$json_updater" >"$dir/supervisor/updater.json"
  write_apparmor_profile "$dir/supervisor/apparmor/hassio-supervisor"
}

# Stale overlay filesystem (§1.2 p7): a few files, no supervisor/ or docker/.
stage_overlay() { # DIR
  local dir=$1
  mkdir -p "$dir"/etc/NetworkManager/system-connections "$dir"/etc/docker "$dir"/etc/systemd/timesyncd.conf.d "$dir"/root/.ssh
  printf 'homeassistant\n' >"$dir/etc/hostname"
  printf '127.0.0.1\tlocalhost\n127.0.1.1\thomeassistant\n' >"$dir/etc/hosts"
}

# Debian Supervised root filesystem (§6): /etc/hassio.json + DATA_SHARE=/var/lib/homeassistant.
stage_supervised() { # DIR
  local dir=$1 share=$1/var/lib/homeassistant
  mkdir -p "$dir"/etc "$dir"/var/lib/docker "$dir"/root "$dir"/home "$dir"/tmp
  cat >"$dir/etc/hassio.json" <<'EOF'
{"supervisor":"ghcr.io/home-assistant/amd64-hassio-supervisor","machine":"qemux86-64","data":"/var/lib/homeassistant"}
EOF
  cat >"$dir/etc/os-release" <<'EOF'
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
EOF
  printf 'supervised\n' >"$dir/etc/hostname"
  mkdir -p "$share"/{backup,share,ssl,media,tmp,apparmor,addons/data}
  stage_config "$share/homeassistant" "$(cat "$CONFIG_SRC/.HA_VERSION")"
  local b
  for b in "${BACKUPS[@]}"; do cp "$BACKUP_SRC/$b" "$share/backup/$b"; done
  write_homeassistant_json "$share/homeassistant.json" "$(cat "$CONFIG_SRC/.HA_VERSION")" "$share/homeassistant"
  printf '%s' "$json_updater" >"$share/updater.json"
}

# Fixed modes: dirs 0755, files 0644; HA's private stores and Supervisor JSON 0600 (§3.3, §4.1).
normalise_tree() { # DIR
  local dir=$1
  find "$dir" -type d -exec chmod 0755 {} +
  find "$dir" -type f -exec chmod 0644 {} +
  find "$dir" -path '*/.storage/*' -type f -exec chmod 0600 {} +
  local sup
  for sup in "$dir/supervisor" "$dir/var/lib/homeassistant"; do
    [[ -d "$sup" ]] && find "$sup" -maxdepth 1 -name '*.json' -type f -exec chmod 0600 {} +
  done
  return 0
}

# ---------------------------------------------------------------------------------------------
# Filesystems

# mke2fs -d copies owner, atime, mtime and ctime from the staging tree. Owner and ctime cannot be set
# there without root, so they are rewritten afterwards with debugfs (E2FSPROGS_FAKE_TIME pins the
# creation time and superblock times).
fix_inodes() { # IMAGE STAGING EPOCH
  local image=$1 staging=$2 t=$3 cmds="$WORK/debugfs.cmds"
  (cd "$staging" && find . -mindepth 1 | sed 's|^\.||' | sort) | while IFS= read -r p; do
    printf 'sif "%s" uid 0\nsif "%s" gid 0\nsif "%s" atime @%s\nsif "%s" mtime @%s\nsif "%s" ctime @%s\nsif "%s" crtime @%s\n' \
      "$p" "$p" "$p" "$t" "$p" "$t" "$p" "$t" "$p" "$t"
  done >"$cmds"
  local out
  out=$(E2FSPROGS_FAKE_TIME=$t debugfs -w -f "$cmds" "$image" 2>&1 >/dev/null | grep -v '^debugfs [0-9]' || true)
  if [[ -n "$out" ]]; then
    echo "make-fixtures: debugfs reported: $out" >&2
    exit 1
  fi
}

make_ext4() { # IMAGE SIZE_MIB LABEL UUID HASH_SEED STAGING EPOCH [extra mkfs args...]
  local image=$1 size=$2 label=$3 uuid=$4 seed=$5 staging=$6 t=$7
  shift 7
  rm -f "$image"
  truncate -s "${size}M" "$image"
  find "$staging" -exec touch -h -d "@$t" {} +
  MKE2FS_CONFIG="$AUX/mke2fs.conf" E2FSPROGS_FAKE_TIME=$t \
    mkfs.ext4 -q -F -L "$label" -U "$uuid" -O ^orphan_file,^metadata_csum_seed \
    -E "lazy_itable_init=0,lazy_journal_init=0,root_owner=0:0,hash_seed=$seed" \
    "$@" -d "$staging" "$image"
  fix_inodes "$image" "$staging" "$t"
}

# 4 KiB blocks, 256-byte inodes, inode ratio 16384: the 1280 MiB data image's geometry (§1.7).
make_data_fs() { # IMAGE LABEL STAGING EPOCH
  make_ext4 "$1" "$DATA_MIB" "$2" "$DATA_UUID" "$DATA_HASH_SEED" "$3" "$4" -b 4096 -I 256 -i 16384
}

make_boot_fs() { # IMAGE SIZE_MIB
  rm -f "$1"
  truncate -s "${2}M" "$1"
  if [[ $HAVE_VFAT == 1 ]]; then
    mkfs.vfat --invariant -i "$BOOT_VOLID" -n hassos-boot "$1" >/dev/null 2>&1
  fi
}

# ---------------------------------------------------------------------------------------------
# Disk images

MANIFEST="$WORK/manifest.jsonl"
: >"$MANIFEST"

# put IMAGE PARTFILE START_MIB SIZE_MIB: copy a filesystem image into its partition slot.
put() {
  local image=$1 part=$2 start=$3 size=$4 bytes
  bytes=$(stat -c %s "$part")
  ((bytes <= size * MIB)) || { echo "make-fixtures: $part does not fit in $size MiB" >&2; exit 1; }
  dd if="$part" of="$image" bs=1M seek="$start" conv=notrunc,sparse status=none
}

part_file() { # CONTENT -> path of the filesystem image for that content ('' for empty)
  case "$1" in
    boot) echo "$WORK/boot.vfat" ;;
    overlay) echo "$WORK/overlay.ext4" ;;
    data) echo "$WORK/data.ext4" ;;
    data-old) echo "$WORK/data-old.ext4" ;;
    empty) echo "" ;;
    *) echo "make-fixtures: unknown content $1" >&2; exit 1 ;;
  esac
}

fs_of() { # CONTENT -> "fs label" for the manifest
  case "$1" in
    boot) [[ $HAVE_VFAT == 1 ]] && echo 'vfat hassos-boot' || echo 'none -' ;;
    overlay) echo 'ext4 hassos-overlay' ;;
    data) echo 'ext4 hassos-data' ;;
    data-old) echo 'ext4 hassos-data-old' ;;
    *) echo 'none -' ;;
  esac
}

# record IMAGE TABLE NUMBER NAME START_MIB SIZE_MIB CONTENT TYPE GUID
record() {
  local fs label
  read -r fs label <<<"$(fs_of "$7")"
  printf '{"image":"%s","table":"%s","number":%s,"name":"%s","startLba":%s,"sectors":%s,"offsetBytes":%s,"sizeBytes":%s,"fs":"%s","label":"%s","type":"%s","guid":"%s"}\n' \
    "$(basename "$1")" "$2" "$3" "$4" $(($5 * SPM)) $(($6 * SPM)) $(($5 * MIB)) $(($6 * MIB)) \
    "$fs" "$label" "$8" "$9" >>"$MANIFEST"
}

# build_gpt IMAGE DISK_MIB DISK_GUID SPEC...   SPEC = "num|name|type|guid|start_mib|size_mib|content"
build_gpt() {
  local image=$1 disk=$2 dguid=$3
  shift 3
  rm -f "$image"
  truncate -s "${disk}M" "$image"
  local args=(-o -U "$dguid") spec num name type guid start size content
  for spec in "$@"; do
    IFS='|' read -r num name type guid start size content <<<"$spec"
    args+=(-n "$num:$((start * SPM)):$(((start + size) * SPM - 1))" -t "$num:$type" -u "$num:$guid" -c "$num:$name")
  done
  sgdisk "${args[@]}" "$image" >/dev/null
  for spec in "$@"; do
    IFS='|' read -r num name type guid start size content <<<"$spec"
    local f
    f=$(part_file "$content")
    [[ -z "$f" ]] || put "$image" "$f" "$start" "$size"
    record "$image" gpt "$num" "$name" "$start" "$size" "$content" "$type" "$guid"
  done
}

# Hybrid MBR as genimage writes it (§1.5): the boot partition (0x0C, not bootable) then a 0xEE entry
# from LBA 1 covering only the GPT header and entries (gpt_location/512 + 33 - 2 = 33 sectors).
# Disk signature 0: hdimage-hybrid.cfg sets none.
write_hybrid_mbr() { # IMAGE BOOT_START_MIB BOOT_SIZE_MIB
  node "$AUX/write-mbr.mjs" "$1" "{\"signature\":0,\"entries\":[
    {\"boot\":false,\"type\":12,\"lba\":$(($2 * SPM)),\"sectors\":$(($3 * SPM))},
    {\"boot\":false,\"type\":238,\"lba\":1,\"sectors\":33}]}"
}

# HAOS GPT partition set (§1.2) starting at FIRST_MIB with partition numbers from FIRST_NUM.
# Sizes: 1 MiB each, overlay 4 MiB, data 20 MiB. Echoes specs, one per line.
haos_gpt_specs() { # FIRST_NUM FIRST_MIB DATA_CONTENT
  local n=$1 m=$2 data=$3
  echo "$((n + 0))|hassos-boot|$T_ESP|$G_BOOT|$((m + 0))|1|boot"
  echo "$((n + 1))|hassos-kernel0|$T_LINUX|$G_KERNEL0|$((m + 1))|1|empty"
  echo "$((n + 2))|hassos-system0|$T_LINUX|$G_SYSTEM0|$((m + 2))|1|empty"
  echo "$((n + 3))|hassos-kernel1|$T_LINUX|$G_KERNEL1|$((m + 3))|1|empty"
  echo "$((n + 4))|hassos-system1|$T_LINUX|$G_SYSTEM1|$((m + 4))|1|empty"
  echo "$((n + 5))|hassos-bootstate|$T_LINUX|$G_BOOTSTATE|$((m + 5))|1|empty"
  echo "$((n + 6))|hassos-overlay|$T_LINUX|$G_OVERLAY|$((m + 6))|$OVERLAY_MIB|overlay"
  echo "$((n + 7))|hassos-data|$T_LINUX|$G_DATA|$((m + 6 + OVERLAY_MIB))|$DATA_MIB|$data"
}

# MBR board layout exactly as genimage builds it from partitions-os-mbr.cfg (§1.4):
# p1 boot 0x0C bootable, p2 [Extended] 0x0F, p3 overlay, p4 data (forced-primary); logical p5-p9 in
# p2, each with its EBR 1 MiB (align) before it; physical order boot, p5..p9, p3, p4.
build_mbr_genimage() { # IMAGE
  local image=$1
  local boot=1 ext=2 overlay=12 data=16 disk=$((16 + DATA_MIB))
  local logical_names=(hassos-kernel0 hassos-system0 hassos-kernel1 hassos-system1 hassos-bootstate)
  rm -f "$image"
  truncate -s "${disk}M" "$image"
  local ext_start=$((ext * SPM)) ext_size=$((10 * SPM)) ebrs="" i
  for i in 0 1 2 3 4; do
    local start=$((3 + 2 * i)) ebr=$(((2 + 2 * i) * SPM)) link=""
    if ((i < 4)); then
      local next=$((3 + 2 * (i + 1)))
      link=",{\"type\":15,\"lba\":$(((next - 1) * SPM - ext_start)),\"sectors\":$((2 * SPM)),\"base\":$ext_start}"
    fi
    ebrs+="${ebrs:+,}{\"lba\":$ebr,\"entries\":[{\"type\":131,\"lba\":$SPM,\"sectors\":$SPM,\"base\":$ebr}$link]}"
  done
  node "$AUX/write-mbr.mjs" "$image" "{\"signature\":$((0x48617373)),\"entries\":[
    {\"boot\":true,\"type\":12,\"lba\":$((boot * SPM)),\"sectors\":$SPM},
    {\"boot\":false,\"type\":15,\"lba\":$ext_start,\"sectors\":$ext_size},
    {\"boot\":false,\"type\":131,\"lba\":$((overlay * SPM)),\"sectors\":$((OVERLAY_MIB * SPM))},
    {\"boot\":false,\"type\":131,\"lba\":$((data * SPM)),\"sectors\":$((DATA_MIB * SPM))}],
    \"ebrs\":[$ebrs]}"
  put "$image" "$WORK/boot.vfat" "$boot" 1
  put "$image" "$WORK/overlay.ext4" "$overlay" "$OVERLAY_MIB"
  put "$image" "$WORK/data.ext4" "$data" "$DATA_MIB"
  record "$image" mbr 1 hassos-boot "$boot" 1 boot 0x0c ""
  record "$image" mbr 2 "" "$ext" 10 empty 0x0f ""
  record "$image" mbr 3 hassos-overlay "$overlay" "$OVERLAY_MIB" overlay 0x83 ""
  record "$image" mbr 4 hassos-data "$data" "$DATA_MIB" data 0x83 ""
  for i in 0 1 2 3 4; do
    record "$image" mbr $((5 + i)) "${logical_names[$i]}" $((3 + 2 * i)) 1 empty 0x83 ""
  done
}

# Old (OS <= 12.3, sfdisk-written) MBR: boot at 8 MiB (SPL area before it), extended type 0x05, and
# every other partition logical, so the data filesystem is logical p11 (the last one).
build_mbr_old_logical() { # IMAGE
  local image=$1 disk=$((25 + DATA_MIB + 1))
  rm -f "$image"
  truncate -s "${disk}M" "$image"
  sfdisk -q "$image" >/dev/null <<EOF
label: dos
label-id: 0x48617373
unit: sectors

start=$((8 * SPM)), size=$((1 * SPM)), type=c, bootable
start=$((9 * SPM)), size=$(((25 + DATA_MIB - 9) * SPM)), type=5
start=$((10 * SPM)), size=$((1 * SPM)), type=83
start=$((12 * SPM)), size=$((1 * SPM)), type=83
start=$((14 * SPM)), size=$((1 * SPM)), type=83
start=$((16 * SPM)), size=$((1 * SPM)), type=83
start=$((18 * SPM)), size=$((1 * SPM)), type=83
start=$((20 * SPM)), size=$((OVERLAY_MIB * SPM)), type=83
start=$((25 * SPM)), size=$((DATA_MIB * SPM)), type=83
EOF
  put "$image" "$WORK/boot.vfat" 8 1
  put "$image" "$WORK/overlay.ext4" 20 "$OVERLAY_MIB"
  put "$image" "$WORK/data.ext4" 25 "$DATA_MIB"
  record "$image" mbr 1 hassos-boot 8 1 boot 0x0c ""
  record "$image" mbr 2 "" 9 $((25 + DATA_MIB - 9)) empty 0x05 ""
  local names=(hassos-kernel0 hassos-system0 hassos-kernel1 hassos-system1 hassos-bootstate) i
  for i in 0 1 2 3 4; do record "$image" mbr $((5 + i)) "${names[$i]}" $((10 + 2 * i)) 1 empty 0x83 ""; done
  record "$image" mbr 10 hassos-overlay 20 "$OVERLAY_MIB" overlay 0x83 ""
  record "$image" mbr 11 hassos-data 25 "$DATA_MIB" data 0x83 ""
}

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

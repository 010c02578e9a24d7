#!/usr/bin/env bash
# Side-by-side benchmark: holdfast vs restic vs borg vs `tar | zstd -T2 -3`, same data,
# same run, interleaved per round (each round runs every tool on a step before the next
# step, so a change in machine load hits all of them alike).
#
#   bench/run.sh [--size MB] [--quick] [--rounds N] [--sets LIST] [--tools LIST]
#                [--files N] [--out FILE]
#
#   --size MB     size of the mixed set (default 500, which writes about 471 MB)
#   --quick       mixed set of 100 MB, a 256 MiB single file, no small-file set, 1 round
#   --rounds N    rounds (default 3; the table shows the median of N)
#   --sets LIST   comma-separated subset of: mixed,small,big (default all; quick: mixed,big)
#   --tools LIST  comma-separated subset of: holdfast,restic,borg,tar+zstd (default all)
#   --files N     files in the small-file set (default 200000)
#   --out FILE    also keep the raw measurements (TSV) in FILE
#
# Data sets, all from fixed seeds: `mixed` (gen_data.py: small JSON, logs, incompressible
# uploads, duplicates), `small` (200,000 files of 0.2-4 KiB), `big` (one 1 GiB file of
# 4 MiB blocks, random and text alternating). Steps: first backup, unchanged backup,
# backup after a 1 % change (mixed and small), restore. The page cache is warm for every
# tool alike. Each command runs under /usr/bin/time: wall, user+sys CPU seconds, cores
# (CPU s / wall) and peak RSS; the 1-minute load average is read before each command.
# On a shared machine read CPU seconds and ratios, not wall seconds. HOLDFAST_BIN=PATH
# benchmarks that holdfast binary instead of building this checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

size_mb=500 quick=0 rounds=3 sets="" out="" tools=holdfast,restic,borg,tar+zstd small_count=200000
while [ $# -gt 0 ]; do
  case $1 in
    --size) size_mb=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    --rounds) rounds=$2; shift 2 ;;
    --sets) sets=$2; shift 2 ;;
    --tools) tools=$2; shift 2 ;;
    --files) small_count=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "bench: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
big_mb=1024
if [ "$quick" = 1 ]; then
  [ "$size_mb" = 500 ] && size_mb=100
  big_mb=256
  [ -z "$sets" ] && sets=mixed,big
  [ "$rounds" = 3 ] && rounds=1
fi
[ -z "$sets" ] && sets=mixed,small,big
case $rounds in ''|*[!0-9]*|0) echo "bench: --rounds needs a positive number" >&2; exit 2 ;; esac
case $size_mb in ''|*[!0-9]*|0) echo "bench: --size needs a positive number of MB" >&2; exit 2 ;; esac
case $small_count in ''|*[!0-9]*|0) echo "bench: --files needs a positive number" >&2; exit 2 ;; esac
for t in ${tools//,/ }; do
  case $t in holdfast|restic|borg|tar+zstd) ;; *) echo "bench: unknown tool $t (holdfast, restic, borg, tar+zstd)" >&2; exit 2 ;; esac
done
use() { [[ ",$tools," == *",$1,"* ]]; }

for tool in restic borg zstd tar /usr/bin/time python3; do
  command -v "$tool" >/dev/null || {
    echo "bench: $tool is missing (apt-get install restic borgbackup zstd time python3)" >&2
    exit 1
  }
done
# HOLDFAST_BIN benchmarks another build (say, the one before a change) instead.
if [ -n "${HOLDFAST_BIN:-}" ]; then
  hf=$(realpath "$HOLDFAST_BIN")
else
  cargo build --release --locked -p holdfast >/dev/null
  hf=$PWD/target/release/holdfast
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
results=$work/results.tsv
: >"$results"
export HOLDFAST_PASSWORD=bench RESTIC_PASSWORD=bench BORG_PASSPHRASE=bench
export RESTIC_CACHE_DIR=$work/cache/restic BORG_BASE_DIR=$work/cache/borg
export HOLDFAST_CACHE_DIR=$work/cache/holdfast
export BORG_RELOCATED_REPO_ACCESS_IS_OK=yes BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes

# Generates each set once; every round backs up a fresh copy (the 1 % change mutates it).
gen() { # set dir
  case $1 in
    mixed) python3 bench/gen_data.py "$2" "$size_mb" 7 ;;
    small) python3 bench/gen_data.py --small "$2" "$small_count" 7 ;;
    big) python3 bench/gen_data.py --big "$2/volume.bin" "$big_mb" 7 ;;
  esac
}

measure() { # set step tool cmd...
  local set=$1 step=$2 tool=$3; shift 3
  use "$tool" || return 0
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$@" >/dev/null 2>"$work/err" || {
    echo "bench: $tool $step on $set failed:" >&2
    cat "$work/err" >&2
    exit 1
  }
  read -r wall user sys rss <"$work/time"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$set" "$step" "$tool" "$wall" "$user" "$sys" "$rss" "$load" >>"$results"
}

record_size() { # set tool path
  use "$2" || return 0
  printf '%s\t%s\trepo_bytes\t%s\t%s\t0\t0\t0\t0\n' "$round" "$1" "$2" "$(du -sb "$3" | cut -f1)" >>"$results"
}

warm() { tar -cf - -C "$1" . | cat >/dev/null; }

IFS=, read -r -a set_list <<<"$sets"
for set in "${set_list[@]}"; do
  case $set in mixed|small|big) ;; *) echo "bench: unknown set $set (mixed, small, big)" >&2; exit 2 ;; esac
  echo "bench: generating the $set set" >&2
  gen "$set" "$work/base-$set"
done

for round in $(seq 1 "$rounds"); do
  for set in "${set_list[@]}"; do
    echo "bench: round $round, $set" >&2
    d=$work/data-$set r=$work/r$round-$set
    rm -rf "$d" "$work"/repo-* "$work"/out-* "$work/cache"
    cp -a "$work/base-$set" "$d"
    mkdir -p "$r"
    "$hf" init --repo "file://$r/hf" >/dev/null
    restic init --repo "$r/restic" >/dev/null 2>&1
    borg init --encryption repokey "$r/borg" >/dev/null 2>&1
    warm "$d"
    measure "$set" first holdfast "$hf" backup --repo "file://$r/hf" "$d"
    measure "$set" first restic restic backup --repo "$r/restic" --host bench "$d"
    measure "$set" first borg borg create --compression zstd,3 "$r/borg::first" "$d"
    measure "$set" first tar+zstd bash -c "tar -cf - -C '$d' . | zstd -T2 -3 -q -o '$r/data.tar.zst'"
    record_size "$set" holdfast "$r/hf"
    record_size "$set" restic "$r/restic"
    record_size "$set" borg "$r/borg"
    record_size "$set" tar+zstd "$r/data.tar.zst"
    measure "$set" unchanged holdfast "$hf" backup --repo "file://$r/hf" "$d"
    measure "$set" unchanged restic restic backup --repo "$r/restic" --host bench "$d"
    measure "$set" unchanged borg borg create --compression zstd,3 "$r/borg::unchanged" "$d"
    if [ "$set" != big ]; then
      python3 bench/gen_data.py --mutate "$d" 7 1
      warm "$d"
      measure "$set" changed-1% holdfast "$hf" backup --repo "file://$r/hf" "$d"
      measure "$set" changed-1% restic restic backup --repo "$r/restic" --host bench "$d"
      measure "$set" changed-1% borg borg create --compression zstd,3 "$r/borg::changed" "$d"
    fi
    measure "$set" restore holdfast "$hf" restore latest --repo "file://$r/hf" --target "$work/out-hf"
    measure "$set" restore restic restic restore latest --repo "$r/restic" --target "$work/out-restic"
    mkdir -p "$work/out-borg"
    measure "$set" restore borg bash -c "cd '$work/out-borg' && borg extract '$r/borg::$( [ "$set" = big ] && echo unchanged || echo changed)'"
    mkdir -p "$work/out-tar"
    measure "$set" restore tar+zstd bash -c "zstd -d -T2 -q -c '$r/data.tar.zst' | tar -xf - -C '$work/out-tar'"
    if [ "$round" = 1 ] && use holdfast; then
      diff -r "$d" "$work/out-hf" >/dev/null || { echo "bench: holdfast's restore of $set differs from the data" >&2; exit 1; }
    fi
    rm -rf "$r" "$work"/out-*
  done
done

[ -n "$out" ] && cp "$results" "$out"
python3 bench/report.py "$results" "$rounds"
echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
echo "versions: $("$hf" version 2>/dev/null | head -1), $(restic version | cut -d' ' -f1-2), $(borg --version), $(zstd --version | head -1 | cut -d, -f1 | sed 's/\*\** //')"

#!/usr/bin/env bash
# Side-by-side benchmark: holdfast vs restic vs borg vs `tar | zstd -T2 -3`, same data,
# same run, interleaved per round (each round runs every tool on a step before the next
# step, so a change in machine load hits all of them alike).
#
#   bench/run.sh [--size MB] [--quick] [--rounds N] [--sets LIST] [--tools LIST]
#                [--files N] [--big MB] [--s3] [--s3-latency LIST] [--prune] [--out FILE]
#
#   --size MB     size of the mixed set (default 500, which writes about 471 MB)
#   --quick       mixed set of 100 MB, a 256 MiB single file, no small-file set, 1 round
#   --rounds N    rounds (default 3; the table shows the median of N)
#   --sets LIST   comma-separated subset of: mixed,small,big (default all; quick: mixed,big)
#   --tools LIST  comma-separated subset of: holdfast,restic,borg,tar+zstd (default all)
#   --files N     files in the small-file set (default 200000)
#   --big MB      size of the single file of the big set (default 1024)
#   --s3          also, on the mixed set: first backup to Garage and a restore from it with
#                 the local cache deleted (holdfast and restic); needs the test servers:
#                 scripts/test.sh --servers-only bench/run.sh --s3 …
#   --s3-latency LIST  implies --s3; for each comma-separated delay in ms (say 0,20,60),
#                 a cold restore from Garage through bench/latency_proxy.py, a loopback
#                 proxy adding that delay to every request: holdfast, `restic restore &&
#                 sync`, and the link's own limit (`link`: the same packs read with as
#                 many concurrent `curl` range requests through the same proxy)
#   --prune       also, on the mixed set: 30 daily backups (each after a 1 % change), then
#                 forget keeping 7 dailies and prune (holdfast with --instant-delete, as
#                 restic and borg delete at once; borg: prune and compact)
#   --out FILE    also keep the raw measurements (TSV) in FILE
#
# Data sets, all from fixed seeds: `mixed` (gen_data.py: small JSON, logs, incompressible
# uploads, duplicates), `small` (200,000 files of 0.2-4 KiB), `big` (one 1 GiB file of
# 4 MiB blocks, random and text alternating). Steps: first backup, unchanged backup,
# backup after a 1 % change (mixed and small), restore (restic also with a `sync` of what
# it wrote, as holdfast's restore ends with its data on disk). The page cache is warm for every
# tool alike. Each command runs under /usr/bin/time: wall, user+sys CPU seconds, cores
# (CPU s / wall) and peak RSS; the 1-minute load average is read before each command.
# On a shared machine read CPU seconds and ratios, not wall seconds. HOLDFAST_BIN=PATH
# benchmarks that holdfast binary instead of building this checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

size_mb=500 quick=0 rounds=3 sets="" out="" tools=holdfast,restic,borg,tar+zstd small_count=200000 big_mb= s3="" prune=0
s3_latency="" link_n=32 link_span_mib=8
while [ $# -gt 0 ]; do
  case $1 in
    --size) size_mb=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    --rounds) rounds=$2; shift 2 ;;
    --sets) sets=$2; shift 2 ;;
    --tools) tools=$2; shift 2 ;;
    --files) small_count=$2; shift 2 ;;
    --big) big_mb=$2; shift 2 ;;
    --prune) prune=1; shift ;;
    --out) out=$2; shift 2 ;;
    --s3) s3=${HOLDFAST_TEST_S3_URL:?--s3 needs the test servers: scripts/test.sh --servers-only bench/run.sh --s3}; shift ;;
    --s3-latency)
      s3=${HOLDFAST_TEST_S3_URL:?--s3-latency needs the test servers: scripts/test.sh --servers-only bench/run.sh --s3-latency 0,20,60}
      s3_latency=$2; shift 2 ;;
    -h|--help) sed -n '2,33p' "$0"; exit 0 ;;
    *) echo "bench: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ "$quick" = 1 ]; then
  [ "$size_mb" = 500 ] && size_mb=100
  [ -z "$big_mb" ] && big_mb=256
  [ -z "$sets" ] && sets=mixed,big
  [ "$rounds" = 3 ] && rounds=1
fi
[ -z "$sets" ] && sets=mixed,small,big
[ -z "$big_mb" ] && big_mb=1024
case $big_mb in ''|*[!0-9]*|0) echo "bench: --big needs a positive number of MB" >&2; exit 2 ;; esac
case $rounds in ''|*[!0-9]*|0) echo "bench: --rounds needs a positive number" >&2; exit 2 ;; esac
case $size_mb in ''|*[!0-9]*|0) echo "bench: --size needs a positive number of MB" >&2; exit 2 ;; esac
for ms in ${s3_latency//,/ }; do
  case $ms in ''|*[!0-9]*) echo "bench: --s3-latency needs delays in ms, like 0,20,60" >&2; exit 2 ;; esac
done
case $small_count in ''|*[!0-9]*|0) echo "bench: --files needs a positive number" >&2; exit 2 ;; esac
for t in ${tools//,/ }; do
  case $t in holdfast|restic|borg|tar+zstd) ;; *) echo "bench: unknown tool $t (holdfast, restic, borg, tar+zstd)" >&2; exit 2 ;; esac
done
use() { [[ ",$tools," == *",$1,"* ]]; }
for set in ${sets//,/ }; do
  case $set in mixed|small|big) ;; *) echo "bench: unknown set $set (mixed, small, big)" >&2; exit 2 ;; esac
done

for tool in restic borg zstd tar /usr/bin/time python3 curl; do
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
proxy_pid=""
trap '[ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null; rm -rf "$work"' EXIT
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
  [ "$tool" = link ] || use "$tool" || return 0
  local load
  settle
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

# Starts bench/latency_proxy.py in front of port $1 with $2 ms per request; sets
# proxy_pid and proxy_port.
start_proxy() { # upstream-port delay-ms
  rm -f "$work/proxy-port"
  python3 bench/latency_proxy.py "$1" "$2" "$work/proxy-port" &
  proxy_pid=$!
  for _ in $(seq 1 100); do
    [ -s "$work/proxy-port" ] && break
    kill -0 "$proxy_pid" 2>/dev/null || { echo "bench: the latency proxy did not start" >&2; exit 1; }
    sleep 0.1
  done
  proxy_port=$(cat "$work/proxy-port")
}
stop_proxy() {
  if [ -n "$proxy_pid" ]; then
    kill "$proxy_pid" 2>/dev/null || true
    wait "$proxy_pid" 2>/dev/null || true
  fi
  proxy_pid=""
}

# Writes out what earlier steps left dirty, before each measured command and after each
# deletion, so no tool pays for another's writing. ext4 does not hand out an inode freed
# in the last 300 s while its inode table block is unwritten (5 s once written), and
# searching past such inodes made a restore spend seconds of system time creating files
# (`recently_deleted` in a profile): the tool measured next paid for the files the
# previous one deleted. Every restore also gets a directory of its own.
settle() { sync; }

IFS=, read -r -a set_list <<<"$sets"
for set in "${set_list[@]}"; do
  echo "bench: generating the $set set" >&2
  gen "$set" "$work/base-$set"
done

for round in $(seq 1 "$rounds"); do
  for set in "${set_list[@]}"; do
    echo "bench: round $round, $set" >&2
    d=$work/data-$set r=$work/r$round-$set
    rm -rf "$d" "$work"/repo-* "$work"/out-* "$work/cache"
    settle
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
    # holdfast's restore ends with its data on disk (syncfs); restic's does not, so restic
    # is also timed with a sync of what it wrote, for the like-for-like figure.
    measure "$set" restore+sync restic bash -c "restic restore latest --repo '$r/restic' --target '$work/out-restic-sync' && sync -f '$work/out-restic-sync'"
    mkdir -p "$work/out-borg"
    measure "$set" restore borg bash -c "cd '$work/out-borg' && borg extract '$r/borg::$( [ "$set" = big ] && echo unchanged || echo changed)'"
    mkdir -p "$work/out-tar"
    measure "$set" restore tar+zstd bash -c "zstd -d -T2 -q -c '$r/data.tar.zst' | tar -xf - -C '$work/out-tar'"
    if [ -n "$s3" ] && [ "$set" = mixed ]; then
      # Garage: the same data to a fresh prefix each, then a restore with no local cache.
      pfx="bench-$$-$round"
      hf_s3="${s3%%\?*}/$pfx?${s3#*\?}"
      endpoint=$(sed -n 's/.*endpoint=\([^&]*\).*/\1/p' <<<"$s3")
      bucket=$(sed -n 's#^s3://\([^/?]*\).*#\1#p' <<<"$s3")
      restic_s3="s3:$endpoint/$bucket/$pfx-restic"
      use holdfast && "$hf" init --repo "$hf_s3" >/dev/null
      use restic && restic init --repo "$restic_s3" >/dev/null 2>&1
      measure "$set" first-s3 holdfast "$hf" backup --repo "$hf_s3" "$d"
      measure "$set" first-s3 restic restic backup --repo "$restic_s3" --host bench "$d"
      rm -rf "$work/cache"
      measure "$set" restore-s3-cold holdfast "$hf" restore latest --repo "$hf_s3" --target "$work/out-hf-s3"
      rm -rf "$work/cache"
      measure "$set" restore-s3-cold restic restic restore latest --repo "$restic_s3" --target "$work/out-restic-s3"
      if use holdfast; then
        diff -r "$d" "$work/out-hf-s3" >/dev/null || { echo "bench: holdfast's restore from Garage differs from the data" >&2; exit 1; }
      fi
      upstream_port=$(sed -n 's#.*127\.0\.0\.1:\([0-9]*\).*#\1#p' <<<"$endpoint")
      for ms in ${s3_latency//,/ }; do
        # A cold restore through the latency proxy: holdfast, restic with a sync of what
        # it wrote, and the link's own limit for the same packs.
        start_proxy "$upstream_port" "$ms"
        via="http://127.0.0.1:$proxy_port"
        hf_via="${hf_s3/$endpoint/$via}"
        step="restore-s3-${ms}ms"
        rm -rf "$work/cache"
        measure "$set" "$step" holdfast "$hf" restore latest --repo "$hf_via" --target "$work/out-hf-s3-$ms"
        rm -rf "$work/cache"
        measure "$set" "$step" restic bash -c "restic restore latest --repo 's3:$via/$bucket/$pfx-restic' --target '$work/out-restic-s3-$ms' && sync -f '$work/out-restic-s3-$ms'"
        python3 bench/link_limit.py "$via" "$bucket" "$pfx" "$link_span_mib" >"$work/link-ranges"
        measure "$set" "$step" link bash -c "xargs -P $link_n -n 2 sh -c 'curl -sf -o /dev/null -r \"\$1\" -H \"x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\" --aws-sigv4 \"aws:amz:\${AWS_REGION:-garage}:s3\" --user \"\$AWS_ACCESS_KEY_ID:\$AWS_SECRET_ACCESS_KEY\" \"\$0\"' <'$work/link-ranges'"
        stop_proxy
        if use holdfast; then
          diff -r "$d" "$work/out-hf-s3-$ms" >/dev/null || { echo "bench: holdfast's restore through the $ms ms proxy differs from the data" >&2; exit 1; }
        fi
        rm -rf "$work/out-hf-s3-$ms" "$work/out-restic-s3-$ms"
        settle
      done
    fi
    if [ "$round" = 1 ] && use holdfast; then
      diff -r "$d" "$work/out-hf" >/dev/null || { echo "bench: holdfast's restore of $set differs from the data" >&2; exit 1; }
    fi
    if [ "$prune" = 1 ] && [ "$set" = mixed ]; then
      # 30 dailies on top of the snapshots above (after the restore check), then keep 7 of them.
      for day in $(seq 1 30); do
        python3 bench/gen_data.py --mutate "$d" "$((100 + day))" 1
        ts=$(date -u -d "2026-01-01 +$day days" +%Y-%m-%dT12:00:00)
        use holdfast && "$hf" backup --repo "file://$r/hf" --time "${ts}Z" "$d" >/dev/null
        use restic && restic backup --repo "$r/restic" --host bench --time "${ts/T/ }" "$d" >/dev/null
        use borg && borg create --compression zstd,3 --timestamp "$ts" "$r/borg::day-$day" "$d" >/dev/null
      done
      measure "$set" forget+prune holdfast "$hf" forget --repo "file://$r/hf" --keep-daily 7 --prune --instant-delete
      measure "$set" forget+prune restic restic forget --repo "$r/restic" --keep-daily 7 --prune
      measure "$set" forget+prune borg bash -c "borg prune --keep-daily 7 '$r/borg' && borg compact '$r/borg'"
    fi
    rm -rf "$r" "$work"/out-*
    settle
  done
done

[ -n "$out" ] && cp "$results" "$out"
python3 bench/report.py "$results" "$rounds"
echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
echo "versions: $("$hf" version 2>/dev/null | head -1), $(restic version | cut -d' ' -f1-2), $(borg --version), $(zstd --version | head -1 | cut -d, -f1 | sed 's/\*\** //')"

#!/usr/bin/env bash
# Side-by-side benchmark: holdfast vs restic vs tar|zstd on the same data, in one run.
#
#   bench/run.sh [SIZE_MB]        (default 500)
#
# Measures, with the page cache warm: first backup, unchanged second backup, backup
# after a ~2 % change, restore, repository size and peak memory (RSS) of each tool, and
# prints each holdfast figure as a ratio of restic's. Times on a shared machine vary:
# read the ratios, not the absolute seconds. Needs restic and zstd (Debian packages).
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-500}
for tool in restic zstd tar /usr/bin/time python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing (apt-get install restic zstd time)" >&2; exit 1; }
done
cargo build --release --locked -p holdfast >/dev/null
hf=$PWD/target/release/holdfast
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
data=$work/data
echo "bench: generating ${size_mb} MB of mixed data" >&2
python3 bench/gen_data.py "$data" "$size_mb" 7
export HOLDFAST_PASSWORD=bench RESTIC_PASSWORD=bench
# warm the page cache
tar -cf - -C "$data" . | cat >/dev/null

declare -A secs rss
measure() { # name cmd...
  local name=$1; shift
  local out=$work/time.$name
  /usr/bin/time -f '%e %M' -o "$out" "$@" >/dev/null 2>"$work/err.$name" || { cat "$work/err.$name" >&2; exit 1; }
  read -r secs[$name] rss[$name] <"$out"
}

"$hf" init --repo "file://$work/hf" >/dev/null
restic init --repo "$work/restic" >/dev/null
measure hf_first "$hf" backup --repo "file://$work/hf" "$data"
measure restic_first restic backup --repo "$work/restic" --host bench "$data"
measure tar_zstd bash -c "tar -cf - -C '$data' . | zstd -T2 -3 -q -o '$work/data.tar.zst'"
measure hf_second "$hf" backup --repo "file://$work/hf" "$data"
measure restic_second restic backup --repo "$work/restic" --host bench "$data"
python3 bench/gen_data.py --mutate "$data" 7
measure hf_changed "$hf" backup --repo "file://$work/hf" "$data"
measure restic_changed restic backup --repo "$work/restic" --host bench "$data"
measure hf_restore "$hf" restore latest --repo "file://$work/hf" --target "$work/r-hf"
measure restic_restore restic restore latest --repo "$work/restic" --target "$work/r-restic"
diff -r "$data" "$work/r-hf" >/dev/null || { echo "bench: holdfast restore differs from the data" >&2; exit 1; }

hf_size=$(du -sb "$work/hf" | cut -f1)
restic_size=$(du -sb "$work/restic" | cut -f1)
tar_size=$(stat -c %s "$work/data.tar.zst")
data_size=$(du -sb "$data" | cut -f1)

ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{a/b:.2f}' if b else 'n/a')" "$1" "$2"; }
printf '\n%-22s %10s %10s %10s %8s\n' "data ${data_size} B" holdfast restic tar+zstd "hf/restic"
printf '%-22s %10s %10s %10s %8s\n' "first backup (s)" "${secs[hf_first]}" "${secs[restic_first]}" "${secs[tar_zstd]}" "$(ratio "${secs[hf_first]}" "${secs[restic_first]}")"
printf '%-22s %10s %10s %10s %8s\n' "unchanged backup (s)" "${secs[hf_second]}" "${secs[restic_second]}" - "$(ratio "${secs[hf_second]}" "${secs[restic_second]}")"
printf '%-22s %10s %10s %10s %8s\n' "2% changed backup (s)" "${secs[hf_changed]}" "${secs[restic_changed]}" - "$(ratio "${secs[hf_changed]}" "${secs[restic_changed]}")"
printf '%-22s %10s %10s %10s %8s\n' "restore (s)" "${secs[hf_restore]}" "${secs[restic_restore]}" - "$(ratio "${secs[hf_restore]}" "${secs[restic_restore]}")"
printf '%-22s %10s %10s %10s %8s\n' "repository (B)" "$hf_size" "$restic_size" "$tar_size" "$(ratio "$hf_size" "$restic_size")"
printf '%-22s %10s %10s %10s %8s\n' "peak RSS first (KiB)" "${rss[hf_first]}" "${rss[restic_first]}" "${rss[tar_zstd]}" "$(ratio "${rss[hf_first]}" "${rss[restic_first]}")"
printf '%-22s %10s %10s %10s %8s\n' "peak RSS restore (KiB)" "${rss[hf_restore]}" "${rss[restic_restore]}" - "$(ratio "${rss[hf_restore]}" "${rss[restic_restore]}")"

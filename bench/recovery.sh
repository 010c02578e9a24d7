#!/usr/bin/env bash
# Disaster-recovery drill: how long it takes to get a volume back on an empty machine
# from the repository URL and the password alone.
#
#   bench/recovery.sh [URL]                     a file:// repository in a temporary directory by default
#   scripts/test.sh --servers-only bench/recovery.sh "$HOLDFAST_TEST_S3_URL"    Garage (S3)
#
# Generates a volume of a few thousand files (bench/gen_data.py's SIZE_MB, default 70, plus
# 2500 small files, about 100 MB in all), backs it up, then —
# in an empty directory with an empty cache, in an environment holding only PATH, the
# password and the store's credentials — lists the snapshots and restores the latest
# into an empty directory, compares it with the original byte for byte, and prints the
# times and the load average. HOLDFAST_BIN picks the binary (default: a release build).
set -euo pipefail
cd "$(dirname "$0")/.."
url=${1:-}
size_mb=${SIZE_MB:-70}
hf=${HOLDFAST_BIN:-$PWD/target/release/holdfast}
if [ ! -x "$hf" ]; then
  cargo build --release --locked -p holdfast >/dev/null
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tag="drill-$(date +%s)-$$"
case "$url" in
  "") url="file://$work/repo" ;;
  *\?*) url="${url%%\?*}/$tag?${url#*\?}" ;;
  *) url="$url/$tag" ;;
esac
password="recovery drill $tag"

python3 bench/gen_data.py "$work/volume" "$size_mb" 11
# and the many small files of an app volume (avatars, JSON, thumbnails): 2500 of 1-8 KiB
python3 - "$work/volume/small" <<'PY'
import os, random, sys
rng = random.Random(5)
for i in range(2500):
    d = os.path.join(sys.argv[1], f"{i % 50:02d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"{i:05d}.bin"), "wb") as f:
        f.write(rng.randbytes(rng.randint(1024, 8192)))
PY
files=$(find "$work/volume" -type f | wc -l)
bytes=$(du -sb "$work/volume" | cut -f1)
HOLDFAST_PASSWORD=$password "$hf" --repo "$url" init >/dev/null
HOLDFAST_PASSWORD=$password "$hf" --repo "$url" backup "$work/volume" --tag drill >/dev/null

# The empty machine: no config, no cache, no holdfast variables.
mkdir "$work/empty"
clean_env=(env -i "PATH=$PATH" "HOME=$work/empty" "HOLDFAST_PASSWORD=$password")
for v in AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION AWS_ENDPOINT_URL \
         AZURE_STORAGE_ACCOUNT AZURE_STORAGE_KEY AZURE_STORAGE_CONNECTION_STRING; do
  if [ -n "${!v:-}" ]; then clean_env+=("$v=${!v}"); fi
done
now() { date +%s.%N; }
t0=$(now)
(cd "$work/empty" && "${clean_env[@]}" "$hf" --repo "$url" snapshots >/dev/null)
t1=$(now)
(cd "$work/empty" && "${clean_env[@]}" "$hf" --repo "$url" restore latest --target "$work/empty/restored" >/dev/null)
t2=$(now)
diff -r "$work/volume" "$work/empty/restored" >/dev/null || { echo "recovery: the restored tree differs" >&2; exit 1; }
load=$(cut -d' ' -f1-3 /proc/loadavg)
redacted=${url%%\?*}
awk -v f="$files" -v b="$bytes" -v s="$t0" -v m="$t1" -v e="$t2" -v u="$redacted" -v l="$load" 'BEGIN {
  printf "recovery from %s: %d files, %.1f MB: snapshots %.2f s, restore %.2f s, total %.2f s (%.1f MB/s); identical; load average %s\n",
    u, f, b / 1e6, m - s, e - m, e - s, b / 1e6 / (e - s), l
}'

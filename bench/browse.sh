#!/usr/bin/env bash
# The snapshot browser's speed: a directory of 100,000 entries listed through
# GET /api/v1/snapshots/{id}/tree/{path} (the first page, the same page again, a page
# in the middle, the last page; 1000 entries a page), and a large directory streamed as
# an archive through GET /api/v1/snapshots/{id}/archive/{path} (tar.zst and zip), with
# the server's peak RSS.
#
#   bench/browse.sh                          ENTRIES=100000 SIZE_MB=512 by default
#   HOLDFAST_BIN=target/release/holdfast bench/browse.sh
#
# HOLDFAST_BIN picks the binary (default: target/debug/holdfast, built when missing;
# say which build the figures come from). Prints wall times (curl's time_total), bytes
# per second and the load average.
set -euo pipefail
cd "$(dirname "$0")/.."
entries=${ENTRIES:-100000}
size_mb=${SIZE_MB:-512}
hf=${HOLDFAST_BIN:-$PWD/target/debug/holdfast}
if [ ! -x "$hf" ]; then
  cargo build -p holdfast >/dev/null
fi
work=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
token="bench-token-$$"
export HOLDFAST_PASSWORD="bench browse $$"

python3 - "$work/vol" "$entries" "$size_mb" <<'PY'
import os, sys
root, entries, size_mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
many = os.path.join(root, "many")
os.makedirs(many, exist_ok=True)
for i in range(entries):
    with open(os.path.join(many, f"f{i:06d}.txt"), "w") as f:
        f.write(str(i))
big = os.path.join(root, "big")
os.makedirs(big, exist_ok=True)
chunk = 16 << 20
for i in range(max(1, size_mb // 64)):
    with open(os.path.join(big, f"part{i:03d}.bin"), "wb") as f:
        for _ in range((64 << 20) // chunk):
            f.write(os.urandom(chunk))
PY

cat >"$work/holdfast.toml" <<EOF
[repository]
url = "file://$work/repo"

[[volumes]]
name = "data"
path = "$work/vol"
EOF
cd "$work"
"$hf" --config holdfast.toml init >/dev/null
t0=$(date +%s.%N)
"$hf" --config holdfast.toml backup >/dev/null
t1=$(date +%s.%N)
echo "backup of $entries small files and $size_mb MiB: $(echo "$t1 - $t0" | bc) s"

HOLDFAST_API_TOKEN=$token "$hf" --config holdfast.toml serve --listen 127.0.0.1:0 2>"$work/serve.log" &
server=$!
for _ in $(seq 1 600); do
  grep -q "listening on" "$work/serve.log" && break
  sleep 0.1
done
base=$(grep -o "listening on http://[0-9.:]*" "$work/serve.log" | head -1 | sed 's/listening on //')
[ -n "$base" ] || { cat "$work/serve.log"; exit 1; }
get() { curl -sS -o /dev/null -w '%{http_code} %{size_download} %{time_total}\n' -H "Authorization: Bearer $token" "$base$1"; }
rss() { awk '/VmHWM/ {print $2 " kB"}' "/proc/$server/status"; }

echo "binary: $hf"
echo "open the repository (key, index) and the root: $(get /api/v1/snapshots/latest/tree/)"
echo "peak RSS after opening: $(rss)"
echo "many/, first page (1000 of $entries, tree read):  $(get '/api/v1/snapshots/latest/tree/many?limit=1000')"
echo "many/, first page again (tree cached):           $(get '/api/v1/snapshots/latest/tree/many?limit=1000')"
mid=$(printf 'f%06d.txt' $((entries / 2)))
echo "many/, page after $mid:                     $(get "/api/v1/snapshots/latest/tree/many?limit=1000&after=$mid")"
last=$(printf 'f%06d.txt' $((entries - 1001)))
echo "many/, last page (after $last):             $(get "/api/v1/snapshots/latest/tree/many?limit=1000&after=$last")"
echo "peak RSS after listing: $(rss)"
for fmt in tar.zst zip; do
  read -r code bytes secs < <(get "/api/v1/snapshots/latest/archive/big?format=$fmt")
  echo "archive big/ ($size_mb MiB) as $fmt: HTTP $code, $bytes bytes in $secs s = $(echo "scale=1; $bytes / $secs / 1048576" | bc) MiB/s"
done
echo "peak RSS after the archives: $(rss)"
echo "load: $(uptime)"

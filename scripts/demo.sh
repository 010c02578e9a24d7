#!/usr/bin/env bash
# The main job on the embedded default: build holdfast, back a sample app volume up into a
# file:// repository, list it, verify every byte, restore it elsewhere and compare.
#
#   scripts/demo.sh [DIR]     (default: a new temporary directory, kept for you to look at)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "demo: cargo is missing (https://rustup.rs)" >&2; exit 1; }
cargo build --release --locked -p holdfast
# cargo puts the binary under CARGO_TARGET_DIR when it is set (relative to here).
target_dir=${CARGO_TARGET_DIR:-target}
[[ "$target_dir" == /* ]] || target_dir=$PWD/$target_dir
hf=$target_dir/release/holdfast
work=${1:-$(mktemp -d -t holdfast-demo.XXXXXX)}
mkdir -p "$work"
export HOLDFAST_REPOSITORY="file://$work/repo"
export HOLDFAST_PASSWORD=${HOLDFAST_PASSWORD:-correct horse battery staple}

# A small app volume: uploads, a config file, a symlink and an empty directory.
data=$work/volume
mkdir -p "$data/uploads/2026" "$data/cache" "$data/empty"
printf 'greeting = "hello"\n' >"$data/app.toml"
head -c 3000000 /dev/urandom >"$data/uploads/2026/photo.jpg"
seq 1 200000 >"$data/uploads/2026/ledger.csv"
ln -sf app.toml "$data/current.toml"

set -x
"$hf" init
"$hf" backup "$data" --tag demo
seq 200001 210000 >>"$data/uploads/2026/ledger.csv"
"$hf" backup "$data" --tag demo
"$hf" snapshots
"$hf" diff "$("$hf" snapshots --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')" latest
"$hf" verify --read-data
"$hf" restore latest --target "$work/restored"
"$hf" export latest --output "$work/volume.tar.zst"
set +x
diff -r --no-dereference "$data" "$work/restored"
echo "demo: restored copy in $work/restored is identical to $data; repository in $work/repo"

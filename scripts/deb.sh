#!/usr/bin/env bash
# Builds the Debian package of holdfast with cargo-deb: the binary, a man page per
# command, bash/zsh/fish completions and a systemd service + daily timer
# (packaging/systemd/). cargo-deb prints the path of the .deb.
#
#   scripts/deb.sh                          # release build, then target/debian/holdfast_*.deb
#   scripts/deb.sh --no-build --profile dev --output DIR/holdfast.deb
#                                           # package a binary already built (the tests)
#
# Needs cargo-deb (`cargo install --locked cargo-deb`; scripts/test.sh installs it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

profile=release
build=1
output=()
while (($#)); do
    case "$1" in
        --no-build) build=0 ;;
        --profile) profile="$2"; shift ;;
        --output) output=(--output "$2"); shift ;;
        -h|--help) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "deb.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done
if ! command -v cargo-deb >/dev/null 2>&1; then
    echo "deb.sh: cargo-deb is missing: cargo install --locked cargo-deb" >&2
    exit 1
fi

target_dir="${CARGO_TARGET_DIR:-target}"
case "$profile" in
    dev) dir=debug ;;
    *) dir="$profile" ;;
esac
if ((build)); then
    cargo build --locked --profile "$profile" -p holdfast
fi

# The generated assets, where [package.metadata.deb] in crates/cli/Cargo.toml finds
# them (cargo-deb maps its target/release/ to this profile's directory).
bin="$target_dir/$dir/holdfast"
assets="$target_dir/$dir/deb-assets"
rm -rf "$assets"
mkdir -p "$assets/man"
"$bin" man --dir "$assets/man"
gzip -9n "$assets"/man/*.1     # Debian policy: man pages compressed
"$bin" completions bash > "$assets/holdfast.bash"
"$bin" completions zsh > "$assets/_holdfast"
"$bin" completions fish > "$assets/holdfast.fish"

fast=()
[[ "$profile" == release ]] || fast=(--fast)
cargo deb -p holdfast --no-build --profile "$profile" "${fast[@]}" "${output[@]}"

#!/usr/bin/env bash
# holdfast torture runner: the crash suites (real processes killed with SIGKILL at
# uniformly random moments, fixed seeds: backup on file:// and Garage, prune after forget,
# copy from file:// to Garage, restore --in-place, database restore) with one summary line
# per suite:
#
#   torture SUITE: N trials, N passed, N failed, data lost: N
#
#   scripts/torture.sh           # the default trial count (as in scripts/test.sh)
#   scripts/torture.sh --long    # 200 trials per suite, for a release (docs/RELIABILITY.md)
#   HOLDFAST_TORTURE_TRIALS=N scripts/torture.sh
#
# Starts the test servers itself (through scripts/test.sh --servers-only) unless they are
# already up. Exits non-zero when any suite fails or any data is lost.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

case "${1:-}" in
    --long) export HOLDFAST_TORTURE_TRIALS="${HOLDFAST_TORTURE_TRIALS:-200}" ;;
    "") export HOLDFAST_TORTURE_TRIALS="${HOLDFAST_TORTURE_TRIALS:-6}" ;;
    -h|--help) sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "torture.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
esac

if [[ -z "${HOLDFAST_TEST_S3_URL:-}" ]]; then
    exec bash scripts/test.sh --servers-only bash "${BASH_SOURCE[0]}" "$@"
fi

LOG_DIR="$REPO_ROOT/target/test-logs"
mkdir -p "$LOG_DIR"
log="$LOG_DIR/torture.log"
echo "==> torture: $HOLDFAST_TORTURE_TRIALS trials per suite (log: $log)"
rc=0
cargo nextest run --workspace --locked --no-capture --no-fail-fast \
    -E 'test(/torture_/) | test(/restore_in_place_killed_at_random/) | test(/restore_database_killed/)' \
    >"$log" 2>&1 </dev/null || rc=$?
grep -E '^torture ' "$log" || true
suites=$(grep -cE '^torture .*data lost: [0-9]+' "$log" || true)
lost=$(grep -E '^torture ' "$log" | sed -n 's/.*data lost: \([0-9]*\).*/\1/p' | awk '{s+=$1} END {print s+0}')
if ((rc != 0)); then
    echo "==> torture: a suite failed (exit $rc); last lines of $log:" >&2
    tail -n 40 "$log" >&2
    exit "$rc"
fi
if ((suites == 0)); then
    echo "==> torture: no suite reported (see $log)" >&2
    exit 1
fi
if ((lost != 0)); then
    echo "==> torture: data lost: $lost" >&2
    exit 1
fi
echo "==> torture: $suites suites, data lost: 0"

#!/usr/bin/env bash
# holdfast torture runner: every safety suite with fixed seeds, and one summary line each.
#
#   crash       SIGKILL at uniformly random moments: backup (file:// and Garage), prune
#               after forget, copy from file:// to Garage, restore --in-place, database
#               restore, Postgres and its WAL uploader under load
#                                   -> torture SUITE: N trials, N passed, N failed, data lost: N
#   faults      backup and restore through the fault proxy (Garage, Azurite), uploads
#               damaged on the way  -> faults BACKEND: N runs, …, injected …, data lost: N
#   corruption  each kind of damage on a fresh repository -> corruption KIND: exit codes
#   cluster     three Garage nodes, a node killed and frozen, two writers and a prune
#   disks       full disks: restore, migrate, repository and cache on small tmpfs mounts
#   fuzz        the stable fuzz harness   -> fuzz TARGET: N inputs, N accepted, N panics, T s
#   http        hostile HTTP clients against serve
#
#   scripts/torture.sh                    # every suite at the normal run's counts
#   scripts/torture.sh --long             # for a release (docs/RELIABILITY.md): 200 crash
#                                         # trials per suite, 25 fault rounds per backend,
#                                         # 60 s of fuzzing per target
#   scripts/torture.sh --suites crash,fuzz   # some suites only; crash-repo is backup, prune
#                                            # and copy, crash-restore the two restores
#   HOLDFAST_TORTURE_TRIALS=N HOLDFAST_FAULT_ROUNDS=N HOLDFAST_FUZZ_SECONDS=S scripts/torture.sh
#   HOLDFAST_TORTURE_THREADS=N            # suites run side by side (default 4)
#
# Starts the test servers itself (through scripts/test.sh --servers-only) unless they are
# already up. Exits non-zero when any suite fails or any data is lost.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

long=0
suites="crash,faults,corruption,cluster,disks,fuzz,http"
args=("$@")
while (($#)); do
    case "$1" in
        --long) long=1; shift ;;
        --suites)
            [[ $# -ge 2 ]] || { echo "torture.sh: --suites needs a list (try --help)" >&2; exit 2; }
            suites="$2"; shift 2 ;;
        -h|--help) sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "torture.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
done

filters=()
for s in ${suites//,/ }; do
    case "$s" in
        crash) filters+=('test(/torture_/) | test(/restore_in_place_killed_at_random/) | test(/restore_database_killed/) | test(/postgres_and_holdfast_killed_at_random/)') ;;
        crash-repo) filters+=('test(/torture_/)') ;;
        crash-restore) filters+=('test(/restore_in_place_killed_at_random/) | test(/restore_database_killed/)') ;;
        faults) filters+=('test(/store_faults::/)') ;;
        corruption) filters+=('test(/repo_corruption::/)') ;;
        cluster) filters+=('test(/garage_cluster::/)') ;;
        disks) filters+=('test(/full_disks::/)') ;;
        fuzz) filters+=('test(/hostile_input::/)') ;;
        http) filters+=('test(/serve_hostile::/)') ;;
        *) echo "torture.sh: unknown suite $s (crash, crash-repo, crash-restore, faults, corruption, cluster, disks, fuzz, http)" >&2; exit 2 ;;
    esac
done
filter=$(IFS='|'; echo "${filters[*]}" | sed 's/|/ | /g')

if ((long)); then
    export HOLDFAST_TORTURE_TRIALS="${HOLDFAST_TORTURE_TRIALS:-200}"
    export HOLDFAST_FAULT_ROUNDS="${HOLDFAST_FAULT_ROUNDS:-25}"
    export HOLDFAST_FUZZ_SECONDS="${HOLDFAST_FUZZ_SECONDS:-60}"
else
    export HOLDFAST_TORTURE_TRIALS="${HOLDFAST_TORTURE_TRIALS:-6}"
fi

if [[ -z "${HOLDFAST_TEST_S3_URL:-}" ]]; then
    exec bash scripts/test.sh --servers-only bash "${BASH_SOURCE[0]}" "${args[@]}"
fi

LOG_DIR="$REPO_ROOT/target/test-logs"
mkdir -p "$LOG_DIR"
log="$LOG_DIR/torture.log"
if [[ -n "${HOLDFAST_FUZZ_SECONDS:-}" ]]; then
    fuzz="$HOLDFAST_FUZZ_SECONDS s"
else
    fuzz="${HOLDFAST_FUZZ_INPUTS:-2000} inputs"
fi
echo "==> torture: suites $suites; $HOLDFAST_TORTURE_TRIALS crash trials per suite, ${HOLDFAST_FAULT_ROUNDS:-3} fault rounds per backend, fuzzing $fuzz per target (log: $log)"
started=$SECONDS
rc=0
# The suites run side by side (each mostly waits on processes and fsync); each test's own
# output is printed when it ends (--no-capture would run them one at a time).
cargo nextest run --workspace --locked --no-fail-fast -E "$filter" \
    --test-threads "${HOLDFAST_TORTURE_THREADS:-4}" \
    --success-output final --failure-output final \
    >"$log" 2>&1 </dev/null || rc=$?
pattern='^ *(torture|faults|upload corruption|corruption|garage cluster|fuzz|hostile http) '
summary=$(grep -E "$pattern" "$log" | sed 's/^ *//' || true)
[[ -n "$summary" ]] && echo "$summary"
grep -E '^ +Summary ' "$log" || true
lines=$(grep -cE "$pattern" "$log" || true)
lost=$(echo "$summary" | sed -n 's/.*data lost: \([0-9]*\).*/\1/p' | awk '{s+=$1} END {print s+0}')
if ((rc != 0)); then
    echo "==> torture: a suite failed (exit $rc); last lines of $log:" >&2
    tail -n 40 "$log" >&2
    exit "$rc"
fi
if ((lines == 0)); then
    echo "==> torture: no suite reported (see $log)" >&2
    exit 1
fi
if ((lost != 0)); then
    echo "==> torture: data lost: $lost" >&2
    exit 1
fi
echo "==> torture: $lines summary lines, data lost: 0, $((SECONDS - started)) s"

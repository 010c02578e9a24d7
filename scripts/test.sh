#!/usr/bin/env bash
# holdfast test harness: installs what is missing, starts throw-away servers
# (Garage S3, Azurite blob, PostgreSQL, Redis) on free loopback ports, exports
# their URLs, then runs fmt, clippy and the whole test suite.
#
#   scripts/test.sh                          # everything (what CI runs)
#   scripts/test.sh --servers-only CMD...    # start servers, run CMD instead of the cargo steps
#   HOLDFAST_TEST_SERVERS_ONLY=1 scripts/test.sh CMD...   # same
#
# See docs/TESTING.md.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

# ---------------------------------------------------------------- settings --
AZURITE_VERSION="3.35.0"          # 3.36+ needs node >= 21; Debian 12 ships node 18
STORAGE_BLOB_VERSION="12.27.0"    # 12.28+ needs node >= 20
TOOLS_DIR="$REPO_ROOT/.tools"
NODE_TOOLS="$TOOLS_DIR/node"
LOG_DIR="$REPO_ROOT/target/test-logs"
STARTUP_TIMEOUT="${HOLDFAST_TEST_STARTUP_TIMEOUT:-60}"   # seconds, per server
BUCKET="holdfast-test"

AZURE_ACCOUNT="devstoreaccount1"
AZURE_KEY="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
export PATH="$CARGO_HOME/bin:$PATH"
export DEBIAN_FRONTEND=noninteractive
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-auto}"
unset CARGO_TARGET_DIR   # one target dir for every step: the default target/

SERVERS_ONLY="${HOLDFAST_TEST_SERVERS_ONLY:-0}"
case "${1:-}" in
    --servers-only) SERVERS_ONLY=1; shift ;;
    -h|--help)
        sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0 ;;
    -*) echo "test.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
esac
if [[ "$SERVERS_ONLY" != 1 && $# -gt 0 ]]; then
    echo "test.sh: extra arguments need --servers-only (try --help)" >&2
    exit 2
fi
if [[ "$SERVERS_ONLY" == 1 && $# -eq 0 && ! -t 0 ]]; then
    echo "test.sh: --servers-only needs a command when stdin is not a terminal" >&2
    exit 2
fi

mkdir -p "$LOG_DIR"

# ----------------------------------------------------------------- helpers --
T0=$SECONDS
say()  { printf '==> [%4ds] %s\n' "$((SECONDS - T0))" "$*"; }
warn() { printf '==> [%4ds] %s\n' "$((SECONDS - T0))" "$*" >&2; }
die()  { warn "ERROR: $*"; exit 1; }

# run_logged LOGFILE CMD...: run quietly, keep the output, show its tail on failure.
run_logged() {
    local log="$1" rc=0; shift
    "$@" >>"$log" 2>&1 </dev/null || rc=$?
    if ((rc != 0)); then
        warn "command failed ($rc): $*"
        warn "last lines of $log:"
        tail -n 40 "$log" >&2 || true
        return "$rc"
    fi
}

# show the tail of a server log (on start-up failure)
show_log() {
    warn "last lines of $1:"
    tail -n 40 "$1" >&2 || true
}

# ---------------------------------------------------------------- installs --
if [[ $EUID -eq 0 ]]; then SUDO=(); else SUDO=(sudo); fi

APT_UPDATED=0
apt_install() {
    (($# == 0)) && return 0
    if ((APT_UPDATED == 0)); then
        say "apt-get update (log: $LOG_DIR/apt.log)"
        run_logged "$LOG_DIR/apt.log" "${SUDO[@]}" apt-get update -q
        APT_UPDATED=1
    fi
    say "apt-get install $* (log: $LOG_DIR/apt.log)"
    run_logged "$LOG_DIR/apt.log" "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "$@"
}

pkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

install_apt_packages() {
    local missing=()
    # package:command (command empty = check the package only)
    local spec pkg cmd
    for spec in \
        ca-certificates: curl:curl python3:python3 procps:pgrep \
        build-essential:cc pkg-config:pkg-config \
        restic:restic postgresql:pg_isready redis-server:redis-server zstd:zstd \
        dpkg-dev:dpkg-shlibdeps \
        chromium:chromium chromium-driver:chromedriver borgbackup:borg \
        nodejs:node npm:npm; do
        pkg="${spec%%:*}"; cmd="${spec#*:}"
        if [[ -n "$cmd" ]] && command -v "$cmd" >/dev/null 2>&1; then continue; fi
        pkg_installed "$pkg" && [[ -z "$cmd" ]] && continue
        missing+=("$pkg")
    done
    # node may come from elsewhere (nodesource ships npm inside nodejs)
    if command -v npm >/dev/null 2>&1; then
        local m=(); for pkg in "${missing[@]}"; do [[ "$pkg" == npm ]] || m+=("$pkg"); done
        missing=("${m[@]}")
    fi
    if ((${#missing[@]})); then
        apt_install "${missing[@]}"
    fi
    # the postgres server binaries live outside PATH
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || apt_install postgresql
}

install_rust() {
    if ! command -v cargo >/dev/null 2>&1; then
        say "installing Rust with rustup (log: $LOG_DIR/rustup.log)"
        run_logged "$LOG_DIR/rustup.log" bash -c \
            'curl --proto =https --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component rustfmt,clippy'
    fi
    if command -v rustup >/dev/null 2>&1; then
        if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
            say "adding rustfmt and clippy (log: $LOG_DIR/rustup.log)"
            run_logged "$LOG_DIR/rustup.log" rustup component add rustfmt clippy
        fi
    fi
}

install_cargo_tools() {
    if ! command -v cargo-nextest >/dev/null 2>&1; then
        say "cargo install cargo-nextest (log: $LOG_DIR/cargo-nextest.log)"
        run_logged "$LOG_DIR/cargo-nextest.log" cargo install --locked cargo-nextest
    fi
    # The Debian package test (scripts/deb.sh) needs cargo-deb.
    if ! command -v cargo-deb >/dev/null 2>&1; then
        say "cargo install cargo-deb (log: $LOG_DIR/cargo-deb.log)"
        run_logged "$LOG_DIR/cargo-deb.log" cargo install --locked cargo-deb
    fi
    if ! command -v garage >/dev/null 2>&1; then
        # Another garage build may already be running on this machine: wait for it
        # rather than building twice.
        local deadline=$((SECONDS + 3600))
        if pgrep -f 'cargo install.* garage' >/dev/null 2>&1; then
            say "a garage build is already running; waiting for it"
            while pgrep -f 'cargo install.* garage' >/dev/null 2>&1 \
                && ! command -v garage >/dev/null 2>&1 && ((SECONDS < deadline)); do
                sleep 10
            done
        fi
    fi
    if ! command -v garage >/dev/null 2>&1; then
        say "cargo install garage, takes ~15 min (log: $LOG_DIR/garage-install.log)"
        run_logged "$LOG_DIR/garage-install.log" cargo install --locked garage
    fi
}

install_node_tools() {
    if [[ -x "$NODE_TOOLS/node_modules/.bin/azurite-blob" \
        && -f "$NODE_TOOLS/node_modules/@azure/storage-blob/package.json" ]]; then
        return 0
    fi
    say "npm install azurite@$AZURITE_VERSION into .tools/node (log: $LOG_DIR/npm.log)"
    mkdir -p "$NODE_TOOLS"
    [[ -f "$NODE_TOOLS/package.json" ]] \
        || printf '{ "name": "holdfast-test-tools", "private": true }\n' >"$NODE_TOOLS/package.json"
    run_logged "$LOG_DIR/npm.log" npm install --prefix "$NODE_TOOLS" --no-audit --no-fund \
        --loglevel=warn "azurite@$AZURITE_VERSION" "@azure/storage-blob@$STORAGE_BLOB_VERSION"
    if [[ -f .gitignore ]] && ! grep -qxE '/?\.tools/?' .gitignore; then
        printf '/.tools/\n' >>.gitignore
    fi
}

# ------------------------------------------------------------------- ports --
# Picks N distinct free loopback ports (bound together, so they never collide).
free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# ---------------------------------------------------------- server control --
STATE_DIR=""
CHILD_PGID=""
declare -a SERVER_NAMES=() SERVER_PGIDS=() SERVER_SIGNALS=()

# start_server NAME SIGNAL LOG CMD...: run CMD in its own process group.
start_server() {
    local name="$1" sig="$2" log="$3"; shift 3
    setsid "$@" >"$log" 2>&1 </dev/null &
    local pid=$! n=0
    SERVER_NAMES+=("$name"); SERVER_PGIDS+=("$pid"); SERVER_SIGNALS+=("$sig")
    # the group exists only once setsid has run in the child
    while kill -0 "$pid" 2>/dev/null && ! group_alive "$pid" && ((n++ < 500)); do
        sleep 0.01
    done
}

group_alive() { kill -0 -- "-$1" 2>/dev/null; }

# run_child CMD...: run CMD in its own process group and wait for it. Waiting in the
# background keeps INT/TERM handling immediate: cleanup stops the whole group.
run_child() {
    setsid "$@" <&0 &
    CHILD_PGID=$!
    local rc=0
    wait "$CHILD_PGID" || rc=$?
    CHILD_PGID=""
    return "$rc"
}

server_alive() {   # server_alive NAME
    local i
    for i in "${!SERVER_NAMES[@]}"; do
        [[ "${SERVER_NAMES[$i]}" == "$1" ]] && { group_alive "${SERVER_PGIDS[$i]}"; return; }
    done
    return 1
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    local i pgid deadline
    if [[ -n "$CHILD_PGID" ]] && kill -0 "$CHILD_PGID" 2>/dev/null; then
        warn "stopping the running command"
        kill -TERM -- "-$CHILD_PGID" 2>/dev/null || kill -TERM "$CHILD_PGID" 2>/dev/null
        deadline=$((SECONDS + 10))
        while group_alive "$CHILD_PGID" && ((SECONDS < deadline)); do sleep 0.2; done
        group_alive "$CHILD_PGID" && kill -KILL -- "-$CHILD_PGID" 2>/dev/null
    fi
    for i in "${!SERVER_NAMES[@]}"; do
        pgid="${SERVER_PGIDS[$i]}"
        group_alive "$pgid" && kill -s "${SERVER_SIGNALS[$i]}" -- "-$pgid" 2>/dev/null
    done
    deadline=$((SECONDS + 15))
    for i in "${!SERVER_NAMES[@]}"; do
        pgid="${SERVER_PGIDS[$i]}"
        while group_alive "$pgid" && ((SECONDS < deadline)); do sleep 0.2; done
        if group_alive "$pgid"; then
            warn "${SERVER_NAMES[$i]} did not stop, killing it"
            kill -KILL -- "-$pgid" 2>/dev/null
        fi
    done
    wait 2>/dev/null
    if [[ -n "$STATE_DIR" && -d "$STATE_DIR" ]]; then
        # keep server logs for a look after the run
        for i in "$STATE_DIR"/*.log; do [[ -f "$i" ]] && cp -f "$i" "$LOG_DIR/" ; done
        if [[ "${HOLDFAST_TEST_KEEP_STATE:-0}" == 1 ]]; then
            warn "server state kept in $STATE_DIR"
        else
            rm -rf "$STATE_DIR"
        fi
    fi
    ((${#SERVER_NAMES[@]})) && say "servers stopped"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_for NAME CMD...: poll CMD until it succeeds, the server dies, or the deadline.
wait_for() {
    local name="$1" log="$STATE_DIR/$1.log"; shift
    local deadline=$((SECONDS + STARTUP_TIMEOUT)) t=$SECONDS
    until "$@" >/dev/null 2>&1 </dev/null; do
        if ! server_alive "$name"; then
            show_log "$log"; die "$name exited during start-up"
        fi
        if ((SECONDS >= deadline)); then
            show_log "$log"; die "$name not ready after ${STARTUP_TIMEOUT}s"
        fi
        sleep 0.2
    done
    STARTUP_TIMES+=("$name $((SECONDS - t))s")
}
declare -a STARTUP_TIMES=()

# ------------------------------------------------------------------ garage --
start_garage() {
    local rpc_port="$1" s3_port="$2" admin_port="$3"
    local dir="$STATE_DIR/garage" conf="$STATE_DIR/garage/garage.toml"
    mkdir -p "$dir/meta" "$dir/data"
    cat >"$conf" <<EOF
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
replication_factor = 1

rpc_bind_addr = "127.0.0.1:$rpc_port"
rpc_public_addr = "127.0.0.1:$rpc_port"
rpc_secret = "$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3_port"

[admin]
api_bind_addr = "127.0.0.1:$admin_port"
admin_token = "$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
EOF
    chmod 600 "$conf"
    GARAGE=(garage -c "$conf")
    start_server garage TERM "$STATE_DIR/garage.log" "${GARAGE[@]}" server
    wait_for garage "${GARAGE[@]}" status

    local t=$SECONDS log="$STATE_DIR/garage-setup.log" node_id key_out
    node_id="$("${GARAGE[@]}" node id -q 2>>"$log" </dev/null)"
    node_id="${node_id%%@*}"
    [[ -n "$node_id" ]] || { show_log "$log"; die "could not read the garage node id"; }
    run_logged "$log" "${GARAGE[@]}" layout assign -z dc1 -c 1G "$node_id"
    run_logged "$log" "${GARAGE[@]}" layout apply --version 1
    key_out="$("${GARAGE[@]}" key create "$BUCKET" 2>>"$log" </dev/null)" \
        || { show_log "$log"; die "garage key create failed"; }
    printf '%s\n' "$key_out" >>"$log"
    GARAGE_KEY_ID="$(awk -F': *' '/^Key ID:/ {print $2; exit}' <<<"$key_out" | tr -d '[:space:]')"
    GARAGE_SECRET="$(awk -F': *' '/^Secret key:/ {print $2; exit}' <<<"$key_out" | tr -d '[:space:]')"
    [[ -n "$GARAGE_KEY_ID" && -n "$GARAGE_SECRET" ]] \
        || { show_log "$log"; die "could not parse the garage key"; }
    run_logged "$log" "${GARAGE[@]}" bucket create "$BUCKET"
    run_logged "$log" "${GARAGE[@]}" bucket allow --read --write --owner "$BUCKET" --key "$BUCKET"
    STARTUP_TIMES+=("garage-setup $((SECONDS - t))s")
}

# ----------------------------------------------------------------- azurite --
start_azurite() {
    local port="$1" dir="$STATE_DIR/azurite"
    mkdir -p "$dir"
    start_server azurite TERM "$STATE_DIR/azurite.log" \
        "$NODE_TOOLS/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$port" \
        --location "$dir" --skipApiVersionCheck --loose --silent --disableTelemetry
    wait_for azurite curl -s -o /dev/null "http://127.0.0.1:$port/$AZURE_ACCOUNT?comp=list"

    local t=$SECONDS
    run_logged "$STATE_DIR/azurite-setup.log" env NODE_PATH="$NODE_TOOLS/node_modules" \
        AZ_URL="http://127.0.0.1:$port/$AZURE_ACCOUNT" AZ_ACCOUNT="$AZURE_ACCOUNT" \
        AZ_KEY="$AZURE_KEY" AZ_CONTAINER="$BUCKET" node -e '
const { BlobServiceClient, StorageSharedKeyCredential } = require("@azure/storage-blob");
const cred = new StorageSharedKeyCredential(process.env.AZ_ACCOUNT, process.env.AZ_KEY);
const svc = new BlobServiceClient(process.env.AZ_URL, cred);
svc.getContainerClient(process.env.AZ_CONTAINER).createIfNotExists()
  .then(() => console.log("container ready"))
  .catch((e) => { console.error(e); process.exit(1); });
'
    STARTUP_TIMES+=("azurite-setup $((SECONDS - t))s")
}

# -------------------------------------------------------------- postgresql --
start_postgres() {
    local port="$1" dir="$STATE_DIR/postgres" bin
    bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
    mkdir -p "$dir/sock"
    local pwfile="$dir/pwfile"
    printf 'holdfast\n' >"$pwfile"
    local as_pg=()
    if [[ $EUID -eq 0 ]]; then
        chown -R postgres:postgres "$dir"
        chmod 755 "$STATE_DIR"     # let the postgres user reach its directory
        as_pg=(runuser -u postgres --)
    fi
    local t=$SECONDS
    # superuser "holdfast" with password auth over TCP; local socket trusted for setup
    run_logged "$STATE_DIR/postgres-initdb.log" "${as_pg[@]}" "$bin/initdb" -D "$dir/data" \
        -U holdfast --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
        -E UTF8 --no-locale --no-sync
    STARTUP_TIMES+=("postgres-initdb $((SECONDS - t))s")
    # SIGINT = fast shutdown
    start_server postgres INT "$STATE_DIR/postgres.log" "${as_pg[@]}" "$bin/postgres" \
        -D "$dir/data" -c listen_addresses=127.0.0.1 -p "$port" -k "$dir/sock" \
        -c fsync=off -c synchronous_commit=off -c full_page_writes=off
    wait_for postgres "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"
    run_logged "$STATE_DIR/postgres-setup.log" "$bin/psql" -h "$dir/sock" -p "$port" \
        -U holdfast -d postgres -v ON_ERROR_STOP=1 -qc 'CREATE DATABASE holdfast_test'
}

# ------------------------------------------------------------------- redis --
start_redis() {
    local port="$1" dir="$STATE_DIR/redis"
    mkdir -p "$dir"
    start_server redis TERM "$STATE_DIR/redis.log" redis-server --bind 127.0.0.1 \
        --port "$port" --dir "$dir" --daemonize no --save '' --appendonly no
    wait_for redis bash -c "[[ \$(redis-cli -h 127.0.0.1 -p $port ping) == PONG ]]"
}

# -------------------------------------------------------------------- main --
say "checking tools"
install_apt_packages
install_rust
install_cargo_tools
install_node_tools

STATE_DIR="$(mktemp -d "${TMPDIR:-/tmp}/holdfast-test.XXXXXX")"
read -r GARAGE_RPC_PORT GARAGE_S3_PORT GARAGE_ADMIN_PORT AZURITE_PORT PG_PORT REDIS_PORT \
    <<<"$(free_ports 6)"

say "starting servers (state: $STATE_DIR)"
start_garage "$GARAGE_RPC_PORT" "$GARAGE_S3_PORT" "$GARAGE_ADMIN_PORT"
start_azurite "$AZURITE_PORT"
start_postgres "$PG_PORT"
start_redis "$REDIS_PORT"

export HOLDFAST_TEST_S3_URL="s3://$BUCKET?endpoint=http://127.0.0.1:$GARAGE_S3_PORT&region=garage"
export AWS_ACCESS_KEY_ID="$GARAGE_KEY_ID"
export AWS_SECRET_ACCESS_KEY="$GARAGE_SECRET"
export AWS_REGION=garage
export AWS_DEFAULT_REGION=garage
export AWS_ENDPOINT_URL="http://127.0.0.1:$GARAGE_S3_PORT"
export HOLDFAST_TEST_AZBLOB_URL="azblob://$BUCKET?endpoint=http://127.0.0.1:$AZURITE_PORT/$AZURE_ACCOUNT"
export AZURE_STORAGE_ACCOUNT="$AZURE_ACCOUNT"
export AZURE_STORAGE_KEY="$AZURE_KEY"
export HOLDFAST_TEST_PG_URL="postgres://holdfast:holdfast@127.0.0.1:$PG_PORT/holdfast_test"
export HOLDFAST_TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
export HOLDFAST_TEST_CHROMEDRIVER="${HOLDFAST_TEST_CHROMEDRIVER:-$(command -v chromedriver || echo /usr/bin/chromedriver)}"
export HOLDFAST_TEST_CHROMIUM="${HOLDFAST_TEST_CHROMIUM:-$(command -v chromium || echo /usr/bin/chromium)}"

say "servers ready (start-up times: ${STARTUP_TIMES[*]})"
cat <<EOF
    garage $(garage --version 2>/dev/null | head -n 1 | awk '{print $2}' | sed 's/^cargo://') HOLDFAST_TEST_S3_URL=$HOLDFAST_TEST_S3_URL  (key $AWS_ACCESS_KEY_ID)
    azurite $AZURITE_VERSION   HOLDFAST_TEST_AZBLOB_URL=$HOLDFAST_TEST_AZBLOB_URL
    postgres        HOLDFAST_TEST_PG_URL=$HOLDFAST_TEST_PG_URL
    redis           HOLDFAST_TEST_REDIS_URL=$HOLDFAST_TEST_REDIS_URL
    chromium        HOLDFAST_TEST_CHROMIUM=$HOLDFAST_TEST_CHROMIUM HOLDFAST_TEST_CHROMEDRIVER=$HOLDFAST_TEST_CHROMEDRIVER
    logs            $LOG_DIR
EOF

if [[ "$SERVERS_ONLY" == 1 ]]; then
    if (($# == 0)); then
        say "no command given: starting ${SHELL:-bash}; exit it to stop the servers"
        set -- "${SHELL:-bash}"
    fi
    say "running: $*"
    rc=0
    if [[ -t 0 && $# -eq 1 && "$1" == "${SHELL:-bash}" ]]; then
        "$@" || rc=$?      # interactive shell: keep it in the foreground
    else
        run_child "$@" || rc=$?
    fi
    say "command exited with $rc"
    exit "$rc"
fi

step() {
    say "$*"
    local t=$SECONDS rc=0
    run_child "$@" || rc=$?
    if ((rc != 0)); then
        warn "FAILED ($rc) after $((SECONDS - t))s: $*"
        exit "$rc"
    fi
    say "ok ($((SECONDS - t))s): $*"
}

step cargo fmt --all -- --check
step cargo clippy --workspace --all-targets --locked -- -D warnings
step cargo nextest run --workspace --locked --no-fail-fast
say "all tests passed in $((SECONDS - T0))s"

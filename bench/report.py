#!/usr/bin/env python3
"""Prints the table of a bench/run.sh run from its raw measurements.

Usage: report.py RESULTS.tsv ROUNDS

Each row of RESULTS.tsv: round, set, step, tool, wall s, user s, sys s, peak RSS KiB,
1-minute load (a `repo_bytes` row holds the repository size in the wall column). The
table shows per set, step and tool the median over the rounds of: wall seconds, CPU
seconds (user + sys), cores (CPU s / wall), peak RSS in MB, and the ratio of wall and of
CPU seconds to restic's in the same round (then the median of those ratios), with the
median load average seen before the commands of that step.
"""
import statistics
import sys
from collections import defaultdict

STEPS = ["first", "unchanged", "changed-1%", "restore", "restore+sync", "first-s3", "restore-s3-cold",
         "forget+prune"]
TOOLS = ["holdfast", "restic", "borg", "tar+zstd", "link"]


def main(path, rounds):
    rows = defaultdict(dict)  # (set, step, tool) -> round -> values
    sizes = defaultdict(dict)  # (set, tool) -> round -> bytes
    sets = []
    steps = list(STEPS)
    with open(path) as f:
        for line in f:
            rnd, dset, step, tool, wall, user, sys_, rss, load = line.rstrip("\n").split("\t")
            if dset not in sets:
                sets.append(dset)
            if step == "repo_bytes":
                sizes[(dset, tool)][rnd] = int(wall)
                continue
            wall, cpu = float(wall), float(user) + float(sys_)
            rows[(dset, step, tool)][rnd] = (wall, cpu, int(rss), float(load))
            if step.startswith("restore-s3-") and step.endswith("ms") and step not in steps:
                steps.append(step)

    def med(xs):
        return statistics.median(xs) if xs else None

    print(f"median of {rounds} round(s); ratios are to restic within each round, then the median")
    print()
    print("| set | step | tool | wall s | CPU s | cores | peak RSS MB | wall / restic | CPU / restic | load |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for dset in sets:
        for step in steps:
            base = rows.get((dset, step, "restic"), {})
            for tool in TOOLS:
                got = rows.get((dset, step, tool))
                if not got:
                    continue
                walls = [v[0] for v in got.values()]
                cpus = [v[1] for v in got.values()]
                cores = [v[1] / v[0] for v in got.values() if v[0] > 0]
                rss = [v[2] / 1024 for v in got.values()]
                loads = [v[3] for v in got.values()]
                rw = [v[0] / base[r][0] for r, v in got.items() if r in base and base[r][0] > 0]
                rc = [v[1] / base[r][1] for r, v in got.items() if r in base and base[r][1] > 0]
                fmt = lambda x, p=2: "–" if x is None else f"{x:.{p}f}"  # noqa: E731
                print(f"| {dset} | {step} | {tool} | {fmt(med(walls))} | {fmt(med(cpus))} | "
                      f"{fmt(med(cores))} | {fmt(med(rss), 0)} | {fmt(med(rw))} | {fmt(med(rc))} | "
                      f"{fmt(med(loads), 1)} |")
    print()
    print("| set | tool | repository MB | / restic |")
    print("|---|---|---:|---:|")
    for dset in sets:
        base = med(list(sizes.get((dset, "restic"), {}).values()))
        for tool in TOOLS:
            got = med(list(sizes.get((dset, tool), {}).values()))
            if got is None:
                continue
            ratio = f"{got / base:.2f}" if base else "–"
            print(f"| {dset} | {tool} | {got / 1e6:.1f} | {ratio} |")
    # Like for like: holdfast's restore ends with a syncfs, restic's "restore+sync" with sync.
    durable = []
    for dset in sets:
        hf = rows.get((dset, "restore", "holdfast"), {})
        rs = rows.get((dset, "restore+sync", "restic"), {})
        rw = [v[0] / rs[r][0] for r, v in hf.items() if r in rs and rs[r][0] > 0]
        if rw:
            durable.append(f"{dset} {med(rw):.2f}")
    if durable:
        print()
        print("holdfast restore / restic restore+sync (wall, median): " + ", ".join(durable))
    # Object storage through the latency proxy: restic there is `restore && sync`, and
    # `link` is the same packs read with concurrent curl range requests.
    latency = [s for s in steps if s not in STEPS]
    if latency:
        print()
        print("| added latency | holdfast s | restic+sync s | holdfast / restic+sync | link s | "
              "holdfast / link | holdfast CPU s | peak RSS holdfast / restic MB | load |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for dset in sets:
            for step in latency:
                hf = rows.get((dset, step, "holdfast"), {})
                rs = rows.get((dset, step, "restic"), {})
                ln = rows.get((dset, step, "link"), {})
                if not hf:
                    continue
                ratio = lambda other: med([v[0] / other[r][0] for r, v in hf.items()  # noqa: E731
                                           if r in other and other[r][0] > 0])
                fmt = lambda x, p=2: "–" if x is None else f"{x:.{p}f}"  # noqa: E731
                print(f"| {step[len('restore-s3-'):]} | {fmt(med([v[0] for v in hf.values()]))} | "
                      f"{fmt(med([v[0] for v in rs.values()]))} | {fmt(ratio(rs))} | "
                      f"{fmt(med([v[0] for v in ln.values()]))} | {fmt(ratio(ln))} | "
                      f"{fmt(med([v[1] for v in hf.values()]))} | "
                      f"{fmt(med([v[2] / 1024 for v in hf.values()]), 0)} / "
                      f"{fmt(med([v[2] / 1024 for v in rs.values()]), 0)} | "
                      f"{fmt(med([v[3] for v in hf.values()]), 1)} |")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])

#!/usr/bin/env python3
"""Writes a deterministic mixed data set for the backup benchmark.

Usage:
  gen_data.py DIR SIZE_MB [SEED]              the mixed set
  gen_data.py --mutate DIR [SEED [PERCENT]]   change PERCENT (default 1) % of its files
  gen_data.py --small DIR COUNT [SEED]        COUNT small files (0.2-4 KiB) in dirs of 500
  gen_data.py --big FILE SIZE_MB [SEED]       one file of 4 MiB blocks, random and text alternating

The mix imitates an app volume: many small text/JSON files, medium files of
compressible log-like text, large incompressible blobs (uploads, images), a few
exact duplicates, and a handful of nested directories. `--mutate` changes some of
it in place (appends and new files), so an incremental backup has something to find.
Every set is a function of its seed: two runs with the same arguments write the same bytes.
"""
import os
import random
import sys


def text_block(rng, n):
    words = ["volume", "backup", "snapshot", "railway", "sqlite", "postgres", "user", "order",
             "invoice", "status", "ok", "error", "GET", "POST", "/api/v1/files", "200", "404",
             "2026-11-26T10:00:00Z", "id", "name", "value", "true", "false", "null"]
    out = []
    size = 0
    while size < n:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(6, 18))) + "\n"
        out.append(line)
        size += len(line)
    return "".join(out).encode()[:n]


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def generate(root, size_mb, seed):
    rng = random.Random(seed)
    budget = size_mb * 1024 * 1024
    shares = {"small": 0.10, "logs": 0.35, "blobs": 0.45, "dups": 0.10}
    used = 0
    # many small files
    n = 0
    while used < budget * shares["small"]:
        d = f"app/users/{n % 50:02d}"
        data = text_block(rng, rng.randint(200, 16_000))
        write(os.path.join(root, d, f"profile-{n}.json"), data)
        used += len(data)
        n += 1
    # compressible logs
    n = 0
    target = used + budget * shares["logs"]
    while used < target:
        data = text_block(rng, rng.randint(1, 8) * 1024 * 1024)
        write(os.path.join(root, "logs", f"app-{n:03d}.log"), data)
        used += len(data)
        n += 1
    # incompressible blobs
    n = 0
    target = used + budget * shares["blobs"]
    blobs = []
    while used < target:
        data = rng.randbytes(rng.randint(256 * 1024, 24 * 1024 * 1024))
        p = os.path.join(root, "uploads", f"{n % 7}", f"img-{n:04d}.bin")
        write(p, data)
        blobs.append(p)
        used += len(data)
        n += 1
    # duplicates of some blobs
    n = 0
    target = used + budget * shares["dups"]
    while used < target and blobs:
        src = rng.choice(blobs)
        with open(src, "rb") as f:
            data = f.read()
        write(os.path.join(root, "copies", f"copy-{n:03d}.bin"), data)
        used += len(data)
        n += 1


def mutate(root, seed, percent=1.0):
    rng = random.Random(seed + 1)
    files = []
    for d, _, names in os.walk(root):
        files.extend(os.path.join(d, n) for n in names)
    files.sort()
    for p in rng.sample(files, max(1, int(len(files) * percent / 100))):
        with open(p, "ab") as f:
            f.write(text_block(rng, 4096))
    for i in range(20):
        write(os.path.join(root, "app", "new", f"n-{i}.json"), text_block(rng, 5000))


def fast_text(rng, lines, n):
    """About n bytes of log-like text drawn from a pool of lines (fast for large sizes)."""
    out = "".join(rng.choices(lines, k=n // 60 + 1)).encode()
    while len(out) < n:
        out += out
    return out[:n]


def small(root, count, seed):
    rng = random.Random(seed)
    lines = [text_block(rng, 80).split(b"\n")[0].decode() + "\n" for _ in range(2000)]
    for i in range(count):
        d = os.path.join(root, f"d{i // 500:04d}")
        if i % 500 == 0:
            os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i:06d}.json"), "wb") as f:
            f.write(fast_text(rng, lines, rng.randint(200, 4096)))


def big(path, size_mb, seed):
    rng = random.Random(seed)
    lines = [text_block(rng, 80).split(b"\n")[0].decode() + "\n" for _ in range(2000)]
    block = 4 * 1024 * 1024
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as f:
        for i in range(size_mb * 1024 * 1024 // block):
            f.write(rng.randbytes(block) if i % 2 == 0 else fast_text(rng, lines, block))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--mutate":
        mutate(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1,
               float(sys.argv[4]) if len(sys.argv) > 4 else 1.0)
    elif len(sys.argv) >= 4 and sys.argv[1] == "--small":
        small(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    elif len(sys.argv) >= 4 and sys.argv[1] == "--big":
        big(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    elif len(sys.argv) >= 3:
        generate(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    else:
        sys.exit(__doc__)

#!/usr/bin/env python3
"""Lists the byte ranges a plain parallel GET of a repository's packs would read.

Usage: link_limit.py ENDPOINT BUCKET PREFIX SPAN_MIB > ranges

Lists every object under BUCKET/PREFIX/data/ (S3 ListObjectsV2, signed by curl with
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION) and prints one line per range
of at most SPAN_MIB MiB: `URL FIRST-LAST`. bench/run.sh fetches them with N concurrent
`curl` range reads through the same latency proxy as the restore: the link's own limit
for the same bytes, measured beside the restore.
"""
import os
import re
import subprocess
import sys
import urllib.parse


# The SHA-256 of an empty body: S3 servers such as Garage require the header.
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def curl_get(url):
    region = os.environ.get("AWS_REGION", "garage")
    user = f"{os.environ['AWS_ACCESS_KEY_ID']}:{os.environ['AWS_SECRET_ACCESS_KEY']}"
    done = subprocess.run(
        ["curl", "-sf", "--aws-sigv4", f"aws:amz:{region}:s3", "--user", user,
         "-H", f"x-amz-content-sha256: {EMPTY_SHA256}", url],
        capture_output=True, text=True)
    if done.returncode != 0:
        # The command line holds the secret: name only the URL.
        sys.exit(f"link_limit: listing {url} failed (curl exit {done.returncode})")
    return done.stdout


def main():
    endpoint, bucket, prefix, span_mib = sys.argv[1:5]
    span = int(span_mib) << 20
    token = None
    while True:
        query = {"list-type": "2", "prefix": f"{prefix}/data/"}
        if token:
            query["continuation-token"] = token
        xml = curl_get(f"{endpoint}/{bucket}?{urllib.parse.urlencode(query)}")
        for key, size in re.findall(r"<Key>([^<]*)</Key>.*?<Size>(\d+)</Size>", xml, re.S):
            size = int(size)
            for first in range(0, size, span):
                print(f"{endpoint}/{bucket}/{key} {first}-{min(first + span, size) - 1}")
        m = re.search(r"<NextContinuationToken>([^<]*)</NextContinuationToken>", xml)
        if not m:
            break
        token = m.group(1)


if __name__ == "__main__":
    main()

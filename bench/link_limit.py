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


def curl_get(url):
    region = os.environ.get("AWS_REGION", "garage")
    user = f"{os.environ['AWS_ACCESS_KEY_ID']}:{os.environ['AWS_SECRET_ACCESS_KEY']}"
    return subprocess.run(
        ["curl", "-sf", "--aws-sigv4", f"aws:amz:{region}:s3", "--user", user, url],
        check=True, capture_output=True, text=True).stdout


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

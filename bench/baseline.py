"""What a simple script would do: one request at a time, a new connection for each.

``python -m bench.baseline URLS_FILE OUT_DIR``: GET every URL with ``requests.get`` (no
session, so no connection reuse), check the status, write the body to a file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import requests


def main() -> int:
    urls = Path(sys.argv[1]).read_text().split()
    out = Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    for url in urls:
        response = requests.get(url, timeout=30)
        response.raise_for_status()
        (out / url.rsplit("/", 1)[-1]).write_bytes(response.content)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Run dogcli's real entry point and record what its own process used (not its children).

``python -m bench.rusage OUT.json fetch --max-days 2`` runs ``dogcli fetch --max-days 2`` and,
on exit, writes ``{"utime", "stime", "maxrss_kb"}`` of this process alone (RUSAGE_SELF), so
the browser and its driver, which are child processes, are not counted.
"""

from __future__ import annotations

import atexit
import json
import resource
import sys


def _write(path: str) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(
            {"utime": usage.ru_utime, "stime": usage.ru_stime, "maxrss_kb": usage.ru_maxrss},
            handle,
        )


def main() -> None:
    out, args = sys.argv[1], sys.argv[2:]
    atexit.register(_write, out)
    sys.argv = ["dogcli", *args]
    from dogcli.cli.app import main as dogcli_main

    dogcli_main(args)


if __name__ == "__main__":
    main()

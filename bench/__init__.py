"""dogcli's benchmark harness: ``python -m bench`` (or ``make bench``), see ``--help``.

Starts the replica of tests/ on loopback with a latency per CDN request and per page API call,
then measures backfill throughput (against aria2c, curl and a one-at-a-time script),
discovery, the steady-state fetch, the catalog at scale and start-up, and prints a table
(and writes JSON, by default to bench/results/latest.json).

This module imports nothing: ``python -m bench.rusage`` runs dogcli under it.
"""

"""The page protocol's own failure: the page is not as dogcli expects it (a script failed, a
calendar without the day, a gallery that reloaded). discover retries it, then reports it as a
DiscoveryError."""

from __future__ import annotations


class _PageError(Exception):
    pass

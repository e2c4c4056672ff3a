"""Every exit status dogcli returns, in one place (README "Exit codes" lists the same)."""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """What every command but health exits with (sysexits.h where one fits)."""

    OK = 0
    FAILURE = 1  # something failed or was only partly done; the next run retries
    USAGE = 2  # bad option, argument or setting: one line on stderr
    BUSY = 75  # EX_TEMPFAIL: another run holds the archive; try again later
    INTERRUPTED = 130  # 128 + SIGINT
    TERMINATED = 143  # 128 + SIGTERM (systemd stopping the unit, a cron `timeout`)


class HealthStatus(IntEnum):
    """health's exit status, the monitoring-plugin convention (Nagios, Icinga, Sensu)."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3

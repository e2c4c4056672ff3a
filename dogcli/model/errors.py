"""Exceptions that the CLI turns into one-line messages and exit codes."""

from __future__ import annotations

from dogcli.model.status import ExitStatus


class DogcliError(Exception):
    """Base of every error dogcli reports without a traceback."""

    exit_code: int = ExitStatus.FAILURE


class SettingsError(DogcliError):
    """Invalid settings or usage: exit 2."""

    exit_code = ExitStatus.USAGE


class UsageError(DogcliError):
    exit_code = ExitStatus.USAGE


class CatalogUnavailable(DogcliError):
    """The catalog database cannot be reached (after retries)."""


class CatalogRefused(SettingsError):
    """The database server refused the settings' credentials or has no such database: no
    retry mends that, so exit 2 at once (a CatalogUnavailable is carried on without)."""


class DiscoveryError(DogcliError):
    """A camera page could not be read (after retries)."""


class NoCamera(DiscoveryError):
    """The page says the stream has no camera: not a flaky page, so never retried."""


class BrowserError(DogcliError):
    """The browser could not be started."""

    exit_code = ExitStatus.USAGE


class StorageError(DogcliError):
    """The data dir cannot be written (e.g. disk full)."""


class DataDirUnusable(SettingsError, StorageError):
    """The data dir cannot be created or written at all: a settings problem (exit 2)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM: stopped as gracefully as Ctrl-C (systemd, `timeout`), exit 143."""

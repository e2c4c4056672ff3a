"""The browser's executables (Chromium and chromedriver): from the settings, else from PATH;
never downloaded at run time."""

from __future__ import annotations

import os
import shutil

from dogcli.config import Settings
from dogcli.model.errors import SettingsError


def browser_paths(settings: Settings) -> tuple[str, str]:
    """Browser and driver executables; never downloaded at run time."""
    binary = settings.chrome_binary or _which("chromium", "chromium-browser", "google-chrome")
    driver = settings.chromedriver or _which("chromedriver")
    if not binary:
        raise SettingsError("chromium not found on PATH; set DOGCLI_CHROME_BINARY")
    if not driver:
        raise SettingsError("chromedriver not found on PATH; set DOGCLI_CHROMEDRIVER")
    for label, path in (("DOGCLI_CHROME_BINARY", binary), ("DOGCLI_CHROMEDRIVER", driver)):
        if not os.access(path, os.X_OK):
            raise SettingsError(f"{label}: {path} is not an executable file")
    return binary, driver


def _which(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return ""

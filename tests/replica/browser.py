"""Headless Chromium for tests: Debian's chromium + chromedriver, never Selenium Manager."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

CHROME_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1000",
)


def browser_available() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


class ChromeSession:
    """A headless Chrome with a throw-away profile; ``.driver`` is the WebDriver.

    ``tz``: the browser's time zone (Chromium follows the ``TZ`` of its process, which it
    inherits from chromedriver); None keeps the caller's.
    """

    def __init__(self, tz: str | None = None) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = tempfile.mkdtemp(prefix="replica-chrome-")
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for arg in CHROME_ARGS:
            opts.add_argument(arg)
        opts.add_argument(f"--user-data-dir={self.profile}")
        env = {**os.environ, "TZ": tz} if tz else None
        service = Service(executable_path=CHROMEDRIVER, env=env)
        self.driver = webdriver.Chrome(options=opts, service=service)

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> ChromeSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Headless Chromium for tests: Debian's chromium + chromedriver, never Selenium Manager."""

from __future__ import annotations

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
    """A headless Chrome with a throw-away profile; ``.driver`` is the WebDriver."""

    def __init__(self) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = tempfile.mkdtemp(prefix="replica-chrome-")
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for arg in CHROME_ARGS:
            opts.add_argument(arg)
        opts.add_argument(f"--user-data-dir={self.profile}")
        self.driver = webdriver.Chrome(options=opts, service=Service(executable_path=CHROMEDRIVER))

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> ChromeSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

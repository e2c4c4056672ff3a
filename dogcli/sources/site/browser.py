"""The browser's lifecycle: one headless Chromium and its chromedriver, started in the
background, recorded for the reaper, quit and cleaned up."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

from dogcli.model.errors import BrowserError
from dogcli.sources.site.reaper import (
    PROFILE_PREFIX,
    PidFile,
    die_with_parent,
    is_chromium,
    kill_tree,
    processes,
    read_proc,
    reap_browsers,
    this_run,
    wait_unused,
)
from dogcli.sources.site.scripts import OBSERVER_JS

log = logging.getLogger(__name__)


class Browser:
    """One headless Chromium per command run, with a fresh throwaway profile. Chromium and its
    driver end with the process, even when it is killed (see reaper); `state_dir` (the data dir)
    is where the browser is recorded so that the next run can reap what a killed one left."""

    def __init__(
        self,
        binary: str,
        driver_path: str,
        page_timeout: float = 30.0,
        timezone: str = "",
        state_dir: Path | None = None,
    ) -> None:
        self.binary = binary
        self.driver_path = driver_path
        self.page_timeout = page_timeout
        self.timezone = timezone  # the browser's zone: a page may compute its days in it
        self.state_dir = state_dir
        self._profile: str | None = None
        self._driver: webdriver.Chrome | None = None
        self._driver_pid: tuple[int, int] | None = None
        # chromedriver dies with the thread that starts it: that thread lives as long as the
        # browser (it starts it, then waits for `_release`)
        self._keeper: threading.Thread | None = None
        self._ready = threading.Event()
        self._release = threading.Event()
        self._start_error: BaseException | None = None
        self._closing: threading.Thread | None = None

    @property
    def driver(self) -> webdriver.Chrome:
        self.start_soon()
        self._wait_start()
        if self._start_error is not None:
            error, self._start_error = self._start_error, None
            raise error
        assert self._driver is not None
        return self._driver

    def start_soon(self) -> None:
        """Start Chromium in a background thread while the caller gets other things ready;
        the first use of `driver` waits for it (and raises what starting it raised)."""
        if self._driver is not None or self._keeper is not None:
            return
        self._ready.clear()
        self._release.clear()
        self._start_error = None

        def keep() -> None:
            try:
                self._driver = self._start()
            except BaseException as exc:  # handed over by `driver`
                self._start_error = exc
            finally:
                self._ready.set()
            if self._driver is not None:
                self._release.wait()

        self._keeper = threading.Thread(target=keep, name="browser", daemon=True)
        self._keeper.start()

    def _wait_start(self) -> None:
        keeper = self._keeper
        if keeper is None:
            return
        self._ready.wait()
        if self._driver is None:  # it failed: the thread is over
            keeper.join()
            self._keeper = None

    def _start(self) -> webdriver.Chrome:
        try:
            reap_browsers(self.state_dir)
        except Exception as exc:  # never in the way of the run
            log.debug("reaping old browsers: %s", exc)
        owner = this_run()
        self._profile = tempfile.mkdtemp(prefix=f"{PROFILE_PREFIX}{owner[0]}-{owner[1]}-")
        self._record(owner)
        options = Options()
        options.binary_location = self.binary
        options.page_load_strategy = "eager"
        for arg in (
            "--headless=new",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-default-apps",
            "--disable-features=Translate,MediaRouter,OptimizationHints",
            "--metrics-recording-only",
            "--mute-audio",
            "--window-size=1280,1024",
            # Images stay on: an Element Plus el-image may render its <img>, and so its URL,
            # only once the image has loaded (SITE.md).
            f"--user-data-dir={self._profile}",
            # chromedriver talks to Chromium over a pipe: Chromium quits when it closes, so
            # when chromedriver is gone (a TCP port would keep it running on its own).
            "--remote-debugging-pipe",
        ):
            options.add_argument(arg)
        if os.geteuid() == 0:
            options.add_argument("--no-sandbox")  # Chromium refuses to run as root otherwise
        # Giving the driver path keeps Selenium Manager (and its downloads) out of it.
        env = dict(os.environ)
        if self.timezone:
            env["TZ"] = self.timezone  # Chromium's zone follows its process's TZ
        preexec = die_with_parent()
        popen_kw = {"preexec_fn": preexec} if preexec else {}
        service = Service(executable_path=self.driver_path, env=env, popen_kw=popen_kw)
        try:
            driver = webdriver.Chrome(service=service, options=options)
        except WebDriverException as exc:
            self._cleanup(service)
            raise BrowserError(self._start_failure(exc)) from None
        except OSError as exc:
            self._cleanup(service)
            raise BrowserError(f"cannot start chromedriver {self.driver_path}: {exc}") from None
        process = getattr(service, "process", None)
        if process is not None and (p := read_proc(process.pid)) is not None:
            self._driver_pid = (p.pid, p.start)
        self._record(owner)
        driver.set_page_load_timeout(self.page_timeout)
        driver.set_script_timeout(self.page_timeout)
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": OBSERVER_JS})
        # A request that hangs holds Chromium's HTTP cache lock on its URL for about 20 s,
        # so a retry (a reloaded page asking the API the same URL) would stall behind it.
        # Without the cache there is no lock; nothing here is ever fetched twice on purpose.
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
        return driver

    def _record(self, owner: tuple[int, int]) -> None:
        """Write this browser down in the data dir for the next run, should this one be killed."""
        if self.state_dir is None or self._profile is None:
            return
        browser = [
            [p.pid, p.start] for p in processes() if p.profile == self._profile and is_chromium(p)
        ]
        record = {
            "owner": list(owner),
            "driver": list(self._driver_pid) if self._driver_pid else None,
            "profile": self._profile,
            "browser": browser,
        }
        try:
            PidFile(self.state_dir).put(record)
        except OSError as exc:
            log.debug("cannot record the browser in %s: %s", self.state_dir, exc)

    def _start_failure(self, exc: WebDriverException) -> str:
        """One line that names the part that failed and why (Selenium spreads it over lines)."""
        raw = (exc.msg or str(exc)).split("For documentation on this error")[0]
        lines = [line.strip(" ;") for line in raw.splitlines() if line.strip(" ;")]
        text = " ".join(lines)
        if "obtain driver" in text or ("Service" in text and "unexpectedly exited" in text):
            return f"cannot start chromedriver {self.driver_path}: {lines[0] if lines else text}"
        # "session not created" alone says nothing: keep the reason that follows it.
        detail = "; ".join(lines[:2]) if lines else type(exc).__name__
        return f"cannot start Chromium {self.binary}: {detail[:300]}"

    def close_soon(self) -> None:
        """Quit Chromium in a background thread; close() waits for it."""
        if self._closing is None:
            self._closing = threading.Thread(target=self._close, name="browser-quit", daemon=True)
            self._closing.start()

    def close(self) -> None:
        if self._closing is not None:
            self._closing.join()
            self._closing = None
        self._close()

    def _close(self) -> None:
        self._wait_start()
        self._start_error = None
        if self._driver is not None:
            try:
                self._driver.quit()
            except Exception as exc:  # the browser may be gone already
                log.debug("browser quit: %s", exc)
            self._driver = None
        self._cleanup(None)
        self._release.set()
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.join()

    def _cleanup(self, service: Service | None) -> None:
        """Kill whatever is left of this browser (a Chromium process that outlived quit, a
        driver that failed to start a session), remove its profile and its record."""
        if service is not None:
            with contextlib.suppress(Exception):
                service.stop()
        if self._profile or self._driver_pid:
            with contextlib.suppress(Exception):
                if kill_tree(self._driver_pid, self._profile, processes()) and self._profile:
                    wait_unused(self._profile)
        if self._profile:
            shutil.rmtree(self._profile, ignore_errors=True)
            if self.state_dir is not None:
                with contextlib.suppress(OSError):
                    PidFile(self.state_dir).drop(self._profile)
            self._profile = None
        self._driver_pid = None

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Discovery: read the captures of a (stream, day) from the camera page in headless Chromium."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import logging
import os
import shutil
import signal
import stat
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from selenium import webdriver
from selenium.common.exceptions import (
    JavascriptException,
    TimeoutException,
    WebDriverException,
)
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

from dogcli.config import Settings
from dogcli.model.captures import Capture, parse_image_url
from dogcli.model.errors import BrowserError, DiscoveryError, NoCamera
from dogcli.model.retry import BackoffWait
from dogcli.sources.base import Found

log = logging.getLogger(__name__)

POLL = 0.05
DATE_INPUT = "input.el-input__inner[placeholder='Pick a day']"

# Installed before any page script runs. It keeps, in window.__dogcli:
# - started/done: the page's own API calls (fetch and XHR), so that a load is known to be
#   over on a page with no loading mask too;
# - loads/busy: finished gallery loads by the Element loading mask, where the page has one;
# - errors: error messages (ElMessage) shown, since a failed load also ends;
# - seen: every gallery image URL shown since the last reset. An el-image that fails to load
#   is replaced by an error placeholder and its URL leaves the DOM, but the capture exists.
OBSERVER_JS = """
(() => {
  if (window.__dogcli) return;
  const st = window.__dogcli = {loads: 0, busy: false, errors: 0, started: 0, done: 0,
                                seen: new Set(), heading: null};
  const finished = () => { st.done++; };
  const fetch0 = window.fetch;
  if (fetch0) window.fetch = function (...args) {
    st.started++;
    let answer;
    try { answer = fetch0.apply(this, args); } catch (e) { finished(); throw e; }
    // Done once the body is in: the page reads it next and renders it.
    answer.then((r) => r.clone().arrayBuffer().catch(() => null).finally(finished), finished);
    return answer;
  };
  const send0 = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function (...args) {
    st.started++;
    this.addEventListener('loadend', finished, {once: true});
    return send0.apply(this, args);
  };
  const findHeading = () => {
    if (st.heading && st.heading.isConnected) return st.heading;
    st.heading = null;
    for (const h of document.querySelectorAll('h1,h2,h3,h4,h5,h6')) {
      if (h.textContent.includes('History')) return (st.heading = h);
    }
    const walk = document.createTreeWalker(document.body || document, NodeFilter.SHOW_TEXT);
    for (let t = walk.nextNode(); t; t = walk.nextNode()) {
      const el = t.parentElement;
      if (t.data.includes('History') && el && !el.closest('script,style,.el-picker-panel'))
        return (st.heading = el);
    }
    return null;
  };
  st.findHeading = findHeading;
  const inGallery = (el) => {
    const h = findHeading();
    return !!h && !!(h.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING);
  };
  st.inGallery = inGallery;
  const busy = () => {
    for (const m of document.querySelectorAll('.el-loading-mask')) {
      if (m.getClientRects().length && getComputedStyle(m).visibility !== 'hidden') return true;
    }
    return false;
  };
  const isError = (n) => n.nodeType === 1 &&
    (n.matches('.el-message--error') || !!n.querySelector('.el-message--error'));
  const remember = (n) => {
    if (n.nodeType !== 1) return;
    const imgs = n.matches('img.el-image__inner') ? [n] : n.querySelectorAll('img.el-image__inner');
    for (const img of imgs) if (img.src && inGallery(img)) st.seen.add(img.src);
  };
  const check = (records) => {
    for (const r of records) {
      if (r.type === 'attributes') { if (r.attributeName === 'src') remember(r.target); continue; }
      for (const n of r.addedNodes) { if (isError(n)) st.errors++; remember(n); }
    }
    const b = busy(); if (st.busy && !b) st.loads++; st.busy = b;
  };
  new MutationObserver(check).observe(document, {
    subtree: true, childList: true, attributes: true, attributeFilter: ['style', 'class', 'src']
  });
})();
"""

# One round trip: the gallery after the heading that contains "History", as shown now.
GALLERY_STATE_JS = """
const st = window.__dogcli;
const out = {loads: 0, busy: false, errors: 0, started: 0, done: 0, heading: false,
             nocamera: false, value: null, urls: [], items: 0, placeholders: 0,
             page: null, next: null};
if (!st) return out;
Object.assign(out, {loads: st.loads, busy: st.busy, errors: st.errors, started: st.started,
                    done: st.done});
const heading = st.findHeading();
out.heading = !!heading;
const input = document.querySelector(arguments[0]);
out.value = input ? input.value : null;
if (!heading || !input) {
  out.nocamera = !!document.body && document.body.textContent.includes('No camera found');
  return out;
}
for (const item of document.querySelectorAll('.el-image')) {
  if (!st.inGallery(item)) continue;
  out.items++;
  const img = item.querySelector('img.el-image__inner');
  if (img && img.src) out.urls.push(img.src);
  else if (item.querySelector('.el-image__placeholder')) out.placeholders++;
}
for (const pager of document.querySelectorAll('.el-pagination')) {
  if (!st.inGallery(pager)) continue;
  const active = pager.querySelector('.el-pager li.is-active');
  out.page = active ? parseInt(active.textContent, 10) || 1 : 1;
  const next = pager.querySelector('button.btn-next');
  out.next = !next ? 'none' : (next.disabled || next.classList.contains('is-disabled')
                               ? 'disabled' : 'enabled');
  break;
}
return out;
"""

# Bring the first still-lazy image of the gallery into view, which makes the page load it
# and the images below it in the viewport. A scroll event is sent as well: scrollIntoView
# fires none when nothing had to move (pages that listen for scrolling, not intersections).
SCROLL_NEXT_JS = """
const st = window.__dogcli;
for (const ph of document.querySelectorAll('.el-image .el-image__placeholder')) {
  const item = ph.closest('.el-image');
  if (item.querySelector('img.el-image__inner[src]') || !st.inGallery(item)) continue;
  item.scrollIntoView({block: 'start'});
  for (let el = item.parentElement; el; el = el.parentElement) {
    const style = getComputedStyle(el);
    const scrolls = /(auto|scroll)/.test(style.overflowY + style.overflow);
    if (scrolls && el.scrollHeight > el.clientHeight) el.dispatchEvent(new Event('scroll'));
  }
  window.dispatchEvent(new Event('scroll'));
  return true;
}
return false;
"""

# Bring every lazy image of an inner scrolling box into view at once: each scrolling box
# around the gallery is opened to its full height, so a visibility check against that box
# (Element Plus el-image with a scroll container: an IntersectionObserver rooted at it) sees
# every image. Images checked against the window are left to the SCROLL_NEXT_JS steps.
EXPAND_LAZY_JS = """
const st = window.__dogcli;
const seen = new Set(), boxes = [];
let lazy = 0;
for (const ph of document.querySelectorAll('.el-image .el-image__placeholder')) {
  const item = ph.closest('.el-image');
  if (item.querySelector('img.el-image__inner[src]') || !st.inGallery(item)) continue;
  lazy++;
  for (let el = item.parentElement; el && el !== document.body; el = el.parentElement) {
    if (seen.has(el)) break;
    seen.add(el);
    const style = getComputedStyle(el);
    if (/(auto|scroll)/.test(style.overflowY + style.overflow) && el.scrollHeight > el.clientHeight)
      boxes.push(el);
  }
}
for (const box of boxes) {
  box.style.setProperty('height', 'auto', 'important');
  box.style.setProperty('max-height', 'none', 'important');
  box.dispatchEvent(new Event('scroll'));
}
window.dispatchEvent(new Event('scroll'));
return boxes.length ? lazy : 0;
"""

# Click the pager's "next" button, or its page number 1; true when there was one to click.
PAGER_JS = """
const st = window.__dogcli;
for (const pager of document.querySelectorAll('.el-pagination')) {
  if (!st.inGallery(pager)) continue;
  let target = null;
  if (arguments[0] === 'next') target = pager.querySelector('button.btn-next');
  else for (const li of pager.querySelectorAll('.el-pager li'))
    if (li.textContent.trim() === '1') { target = li; break; }
  if (!target || target.disabled) return false;
  target.scrollIntoView({block: 'center'});
  target.click();
  return true;
}
return false;
"""


# -- the browser's processes ---------------------------------------------------------------
#
# A run killed outright (OOM killer, a cron `timeout`, kill -9) runs no cleanup of its own, so
# its browser must go without it:
# - chromedriver gets a parent-death signal (Linux prctl PR_SET_PDEATHSIG, SIGKILL): the kernel
#   kills it when the thread that started it ends, and so when dogcli ends, however;
# - Chromium talks to chromedriver over a pipe (--remote-debugging-pipe) and quits as soon as
#   the pipe closes, that is when chromedriver is gone (its other processes go with it);
# - what is left all the same (a browser too stuck to notice) the next run reaps: each run
#   records its driver and profile in {DATA_DIR}/.browser-pids; a record whose run is over is
#   settled by SIGKILL of the processes it names that still are chromedriver (same pid and start
#   time) or use its profile (`--user-data-dir=` of a dogcli-chromium- temporary directory),
#   nothing else; and the profiles of runs that are over are removed.

PROFILE_PREFIX = "dogcli-chromium-"
PIDS_NAME = ".browser-pids"
PR_SET_PDEATHSIG = 1
LEGACY_PROFILE_AGE = 3600.0  # s: a profile named without its owner, unused for so long, is left


@dataclass(frozen=True)
class _Proc:
    pid: int
    start: int  # clock ticks after boot: with the pid, names one process for good
    argv: tuple[str, ...]

    @property
    def name(self) -> str:
        return os.path.basename(self.argv[0]) if self.argv else ""

    @property
    def profile(self) -> str | None:
        for arg in self.argv:
            if arg.startswith("--user-data-dir="):
                return arg.split("=", 1)[1]
        return None


def _read_proc(pid: int) -> _Proc | None:
    """A live process of ours (same user), or None: gone, a zombie or not ours to see."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        if os.stat(f"/proc/{pid}").st_uid != os.getuid():
            return None
    except (OSError, ValueError):
        return None
    fields = text[text.rfind(")") + 2 :].split()
    if len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    args = [arg for arg in raw.split(b"\0") if arg]
    if len(args) == 1:  # Chromium's child processes retitle themselves: one line, spaces
        args = args[0].split(b" ")
    return _Proc(pid, int(fields[19]), tuple(arg.decode(errors="replace") for arg in args))


def _processes() -> list[_Proc]:
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    return [p for e in entries if e.isdigit() and (p := _read_proc(int(e))) is not None]


def _alive(pid: int, start: int) -> bool:
    p = _read_proc(pid)
    return p is not None and p.start == start


def _me() -> tuple[int, int]:
    p = _read_proc(os.getpid())
    return os.getpid(), p.start if p else 0


def _is_driver(p: _Proc) -> bool:
    return "chromedriver" in p.name


def _is_chromium(p: _Proc) -> bool:
    return "chrom" in p.name.lower() and not _is_driver(p)


def _profile_owner(path: str) -> tuple[int, int] | None:
    """The run (pid, start time) a profile directory was made for, from its name."""
    rest = os.path.basename(path).removeprefix(PROFILE_PREFIX).split("-")
    if len(rest) >= 3 and rest[0].isdigit() and rest[1].isdigit():
        return int(rest[0]), int(rest[1])
    return None


def _is_profile(path: str) -> bool:
    return os.path.basename(path).startswith(PROFILE_PREFIX)


def _kill_tree(driver: tuple[int, int] | None, profile: str | None, procs: list[_Proc]) -> int:
    """SIGKILL what is left of one browser: its chromedriver (the same process: pid and start
    time) and the Chromium processes on its profile. Returns how many were killed."""
    killed = 0
    for p in procs:
        ours = driver is not None and (p.pid, p.start) == tuple(driver) and _is_driver(p)
        if not ours and profile and _is_profile(profile):
            ours = _is_chromium(p) and p.profile == profile
        if ours:
            try:
                os.kill(p.pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
    return killed


def _wait_unused(profile: str, timeout: float = 3.0) -> None:
    """Until no process of ours runs on this profile (killed ones take a moment to go)."""
    deadline = time.monotonic() + timeout
    while any(p.profile == profile for p in _processes()) and time.monotonic() < deadline:
        time.sleep(0.02)


class _PidFile:
    """{DATA_DIR}/.browser-pids: one JSON line per browser of a run, while it runs:
    {"owner": [pid, start], "driver": [pid, start], "profile": path, "browser": [[pid, start]]}.
    Runs that write are serialized by the data dir's lock; the file is replaced whole."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / PIDS_NAME

    def read(self) -> list[dict[str, Any]]:
        try:
            text = self.path.read_text()
        except OSError:
            return []
        out = []
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                out.append(record)
        return out

    def write(self, records: list[dict[str, Any]]) -> None:
        if not records:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            return
        tmp = self.path.with_name(f"{PIDS_NAME}.{os.getpid()}.tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
        os.replace(tmp, self.path)

    def put(self, record: dict[str, Any]) -> None:
        keep = [r for r in self.read() if r.get("profile") != record["profile"]]
        self.write([*keep, record])

    def drop(self, profile: str) -> None:
        records = self.read()
        keep = [r for r in records if r.get("profile") != profile]
        if keep != records:
            self.write(keep)


def _pair(value: Any) -> tuple[int, int] | None:
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return value[0], value[1]
    return None


def reap_browsers(data_dir: Path | None) -> int:
    """Kill what is left of the browsers of runs that are over (recorded in `data_dir`), and
    remove the profiles of runs that are over; never a process or profile of a live run, nor a
    browser that is not dogcli's. Returns how many processes were killed. Best effort."""
    procs = _processes()
    killed = 0
    if data_dir is not None:
        pids = _PidFile(data_dir)
        records = pids.read()
        keep = []
        for r in records:
            owner = _pair(r.get("owner"))
            if owner is not None and _alive(*owner):
                keep.append(r)  # a run still going (another command on this data dir)
                continue
            profile = r.get("profile") if isinstance(r.get("profile"), str) else None
            killed += _kill_tree(_pair(r.get("driver")), profile, procs)
            if profile and _is_profile(profile):
                _wait_unused(profile)  # a dying process writes no more into it
                shutil.rmtree(profile, ignore_errors=True)
        if keep != records:
            pids.write(keep)
        if killed:
            log.info("stopped %d browser processes left by an earlier run", killed)
            procs = _processes()
    in_use = {p.profile for p in procs if p.profile}
    tmp = Path(tempfile.gettempdir())
    with contextlib.suppress(OSError):
        for path in tmp.glob(PROFILE_PREFIX + "*"):
            with contextlib.suppress(OSError):
                st = path.lstat()
                if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or str(path) in in_use:
                    continue
                owner = _profile_owner(str(path))
                if owner is not None and _alive(*owner):
                    continue
                if owner is None and time.time() - st.st_mtime < LEGACY_PROFILE_AGE:
                    continue  # from a dogcli that did not name its profiles: maybe starting
                shutil.rmtree(path, ignore_errors=True)
                log.debug("removed the browser profile %s of a run that is over", path)
    return killed


@functools.cache
def _prctl() -> Any:
    try:
        fn = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    fn.restype = ctypes.c_int
    return fn


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn: the child is SIGKILLed when the thread that started it ends (Linux; the
    kernel's "parent" is that thread, not the process). None where there is no prctl."""
    prctl = _prctl() if sys.platform.startswith("linux") else None
    if prctl is None:
        return None
    parent = os.getpid()

    def preexec() -> None:  # in the child, between fork and exec: no imports, no locks
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the signal was asked for
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


class Browser:
    """One headless Chromium per command run, with a fresh throwaway profile. Chromium and its
    driver end with the process, even when it is killed (see above); `state_dir` (the data dir)
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
        owner = _me()
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
        preexec = _die_with_parent()
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
        if process is not None and (p := _read_proc(process.pid)) is not None:
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
            [p.pid, p.start] for p in _processes() if p.profile == self._profile and _is_chromium(p)
        ]
        record = {
            "owner": list(owner),
            "driver": list(self._driver_pid) if self._driver_pid else None,
            "profile": self._profile,
            "browser": browser,
        }
        try:
            _PidFile(self.state_dir).put(record)
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
                if _kill_tree(self._driver_pid, self._profile, _processes()) and self._profile:
                    _wait_unused(self._profile)
        if self._profile:
            shutil.rmtree(self._profile, ignore_errors=True)
            if self.state_dir is not None:
                with contextlib.suppress(OSError):
                    _PidFile(self.state_dir).drop(self._profile)
            self._profile = None
        self._driver_pid = None

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CameraSite:
    """The DrayDog camera pages of one terminal, driven through one Browser."""

    def __init__(
        self,
        browser: Browser,
        settings: Settings,
    ) -> None:
        self.browser = browser
        self.site_url = settings.site_url.rstrip("/")
        self.cdn_url = settings.cdn_url
        self.cdn_prefix = self.cdn_url.rstrip("/") + "/"
        self.terminal = settings.terminal
        self.zones = settings.zones
        self.timeout = settings.page_timeout
        self.max_retries = settings.max_retries
        self.wait = BackoffWait(settings.retry_base)
        self._stream: str | None = None  # stream whose page is open

    def page_url(self, stream: str) -> str:
        return (
            f"{self.site_url}/terminal_cameras/{quote(self.terminal)}"
            f"?streamName={quote(stream)}#camera-history"
        )

    def discover(self, stream: str, day: date) -> list[Found]:
        """Every capture of `stream` the page's History shows for the local `day`, whatever
        the date in its URL; retried, then DiscoveryError (NoCamera at once)."""
        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self.wait,
            retry=retry_if_exception_type((TimeoutException, WebDriverException, _PageError)),
            reraise=True,
            before_sleep=lambda state: (
                log.warning(
                    "%s %s: %s; retrying", stream, day, _describe(state.outcome.exception())
                )
                if state.outcome
                else None
            ),
        )
        try:
            for attempt in retrying:
                with attempt:
                    fresh = attempt.retry_state.attempt_number > 1
                    return self._discover_once(stream, day, reload=fresh)
        except (TimeoutException, WebDriverException, _PageError) as exc:
            self._stream = None
            raise DiscoveryError(f"{stream} {day}: {_describe(exc)}") from None
        except NoCamera:
            self._stream = None
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    # -- one attempt -----------------------------------------------------------------------

    def _discover_once(self, stream: str, day: date, reload: bool) -> list[Found]:
        driver = self.browser.driver
        started = time.monotonic()
        opened = reload or self._stream != stream
        if opened:
            self._stream = None
            url = self.page_url(stream)
            if driver.current_url.split("#")[0] == url.split("#")[0]:
                driver.get("about:blank")  # a same-URL get() would not reload
            driver.get(url)
        target = f"{day:%Y-%m-%d}"
        state = self._wait(
            lambda s: s["nocamera"] or (s["heading"] and s["value"] is not None),
            "the History date picker",
        )
        if state["nocamera"]:
            raise NoCamera(f"{stream}: the page says 'No camera found'")
        self._stream = stream
        if opened:  # the page's own first load (today's): what we pick must come after it
            fresh = {"done": 0, "loads": 0, "errors": 0, "started": 0}
            # A failed first load matters only when it is the day asked for; else the day
            # is picked all the same (a retry must not depend on today's gallery).
            state = self._settled(state["value"], fresh, "the page's first gallery",
                                  fail_on_error=state["value"] == target)  # fmt: skip
        if state["value"] != target:
            self._select_day(target, state)
        elif state["busy"] or state["started"] > state["done"]:
            self._settled(target, state, f"the History gallery of {target}")
        urls = self._read_pages(target)
        found = self._parse(urls, stream)
        log.debug(
            "%s %s: %d captures in %.2fs", stream, day, len(found), time.monotonic() - started
        )
        return found

    def _state(self) -> dict[str, Any]:
        try:
            state = self.browser.driver.execute_script(GALLERY_STATE_JS, DATE_INPUT)
        except JavascriptException as exc:
            raise _PageError(f"page script failed: {exc.msg}") from None
        return dict(state)

    def _wait(
        self, condition: Callable[[dict[str, Any]], bool], what: str, timeout: float | None = None
    ) -> dict[str, Any]:
        box: dict[str, Any] = {}

        def check(_driver: Any) -> bool:
            box["state"] = self._state()
            return bool(condition(box["state"]))

        try:
            WebDriverWait(self.browser.driver, timeout or self.timeout, poll_frequency=POLL).until(
                check
            )
        except TimeoutException:
            raise TimeoutException(f"timed out waiting for {what}") from None
        state: dict[str, Any] = box["state"]
        return state

    def _settled(
        self,
        target: str,
        before: dict[str, Any],
        what: str,
        page: int | None = None,
        fail_on_error: bool = True,
    ) -> dict[str, Any]:
        """Wait until a load the page began is over and its gallery is drawn: no API call in
        flight and a new one finished (or, on a page without any, a loading mask came and
        went), no mask, the date is `target` (and the pager on `page`), and the gallery the
        same at two polls in a row (the page renders what it received a moment later).

        An error message shown meanwhile, with no image of the day, means the load failed
        (the gallery is empty or still the previous day's): an error, never an empty day."""
        last: list[Any] = [None]

        def over(s: dict[str, Any]) -> bool:
            if s["nocamera"]:  # the page learns it from its first answer
                raise NoCamera(f"{self._stream}: the page says 'No camera found'")
            if s["busy"] or s["started"] > s["done"] or s["value"] != target:
                return False
            if s["done"] <= before["done"] and s["loads"] <= before["loads"]:
                return False  # nothing has happened yet
            if page is not None and s["page"] not in (None, page):
                return False
            of_day, other = self._days(s["urls"], target)
            if fail_on_error and s["errors"] > before["errors"] and not of_day:
                raise _PageError(f"the page failed to load the History of {target}")
            if of_day < other:  # still the previous day's images
                return False
            sig = (len(s["urls"]), s["items"], s["urls"][:1], s["urls"][-1:], s["page"])
            steady: bool = sig == last[0]
            last[0] = sig
            return steady

        return self._wait(over, what)

    def _days(self, urls: list[str], target: str) -> tuple[int, int]:
        """How many gallery URLs are of the local day `target`, and of the most frequent other
        day: a day's gallery holds URLs of two UTC dates, and while a load runs the previous
        day's images stay. Images of other hosts, and a few odd ones, count for nothing (a
        hostile page could add them forever)."""
        days = Counter(self._local_day(u) for u in urls if u.startswith(self.cdn_prefix))
        days.pop(None, None)
        of_day = days.pop(target, 0)
        return of_day, max(days.values(), default=0)

    def _local_day(self, url: str) -> str | None:
        # .../{ts}-{stream}[...].jpeg: the stamp, without full validation (speed).
        name = url.rsplit("/", 1)[-1]
        try:
            stamp = datetime.fromisoformat(unquote(name)[:19])
        except ValueError:
            return None
        return f"{self.zones.to_utc(stamp).astimezone(self.zones.site):%Y-%m-%d}"

    def _select_day(self, target: str, before: dict[str, Any]) -> None:
        driver = self.browser.driver
        driver.execute_script("window.__dogcli.seen.clear()")  # URLs of this day only
        field = driver.find_element(By.CSS_SELECTOR, DATE_INPUT)
        # Typing is the fast path; clear() does not stick on Element inputs, Ctrl+A does.
        field.click()
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys(target, Keys.ENTER)
        try:
            self._wait(
                lambda s: (
                    s["value"] == target
                    and (
                        s["busy"]
                        or s["started"] > before["started"]
                        or s["loads"] > before["loads"]
                    )
                ),
                "the typed date",
                timeout=min(self.timeout, 3.0),
            )
        except TimeoutException:
            log.debug("typing %s was not taken; clicking the calendar", target)
            self._click_calendar(target)
        self._settled(target, before, f"the History gallery of {target}")

    def _click_calendar(self, target: str) -> None:
        driver = self.browser.driver
        year, month, day = (int(p) for p in target.split("-"))
        field = driver.find_element(By.CSS_SELECTOR, DATE_INPUT)
        if not _visible_panel(driver):
            field.click()
        panel: WebElement = WebDriverWait(driver, self.timeout, POLL).until(_visible_panel)  # type: ignore[assignment]
        for _ in range(1200):  # bounded: 100 years of months
            shown = _panel_month(panel)
            if shown == (year, month):
                break
            arrow = "arrow-left" if shown > (year, month) else "arrow-right"
            buttons = [
                b
                for b in panel.find_elements(By.CSS_SELECTOR, f"button.{arrow}, .{arrow}")
                if b.is_displayed() and "d-arrow" not in (b.get_attribute("class") or "")
            ]
            if not buttons:
                raise _PageError("the calendar has no month arrows")
            buttons[0].click()

            def moved(_driver: Any, before: tuple[int, int] = shown) -> bool:
                return _panel_month(panel) != before

            WebDriverWait(driver, self.timeout, POLL).until(moved)
        for cell in panel.find_elements(By.CSS_SELECTOR, "table.el-date-table td"):
            classes = (cell.get_attribute("class") or "").split()
            if "prev-month" in classes or "next-month" in classes:
                continue
            if cell.text.strip() == str(day):
                if "disabled" in classes:
                    raise _PageError(f"the calendar does not offer {target}")
                cell.find_element(By.CSS_SELECTOR, "span").click()
                return
        raise _PageError(f"no calendar cell for {target}")

    def _read_pages(self, target: str) -> list[str]:
        """Every image URL of the day's gallery: each page of a paginated one, from the first."""
        driver = self.browser.driver
        state = self._state()
        if state["page"] not in (None, 1):
            before = state
            if not driver.execute_script(PAGER_JS, "first"):
                raise _PageError("the gallery's pager has no page 1")
            self._settled(target, before, "page 1 of the gallery", page=1)
        urls = self._load_all_lazy()
        for _ in range(1000):  # bounded: a thousand pages
            state = self._state()
            if state["next"] != "enabled":
                break
            page = int(state["page"] or 1) + 1
            if not driver.execute_script(PAGER_JS, "next"):
                break
            self._wait_page(target, state, page)
            urls.extend(self._load_all_lazy())
        seen = driver.execute_script("return Array.from(window.__dogcli.seen)")
        return list(dict.fromkeys([*urls, *(seen or [])]))

    def _wait_page(self, target: str, before: dict[str, Any], page: int) -> None:
        """A pager step: the page asked the server for it (then wait for that load) or drew
        it from what it had (then wait for the drawing)."""
        last: list[Any] = [None]

        def sig(s: dict[str, Any]) -> tuple[Any, ...]:
            return (len(s["urls"]), s["items"], s["urls"][:1], s["urls"][-1:])

        def shown(s: dict[str, Any]) -> bool:
            if s["page"] != page or s["busy"] or s["started"] > s["done"]:
                return False
            if s["value"] != target:
                raise _PageError(f"the date changed to {s['value']} while paging")
            now = sig(s)
            steady = now == last[0] and (now != sig(before) or s["done"] > before["done"])
            last[0] = now
            return steady

        self._wait(shown, f"page {page} of the gallery of {target}")

    def _load_all_lazy(self) -> list[str]:
        """Bring lazy thumbnails into view until every gallery image has its URL."""
        driver = self.browser.driver
        state = self._state()
        if state["placeholders"] and driver.execute_script(EXPAND_LAZY_JS):
            try:
                state = self._wait(
                    lambda s: not s["placeholders"] or s["busy"],
                    "lazy images to load",
                    timeout=min(2.0, self.timeout),
                )
            except TimeoutException:
                state = self._state()  # checked against the window: step through instead
            if state["busy"]:
                raise _PageError("the gallery reloaded while scrolling")
        deadline = time.monotonic() + self.timeout
        while state["placeholders"]:
            before = state["placeholders"]
            if not driver.execute_script(SCROLL_NEXT_JS):
                break
            try:
                # Short steps: a nudge the page ignored (throttled) is simply sent again.
                state = self._wait(
                    lambda s, before=before: bool(s["placeholders"] < before or s["busy"]),  # type: ignore[misc]
                    "lazy images to load",
                    timeout=min(1.0, self.timeout),
                )
            except TimeoutException:
                if time.monotonic() > deadline:
                    raise
                continue
            if state["busy"]:
                raise _PageError("the gallery reloaded while scrolling")
            deadline = time.monotonic() + self.timeout
        return list(state["urls"])

    def _parse(self, urls: list[str], stream: str) -> list[Found]:
        found: dict[Capture, Found] = {}
        for url in urls:
            parsed = parse_image_url(url, self.cdn_url, self.terminal, self.zones)
            if parsed is None:
                log.debug("ignored URL %s", url[:200])
                continue
            capture, variant = parsed
            if capture.stream == stream:
                found.setdefault(capture, Found(capture, variant))
        return sorted(found.values(), key=lambda f: f.capture.taken)


class _PageError(Exception):
    pass


def _visible_panel(driver: Any) -> WebElement | bool:
    for panel in driver.find_elements(By.CSS_SELECTOR, ".el-picker-panel"):
        if panel.is_displayed():
            return panel  # type: ignore[no-any-return]
    return False


MONTHS = {
    name: index
    for index, name in enumerate(
        [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ],
        start=1,
    )
}


def _panel_month(panel: WebElement) -> tuple[int, int]:
    header = panel.find_element(By.CSS_SELECTOR, ".el-date-picker__header").text
    year = month = 0
    for word in header.replace("年", " ").replace("月", " ").split():
        lowered = word.lower()
        if lowered.isdigit() and len(lowered) == 4:
            year = int(lowered)
        elif lowered.isdigit() and 1 <= int(lowered) <= 12:
            month = int(lowered)
        elif lowered in MONTHS:
            month = MONTHS[lowered]
        elif lowered[:3] in {m[:3] for m in MONTHS}:
            month = next(i for m, i in MONTHS.items() if m.startswith(lowered[:3]))
    if not year or not month:
        raise _PageError(f"cannot read the calendar header {header!r}")
    return year, month


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    if isinstance(exc, WebDriverException):
        return (exc.msg or type(exc).__name__).strip().splitlines()[0]
    return str(exc) or type(exc).__name__

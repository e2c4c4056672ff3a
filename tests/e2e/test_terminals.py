"""Several terminals in one archive (DOGCLI_CAMERAS): one fetch, one browser session."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import site_now

CAMERAS = "apm:in_gate,apm:out_gate,fms:in_gate"


def test_cameras_setting_is_strict(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from dogcli.config import load_settings

    settings = load_settings(env={"DOGCLI_CAMERAS": CAMERAS})
    assert settings.terminals == ("apm", "fms")
    assert settings.scope(["in_gate"]).by_terminal() == [
        ("apm", ("in_gate",)),
        ("fms", ("in_gate",)),
    ]
    assert settings.scope(["fms:in_gate"]).by_terminal() == [("fms", ("in_gate",))]
    # Unset: the terminal and its streams, as before.
    assert load_settings(env={}).camera_list == (("apm", "in_gate"), ("apm", "out_gate"))
    for bad in ("apm", "apm:", "APM:in_gate", "apm:in gate"):
        monkeypatch.setenv("DOGCLI_CAMERAS", bad)
        ran = cli("stats")
        assert ran.code == 2 and "DOGCLI_CAMERAS" in ran.err, (bad, ran.err)
        assert len(ran.err.strip().splitlines()) == 1 and "Traceback" not in ran.err
    monkeypatch.setenv("DOGCLI_CAMERAS", CAMERAS)
    ran = cli("stats", "--stream", "fms:out_gate")
    assert ran.code == 2 and "unknown stream 'fms:out_gate'" in ran.err


@pytest.mark.browser
def test_two_terminals_in_one_fetch_one_browser(
    make_site: Any, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dogcli.sources.site import browser as site_module
    from tests.replica import make_dataset

    now = site_now()
    site = make_site(days=2, now=now)
    site.replica.extra_datasets["fms"] = make_dataset(
        terminal="fms", streams=("in_gate",), days=[site.day(-1), site.today], now=now, seed=11
    )
    monkeypatch.setenv("DOGCLI_CAMERAS", CAMERAS)
    sessions: list[Any] = []
    real_init = site_module.Browser.__init__

    def counting_init(self: Any, *args: Any, **kwargs: Any) -> None:
        sessions.append(self)  # a spy: the real Browser starts
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(site_module.Browser, "__init__", counting_init)

    ran = cli("fetch")
    assert ran.code == 0, ran.err
    assert len(sessions) == 1  # one browser session served both terminals
    pages = [r.path for r in site.replica.requests if r.path.startswith("/terminal_cameras/")]
    assert any(p.startswith("/terminal_cameras/apm") for p in pages)
    assert any(p.startswith("/terminal_cameras/fms") for p in pages)

    # Files byte for byte under images/{terminal}/..., one catalog row each.
    engine = create_engine(f"sqlite:///{site.data_dir / 'dogcli.db'}")
    with engine.connect() as conn:
        rows = {
            (r[0], r[1], r[2]): (r[3], r[4])
            for r in conn.execute(
                text("select terminal, stream, url_ts, path, sha256 from captures")
            )
        }
    engine.dispose()
    want = {}
    for terminal, stream in (("apm", "in_gate"), ("apm", "out_gate"), ("fms", "in_gate")):
        rep = site.replica.view(terminal)
        instants = {rep.stamp(s.utc): s.utc for s in rep.captures(stream, site.today)}
        expected = rep.expected(stream, site.today)
        assert expected, (terminal, stream)
        for stamp, _variant, data in expected:
            taken = instants[stamp]
            rel = f"images/{terminal}/{stream}/{site.today}/{stream}_{taken:%Y%m%dT%H%M%S}Z.jpg"
            assert (site.data_dir / rel).read_bytes() == data, rel
            want[(terminal, stream, stamp)] = (rel, hashlib.sha256(data).hexdigest())
    assert rows == want
    fms_bytes = site.replica.view("fms").expected("in_gate", site.today)[0][2]
    apm_bytes = site.replica.expected("in_gate", site.today)[0][2]
    assert fms_bytes != apm_bytes  # the two terminals' images differ

    # Reports group by terminal.
    stats = json.loads(cli("stats", "--json").out)
    counts = {t: {s: v["count"] for s, v in r["streams"].items()}
              for t, r in stats["terminals"].items()}  # fmt: skip
    assert counts == {
        "apm": {"in_gate": len(site.replica.expected("in_gate", site.today)),
                "out_gate": len(site.replica.expected("out_gate", site.today))},
        "fms": {"in_gate": len(site.replica.view("fms").expected("in_gate", site.today))},
    }  # fmt: skip
    health = cli("health", "--json")
    names = {c["name"] for c in json.loads(health.out)["checks"]}
    assert {"apm.in_gate.newest_capture", "apm.out_gate.newest_capture",
            "fms.in_gate.newest_capture"} <= names, names  # fmt: skip

    # Again: nothing new, still one browser.
    again = cli("fetch", "--stream", "fms:in_gate")
    assert again.code == 0, again.err
    assert "new 0" in again.out + again.err

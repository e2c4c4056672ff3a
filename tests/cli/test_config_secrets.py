"""Secrets in `config show` (issue 15, §7): every URL of a list masked on its own, apprise
tokens wherever apprise puts them (host, port, path, query), a ping URL's key, and a database
password with an unencoded `@` or `/`; each URL still recognisable by its scheme and host."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dogcli.model.redact import mask_url, redact_url
from dogcli.ops.alerts import scrub

ALERTS = [
    ("discord://1234/SECRETTOKEN", "discord://1234/"),
    ("slack://T1/B2/SECRETPART", "slack://T1/"),
    ("tgram://123456:SECRETBOT/987", "tgram://123456:"),
    ("mailto://user:SECRETPW@example.com", "mailto://user:***@example.com"),
    ("https://hooks.slack.com/services/T0/B0/SECRETHOOK", "https://hooks.slack.com/"),
    ("smtp://mail:SECRETSMTP@mx.example?to=ops@example.com", "smtp://mail:***@mx.example?to="),
]
PING = "https://hc-ping.com/SECRETUUID-0f4d-4c27-9e3c"
DATABASE = "postgresql+psycopg://bob:SECRETa@b@db.example/dogcli"


@pytest.fixture
def secret_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOGCLI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DOGCLI_ALERT_URLS", ",".join(url for url, _shown in ALERTS))
    monkeypatch.setenv("DOGCLI_PING_URL", PING)
    monkeypatch.setenv("DOGCLI_DATABASE_URL", DATABASE)


def test_config_show_masks_every_url_of_the_list_on_its_own(cli: Any, secret_env: None) -> None:
    ran = cli("config", "show")
    assert ran.code == 0, ran.err
    assert "SECRET" not in ran.out + ran.err, ran.out
    lines = {line.split()[0]: line for line in ran.out.splitlines() if line.strip()}
    shown = lines["alert_urls"].split()[1].split(",")
    assert len(shown) == len(ALERTS)  # no mask swallowed the next URL
    for (_url, start), masked in zip(ALERTS, shown, strict=True):
        assert masked.startswith(start), (masked, start)
    assert lines["ping_url"].split()[1] == "https://hc-ping.com/***"
    assert lines["database_url"].split()[1] == "postgresql+psycopg://bob:***@db.example/dogcli"


def test_config_show_json_masks_them_too(cli: Any, secret_env: None) -> None:
    ran = cli("config", "show", "--json")
    assert ran.code == 0, ran.err
    assert "SECRET" not in ran.out + ran.err, ran.out
    got = json.loads(ran.out)["settings"]
    alerts = got["alert_urls"]["value"]
    assert len(alerts) == len(ALERTS)
    for (_url, start), masked in zip(ALERTS, alerts, strict=True):
        assert masked.startswith(start), (masked, start)
    assert alerts[2] == "tgram://123456:***/***"  # the bot token sits in the port's place
    assert alerts[4] == "https://hooks.slack.com/***/***/***/***"
    assert got["ping_url"]["value"] == "https://hc-ping.com/***"
    assert got["database_url"]["value"] == "postgresql+psycopg://bob:***@db.example/dogcli"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:SECRET-p@ss:w/rd@db/x",
        "postgresql+psycopg://bob:SECRETa@b@db.example/dogcli",
        "postgresql://u:SECRET/pw@db/x?sslmode=require",
    ],
)
def test_no_part_of_a_password_with_unencoded_characters_is_left(url: str) -> None:
    password = url.split("://", 1)[1].split(":", 1)[1].rsplit("@", 1)[0]
    pieces = {password, *password.replace("/", "@").replace(":", "@").split("@")}
    for text in (redact_url(url), redact_url(f"catalog {url} unavailable"), mask_url(url)):
        assert not [p for p in pieces if len(p) >= 2 and p in text], text
        assert "db" in text


def test_a_list_of_urls_is_redacted_url_by_url() -> None:
    joined = "tgram://123456:SECRETBOT/987,mailto://user:SECRETPW@example.com"
    assert redact_url(joined) == "tgram://123456:SECRETBOT/987,mailto://user:***@example.com"
    masked = ",".join(mask_url(u) for u in joined.split(","))
    assert redact_url(masked) == masked == "tgram://123456:***/***,mailto://user:***@example.com"


def test_a_token_host_is_cut_and_its_user_masked() -> None:
    assert mask_url("pover://SECRETUSERKEY@SECRETAPPTOKEN", host_shown=6) == "pover://***@SECRET***"
    assert mask_url("json://hook.example/path?-X=SECRETVALUE&SECRETFLAG") == (
        "json://hook.example/***?-X=***&***"
    )


def test_scrub_takes_each_part_of_a_token_out_of_a_reason() -> None:
    url = "tgram://123456:SECRETBOT/987"
    reason = "telegram said: bot SECRETBOT unauthorized for 123456:SECRETBOT, chat 987"
    assert "SECRET" not in scrub(reason, url)
    mail = "mailto://user:SECRETa@b@example.com"
    assert "SECRET" not in scrub("login user:SECRETa@b refused", mail)

"""Keep secrets out of output and logs: passwords in any text (redact_url), and every secret
part of one URL that is shown on purpose (mask_url: `config show`'s alert and ping URLs)."""

from __future__ import annotations

import re

# The password runs to the last `@` before a space, so that one with an unencoded `@` or `/`
# (`bob:p@ss:w/rd@db`) is masked whole; never into the next URL of a list (no `://`).
_URL_PASSWORD = re.compile(
    r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>(?:(?!://)\S)*(?=@))", re.I
)
_KV_PASSWORD = re.compile(r"(?P<head>password=)(?P<pw>[^\s&]+)", re.I)
MASK = "***"
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")  # a query key shown as it is


def redact_url(text: str) -> str:
    """Replace the password of every URL (and password=... pair) in text with ***."""
    text = _URL_PASSWORD.sub(rf"\g<head>{MASK}", text)
    return _KV_PASSWORD.sub(rf"\g<head>{MASK}", text)


def mask_url(url: str, host_shown: int | None = None) -> str:
    """url with every part that may be a secret masked: the password (and the user too where
    the host is not a server's name), a port that is not a number (tgram://BOT:TOKEN), each
    path segment (webhook tokens, a ping URL's key), each query value and the fragment.
    The scheme and host stay, so the URL is recognisable; `host_shown` (where the host may be
    a token itself) keeps only its first that many characters."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep or not re.match(r"^[a-z][a-z0-9+.-]*$", scheme, re.I):
        return MASK  # not a URL: nothing in it can be told from a secret
    end = _first(rest, "/?#")
    userinfo, at, hostport = rest[:end].rpartition("@")
    host, port = _split_port(hostport)
    last_at = rest.rfind("@", 0, _first(rest, "?#"))
    if port and not port.isdigit() and last_at > end:
        # Not a port: a password with an unencoded `/` (`u:pa/ss@db`); it runs to that `@`.
        end = last_at + _first(rest[last_at:], "/?#")
        userinfo, at, hostport = rest[:end].rpartition("@")
        host, port = _split_port(hostport)
    tail = rest[end:]
    if host_shown is not None and len(host) > host_shown:
        host = host[:host_shown] + MASK
    shown = f"{scheme}://"
    if at:
        user, colon, _password = userinfo.partition(":")
        user = user if host_shown is None else MASK
        shown += f"{user}:{MASK}@" if colon else f"{user}@"
    shown += host
    if port:
        shown += f":{port}" if port.isdigit() else f":{MASK}"
    return shown + _mask_tail(tail)


def _first(text: str, marks: str) -> int:
    """Where the first of marks is in text; its length when none is."""
    return min((i for i in (text.find(mark) for mark in marks) if i >= 0), default=len(text))


def _split_port(hostport: str) -> tuple[str, str]:
    if hostport.startswith("["):  # an IPv6 literal
        bracket = hostport.find("]")
        if bracket >= 0:
            return hostport[: bracket + 1], hostport[bracket + 2 :]
    host, _colon, port = hostport.partition(":")
    return host, port


def _mask_tail(tail: str) -> str:
    path, _hash, fragment = tail.partition("#")
    path, question, query = path.partition("?")
    shown = "/".join(MASK if segment else "" for segment in path.split("/"))
    if question:
        pairs = (pair.partition("=") for pair in query.split("&") if pair)
        shown += "?" + "&".join(
            f"{key}={MASK}" if eq and _PLAIN_KEY.match(key) else MASK for key, eq, _value in pairs
        )
    return shown + (f"#{MASK}" if fragment else "")

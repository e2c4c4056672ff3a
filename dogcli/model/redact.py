"""Keep secrets (passwords in database URLs) out of output and logs."""

from __future__ import annotations

import re

_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]*)(?=@)", re.I)
_KV_PASSWORD = re.compile(r"(?P<head>password=)(?P<pw>[^\s&]+)", re.I)


def redact_url(text: str) -> str:
    """Replace the password of every URL (and password=... pair) in text with ***."""
    text = _URL_PASSWORD.sub(r"\g<head>***", text)
    return _KV_PASSWORD.sub(r"\g<head>***", text)

"""Hiding passwords in text that sqlmig shows: URLs, ``key=value`` connection strings, and what libpq echoes of
them. Pure."""

from __future__ import annotations

import re

# The password runs to the last '@' before the host, so an unencoded '@' in it is hidden too; a URL whose scheme
# was forgotten (user:password@host/db) is recognised by the same shape.
_URL_PASSWORD = re.compile(
    r"(?P<head>(?:[a-z][a-z0-9+.-]*://|(?<![\w:/@.-]))[^\s:/@?#\"']+:)"
    r"(?P<pw>(?!//)[^\s\"'/?#]*)"
    r"(?=@[^\s@\"'/?#]*(?:[/?#\s\"']|$))",
    re.IGNORECASE,
)
_DSN_PASSWORD = re.compile(r"(?P<head>(?:^|(?<=\s))password\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)(?P<pw>[^&#]*)", re.IGNORECASE)


def redact(text: str, url: str | None = None) -> str:
    """``text`` with every password in a URL or ``key=value`` connection string replaced by ``***``; with
    ``url``, also every piece of that URL's password that libpq may have echoed elsewhere (an unencoded ``@``
    in a password makes libpq read the rest of it as the host name, which its error then shows)."""
    for secret in sorted(_password_pieces(url), key=len, reverse=True) if url else ():
        text = text.replace(secret, "***")
    for pattern in (_URL_PASSWORD, _QUERY_PASSWORD, _DSN_PASSWORD):
        text = pattern.sub(lambda m: m["head"] + ("***" if m["pw"] else ""), text)
    return text


_RAW_PASSWORD = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*://)?[^\s:/@?#]*:(?P<pw>[^\s/?#]*)@[^@]*$", re.IGNORECASE)


def _password_pieces(url: str) -> set[str]:
    found = {m["pw"] for p in (_QUERY_PASSWORD, _DSN_PASSWORD) for m in p.finditer(url)}
    raw = _RAW_PASSWORD.match(url.split("?", 1)[0])
    if raw:
        found |= {raw["pw"], *raw["pw"].split("@")}
    # Pieces too short to be told from ordinary text stay; the patterns above still hide them inside URLs.
    return {piece.strip("'") for piece in found if len(piece.strip("'")) >= 4}

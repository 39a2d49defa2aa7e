"""Whether a ResultVideoUrl from an answer is fit to offer (copy, download), or suspect and why."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback_host(hostname: str) -> bool:
    if hostname.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def result_url_problem(url: object) -> str | None:
    """None if `url` is an https URL with a host (or http to loopback: the simulator); else why
    it is suspect, in a few words. The service only ever hands out https links to its storage;
    anything else came from something in the way, and must not be passed on as a link."""
    if not isinstance(url, str):
        return "not a string"
    if not url:
        return "empty"
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        return "has spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError:
        return "not a valid URL"
    if not parts.hostname:
        return "no host"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "has a user name in it (a disguised host)"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        return None
    return f"not https ({parts.scheme or 'no scheme'})"

"""Where requests go: the endpoint from an override, a region or the default, checked before use."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from tui.api.errors import ConfigError
from tui.api.models import DEFAULT_HOST, REGION_RE
from tui.api.urls import is_loopback_host

__all__ = ["Endpoint", "resolve_endpoint"]


@dataclass(frozen=True, slots=True)
class Endpoint:
    url: str  # scheme://host[:port]/
    host: str  # what is signed and sent as Host: host[:port]
    scheme: str

    def __str__(self) -> str:
        return self.url.rstrip("/")


def _with_scheme(text: str) -> str:
    """The endpoint a scheme-less one most likely meant: http to loopback (the simulator), else https."""
    try:
        hostname = urlsplit("//" + text).hostname or ""
    except ValueError:
        hostname = ""
    return ("http://" if is_loopback_host(hostname) else "https://") + text


def resolve_endpoint(endpoint: str | None = None, region: str | None = None, *, regional: bool = False) -> Endpoint:
    """The URL to post to: an explicit override, the regional host, or the default host.

    Signed requests go over plain http only to a loopback address (the simulator).
    """
    if not endpoint:
        if regional and region and not REGION_RE.match(region):
            # it becomes part of a host name: "x@evil.example#" would send signed requests elsewhere
            raise ConfigError(f"bad region {region[:60]!r}: expected a region name such as ap-guangzhou")
        host = f"vclm.{region}.tencentcloudapi.com" if regional and region else DEFAULT_HOST
        return Endpoint(url=f"https://{host}/", host=host, scheme="https")
    text = endpoint.strip()
    if "://" not in text:
        # Guessing https for "127.0.0.1:38555" would time out against the simulator 20 s later.
        raise ConfigError(f"bad endpoint {endpoint!r}: it needs a scheme; did you mean {_with_scheme(text)!r}?")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"bad endpoint {endpoint!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"bad endpoint {endpoint!r}: expected http(s)://host[:port]")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"bad endpoint {endpoint!r}: the API is served at '/', give only scheme://host[:port]")
    if parts.username or parts.password:
        raise ConfigError(f"bad endpoint {endpoint!r}: credentials do not belong in the URL")
    hostname = parts.hostname
    if any(ch.isspace() or not ch.isprintable() for ch in hostname):
        raise ConfigError(f"bad endpoint {endpoint!r}: the host name has spaces or control characters")
    if parts.scheme == "http" and not is_loopback_host(hostname):
        raise ConfigError(
            f"refusing to send signed requests over plain http to {hostname}: "
            "use https, or http only to a loopback address such as 127.0.0.1 (the simulator)"
        )
    host_for_url = f"[{hostname}]" if ":" in hostname else hostname
    host = host_for_url if port is None else f"{host_for_url}:{port}"
    url = f"{parts.scheme}://{host}/"
    import httpx  # (here, not at the top: commands that never connect do not pay for importing it)

    try:
        httpx.URL(url)  # what httpx would refuse at the first request, refused now, with the reason
    except httpx.InvalidURL as exc:
        raise ConfigError(f"bad endpoint {endpoint!r}: {exc}") from None
    return Endpoint(url=url, host=host, scheme=parts.scheme)

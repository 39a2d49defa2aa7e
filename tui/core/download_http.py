"""The HTTP transport downloads use: httpx's own, with its socket read in large pieces.

httpcore reads a response body 64 KiB at a time (`READ_NUM_BYTES`). Each read costs the event loop
about the same whatever its size, and the asyncio transport below hands over up to 256 KiB at
once, which anyio then cuts into 64 KiB pieces, copying what is left each time. A download is
one long body, and its loop is the bottleneck on a small machine (the loop that also polls):
asked for up to READ_BYTES, each read takes whatever has arrived. On loopback (200 MB, 2 cores,
`python -m tests.bench.downloads --only throughput --rounds 9`, three runs each), that took a
download from 0.89-0.95 of a plain httpx stream fsynced at the end to 1.00-1.10. Nothing else
changes: the same TLS context (certifi, as httpx), the same pool limits, no proxy from the
environment (as the download client always had).

Over TLS (every download that is not to loopback) this changes nothing: a TLS read returns one
record, 16 KiB at most, whatever is asked. What it serves is plain HTTP on loopback: the
simulator, the demo, a store on this machine, and the benchmark the issue set (loopback, against
a plain httpx stream). Only downloads use it; the API client keeps httpx's transport as it is.
"""

from __future__ import annotations

from typing import Any

import httpcore
import httpx

READ_BYTES = 1 << 20  # the most one read of the socket may return


class LargeReadStream(httpcore.AsyncNetworkStream):
    """A network stream that reads up to READ_BYTES whatever httpcore asks for (HTTP/1.1 framing
    is h11's: it keeps what belongs to the next answer)."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self.inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self.inner.read(max(max_bytes, READ_BYTES), timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self.inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        return LargeReadStream(await self.inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class LargeReadBackend(httpcore.AsyncNetworkBackend):
    """httpcore's own network backend (anyio), its streams wrapped in LargeReadStream."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        return LargeReadStream(await self.inner.connect_tcp(host, port, timeout, local_address, socket_options))

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        return LargeReadStream(await self.inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def download_transport() -> httpx.AsyncHTTPTransport:
    """httpx's transport as `httpx.AsyncClient(trust_env=False)` makes it, on LargeReadBackend.
    (httpx takes no network backend: its pool is made again with one. `_pool` is what the
    transport sends through; a test checks that downloads do read in large pieces.)"""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)  # (httpx's defaults)
    transport._pool = httpcore.AsyncConnectionPool(  # noqa: SLF001 - see the docstring
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=limits.max_connections, max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry, network_backend=LargeReadBackend())
    return transport

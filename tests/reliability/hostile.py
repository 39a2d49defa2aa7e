"""A hostile HTTP server on loopback, and the answers it can send: bombs, trickles, lies.

It speaks raw HTTP/1.1 from an asyncio loop in its own thread, so it serves a client in this
process (async tests) and a `vclm-watch` subprocess alike. Each request is read whole; then the
test's `Script` writes whatever bytes it likes, as slowly as it likes, and the connection closes.
"""

from __future__ import annotations

import asyncio
import functools
import json
import struct
import threading
import zlib
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

LOOPBACK = "127.0.0.1"
MIB = 1 << 20


@dataclass
class Request:
    head: bytes
    body: bytes

    @property
    def job_id(self) -> str:
        try:
            return str(json.loads(self.body).get("JobId", ""))
        except (ValueError, AttributeError):
            return ""


Script = Callable[[Request, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class HostileServer:
    script: Script
    port: int = 0
    requests: list[Request] = field(default_factory=list)
    open_connections: int = 0
    _loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open_connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                request = Request(head, await reader.readexactly(length))
                self.requests.append(request)
                await self.script(request, writer)
                await writer.drain()
                writer.close()
                return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self.open_connections -= 1
            writer.close()


@contextmanager
def serve(script: Script) -> Iterator[HostileServer]:
    """Run a HostileServer in a thread for the `with` block."""
    server = HostileServer(script)
    ready = threading.Event()
    stop: list[Callable[[], None]] = []

    def run() -> None:
        loop = asyncio.new_event_loop()
        server._loop = loop

        async def main() -> None:
            listener = await asyncio.start_server(server._serve, LOOPBACK, 0)
            server.port = listener.sockets[0].getsockname()[1]
            done = asyncio.Event()
            stop.append(lambda: loop.call_soon_threadsafe(done.set))
            ready.set()
            async with listener:
                await done.wait()
                listener.close()
                for task in asyncio.all_tasks(loop) - {asyncio.current_task()}:
                    task.cancel()

        loop.run_until_complete(main())
        loop.close()

    thread = threading.Thread(target=run, name="hostile-server", daemon=True)
    thread.start()
    ready.wait(5)
    try:
        yield server
    finally:
        stop[0]()
        thread.join(5)


# -- what it can answer -----------------------------------------------------------------------------

def head(status: int = 200, *headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status} X", *headers, "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def describe_body(job_id: str, **fields: object) -> bytes:
    answer = {"JobId": job_id, "StatusCode": "JobRunning", "StatusMsg": "处理中", "ResultVideoUrl": "",
              "RequestId": "0c4f3e5a-2b1d-4f7a-9d44-8f3c2a1b6e90"}
    answer.update(fields)
    return json.dumps({"Response": answer}, ensure_ascii=False).encode("utf-8")


def answer_with(body: bytes | Callable[[Request], bytes], *headers: str, status: int = 200) -> Script:
    """A whole answer at once, with a true Content-Length."""

    async def script(request: Request, writer: asyncio.StreamWriter) -> None:
        data = body(request) if callable(body) else body
        writer.write(head(status, *headers, f"Content-Length: {len(data)}") + data)

    return script


def describe_answer(**fields: object) -> Script:
    """A well-formed Describe answer about the job asked, with `fields` overriding."""
    return answer_with(lambda request: describe_body(request.job_id, **fields), "Content-Type: application/json")


def endless_chunked(piece: bytes = bytes(64 * 1024)) -> Script:
    """A chunked body that never ends."""

    async def script(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(head(200, "Transfer-Encoding: chunked"))
        while True:
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()

    return script


def length_lie(declared: int = 10**15) -> Script:
    """A Content-Length far past anything, then bytes for as long as the client reads."""

    async def script(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(head(200, f"Content-Length: {declared}"))
        while True:
            writer.write(bytes(64 * 1024))
            await writer.drain()

    return script


def trickle(data: bytes | Callable[[Request], bytes], interval: float = 0.05) -> Script:
    """`data` one byte at a time, `interval` seconds apart: never slow enough for a read timeout."""

    async def script(request: Request, writer: asyncio.StreamWriter) -> None:
        for byte in (data(request) if callable(data) else data):
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(interval)

    return script


def trickled_head(interval: float = 0.05) -> Script:
    """A status line and then one header that never ends, a byte at a time."""

    async def script(request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nX-Pad: ")
        while True:
            writer.write(b"a")
            await writer.drain()
            await asyncio.sleep(interval)

    return script


def trickled_answer(interval: float = 0.05) -> Script:
    """A valid Describe answer, every byte of it (head and body) `interval` seconds apart."""

    def whole(request: Request) -> bytes:
        body = describe_body(request.job_id)
        return head(200, "Content-Type: application/json", f"Content-Length: {len(body)}") + body

    return trickle(whole, interval)


# -- compression bombs ------------------------------------------------------------------------------

def _zeros_deflate_raw(mib: int) -> bytes:
    """Raw deflate of `mib` MiB of zeros, built in milliseconds: after a full flush each MiB
    compresses to the same bytes, so the stream is one segment repeated."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = compressor.compress(bytes(MIB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return segment * mib + compressor.flush()


@functools.cache
def zeros(mib: int, encoding: str) -> bytes:
    """`mib` MiB of zeros in one encoding: 'gzip', 'deflate' (zlib-wrapped) or 'deflate-raw'."""
    raw = _zeros_deflate_raw(mib)
    if encoding == "deflate-raw":
        return raw
    crc = 0
    block = bytes(MIB)
    for _ in range(mib):
        crc = zlib.crc32(block, crc)
    if encoding == "gzip":
        return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + raw + struct.pack("<II", crc, (mib * MIB) & 0xFFFFFFFF)
    if encoding == "deflate":
        adler = 1
        for _ in range(mib):
            adler = zlib.adler32(block, adler)
        return b"\x78\xda" + raw + struct.pack(">I", adler)
    raise ValueError(encoding)


def compress(data: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    elif encoding == "deflate":
        compressor = zlib.compressobj(9, zlib.DEFLATED, 15)
    else:
        raise ValueError(encoding)
    return compressor.compress(data) + compressor.flush()


@functools.cache
def bomb(mib: int, *encodings: str) -> bytes:
    """`mib` MiB of zeros with `encodings` applied in order (the first may be 'deflate-raw')."""
    data = zeros(mib, encodings[0])
    for encoding in encodings[1:]:
        data = compress(data, encoding)
    return data


def bomb_answer(mib: int, *encodings: str) -> Script:
    declared = ", ".join("deflate" if e == "deflate-raw" else e for e in encodings)
    return answer_with(bomb(mib, *encodings), f"Content-Encoding: {declared}", "Content-Type: application/json")


# -- what a gateway or a stuck server says ----------------------------------------------------------

GATEWAY_PAGE = (b"<!DOCTYPE html>\r\n<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
                b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n"
                b"</body>\r\n</html>\r\n")


def status_answer(status_line: bytes, body: bytes, *headers: str) -> Script:
    """An answer with this status line (`HTTP/1.1 599 Custom Thing`), headers and body."""

    async def script(request: Request, writer: asyncio.StreamWriter) -> None:
        lines = [*headers, f"Content-Length: {len(body)}", "Connection: close"]
        writer.write(status_line + b"\r\n" + ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    return script


def hang() -> Script:
    """Read the request, then say nothing, ever (until the client hangs up)."""

    async def script(request: Request, writer: asyncio.StreamWriter) -> None:
        await asyncio.Event().wait()

    return script

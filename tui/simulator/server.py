"""The simulator on a real socket: a small asyncio HTTP/1.1 server with keep-alive, loopback by default."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from email.utils import formatdate
from http import HTTPStatus
from urllib.parse import urlsplit

from tui.simulator.options import DEFAULT_HOST
from tui.simulator.results import ConnectionDropped
from tui.simulator.service import SimAnswer, Simulator

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 10 * 1024 * 1024  # the API's own limit on request bodies
IDLE_TIMEOUT = 75.0  # seconds a kept-alive connection may sit unused (real time: a socket matter)


class _BadRequest(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _url_host(host: str) -> str:
    """The host as it goes into a URL one can connect to (a wildcard bind means loopback)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


class SimulatorServer:
    """Serves one Simulator on host:port until closed. Use `serve()` rather than this directly."""

    def __init__(
        self,
        simulator: Simulator,
        host: str = DEFAULT_HOST,
        port: int = 0,
        *,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        self.simulator = simulator
        self.host = host
        self.port = port
        self.idle_timeout = idle_timeout
        self.connections_opened = 0
        self.requests_served = 0
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.Task] = set()

    @property
    def base_url(self) -> str:
        return f"http://{_url_host(self.host)}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve_connection, self.host, self.port,
                                                  limit=MAX_HEAD_BYTES, reuse_address=True)
        sockname = self._server.sockets[0].getsockname()
        self.host, self.port = sockname[0], sockname[1]

    async def close(self) -> None:
        """Stop accepting, cut every open connection (stalled answers included), wait for them."""
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    # -- one connection ---------------------------------------------------------------------

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        self.connections_opened += 1
        try:
            while await self._serve_one(reader, writer):
                pass
        except (asyncio.CancelledError, ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                TimeoutError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()
            if task is not None:
                self._connections.discard(task)

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Read one request and answer it; True to keep the connection for another."""
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.idle_timeout)
        except asyncio.IncompleteReadError:
            return False  # the client closed the connection between requests
        except asyncio.LimitOverrunError:
            await self._write_plain(writer, 431, "request head too large")
            return False
        try:
            method, target, version, headers = _parse_head(head)
            keep_alive = _wants_keep_alive(version, headers)
            if _header(headers, "expect").lower() == "100-continue":
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            body = await _read_body(reader, headers)
        except _BadRequest as bad:
            await self._write_plain(writer, bad.status, bad.reason)
            return False
        try:
            answer = await self.simulator.handle(method, target, headers, body)
        except Exception as exc:  # a simulator bug: answer it rather than kill the connection silently
            await self._write_plain(writer, 500, f"simulator error: {type(exc).__name__}: {exc}")
            return False
        self.requests_served += 1
        if answer.drop:
            writer.transport.abort()
            return False
        if answer.stall > 0:
            await self.simulator.clock.sleep(answer.stall)
        await self._write_answer(writer, answer, keep_alive)
        if answer.stream is not None:
            try:
                # One chunk at a time, waiting for the socket each time: memory stays bounded
                # whatever the file's size.
                async for chunk in answer.stream:
                    writer.write(chunk)
                    await writer.drain()
            except ConnectionDropped:
                writer.transport.abort()
                return False
        return keep_alive

    async def _write_answer(self, writer: asyncio.StreamWriter, answer: SimAnswer, keep_alive: bool) -> None:
        lines = [f"HTTP/1.1 {answer.status} {_reason(answer.status)}"]
        lines += [f"{name}: {value}" for name, value in answer.headers]
        if not any(name.lower() == "content-length" for name, _ in answer.headers):
            lines.append(f"Content-Length: {len(answer.body)}")
        lines += [
            f"Date: {formatdate(usegmt=True)}",
            "Server: vclm-simulator",
            f"Connection: {'keep-alive' if keep_alive else 'close'}",
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + answer.body)
        await writer.drain()

    async def _write_plain(self, writer: asyncio.StreamWriter, status: int, reason: str) -> None:
        body = f"{status} {_reason(status)}: {reason}\n".encode()
        answer = SimAnswer(status, (("Content-Type", "text/plain; charset=utf-8"),), body)
        with contextlib.suppress(ConnectionError):
            await self._write_answer(writer, answer, keep_alive=False)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _header(headers: list[tuple[str, str]], name: str) -> str:
    for key, value in headers:
        if key.lower() == name:
            return value.strip()
    return ""


def _parse_head(head: bytes) -> tuple[str, str, str, list[tuple[str, str]]]:
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes anything
        raise _BadRequest(400, "undecodable request head") from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise _BadRequest(400, "bad request line")
    method, target, version = parts
    if version not in ("HTTP/1.0", "HTTP/1.1"):
        raise _BadRequest(505, "only HTTP/1.0 and HTTP/1.1 are spoken here")
    if "://" in target:  # absolute form, as sent to a proxy
        split = urlsplit(target)
        target = (split.path or "/") + (f"?{split.query}" if split.query else "")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise _BadRequest(400, "bad header line")
        headers.append((name, value.strip()))
    return method, target, version, headers


def _wants_keep_alive(version: str, headers: list[tuple[str, str]]) -> bool:
    connection = _header(headers, "connection").lower()
    if version == "HTTP/1.1":
        return "close" not in connection
    return "keep-alive" in connection


async def _read_body(reader: asyncio.StreamReader, headers: list[tuple[str, str]]) -> bytes:
    if "chunked" in _header(headers, "transfer-encoding").lower():
        chunks: list[bytes] = []
        size = 0
        while True:
            line = await reader.readuntil(b"\r\n")
            try:
                chunk_size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadRequest(400, "bad chunk size") from None
            if chunk_size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                return b"".join(chunks)
            size += chunk_size
            if size > MAX_BODY_BYTES:
                raise _BadRequest(413, f"request body over {MAX_BODY_BYTES} bytes")
            chunks.append(await reader.readexactly(chunk_size))
            await reader.readexactly(2)
    raw_length = _header(headers, "content-length")
    if not raw_length:
        return b""
    try:
        length = int(raw_length)
    except ValueError:
        raise _BadRequest(400, "bad Content-Length") from None
    if length < 0:
        raise _BadRequest(400, "bad Content-Length")
    if length > MAX_BODY_BYTES:
        raise _BadRequest(413, f"request body over {MAX_BODY_BYTES} bytes")
    return await reader.readexactly(length)


@asynccontextmanager
async def serve(
    simulator: Simulator,
    host: str = DEFAULT_HOST,
    port: int = 0,
    *,
    idle_timeout: float = IDLE_TIMEOUT,
    serve_results: bool = False,
) -> AsyncIterator[SimulatorServer]:
    """`async with serve(sim) as server:` serves on `server.base_url` until the block ends.

    `serve_results`: the result URLs handed out point at this server (`base_url/results/`),
    which serves the files (see results.py).
    """
    server = SimulatorServer(simulator, host, port, idle_timeout=idle_timeout)
    await server.start()
    if serve_results:
        simulator.results.base = f"{server.base_url}/results/"
    try:
        yield server
    finally:
        await server.close()


@contextlib.contextmanager
def run_in_thread(
    simulator: Simulator,
    host: str = DEFAULT_HOST,
    port: int = 0,
    *,
    idle_timeout: float = IDLE_TIMEOUT,
    start_timeout: float = 10.0,
    serve_results: bool = False,
) -> Iterator[SimulatorServer]:
    """For synchronous code (the official SDK): serve from a thread of its own for the block.

    The simulator is then driven from that thread's event loop; its clock must not be one that
    only the caller's loop can advance.
    """
    ready = threading.Event()
    box: dict[str, object] = {}

    async def main() -> None:
        stop = asyncio.Event()
        try:
            async with serve(simulator, host, port, idle_timeout=idle_timeout, serve_results=serve_results) as server:
                box["loop"], box["stop"], box["server"] = asyncio.get_running_loop(), stop, server
                ready.set()
                await stop.wait()
        except BaseException as exc:  # reported to the caller's thread
            box["error"] = exc
            ready.set()

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="vclm-simulator", daemon=True)
    thread.start()
    if not ready.wait(start_timeout):
        raise RuntimeError("the simulator server did not start in time")
    if "error" in box:
        thread.join(start_timeout)
        raise box["error"]  # type: ignore[misc]
    try:
        yield box["server"]  # type: ignore[misc]
    finally:
        loop: asyncio.AbstractEventLoop = box["loop"]  # type: ignore[assignment]
        loop.call_soon_threadsafe(box["stop"].set)  # type: ignore[attr-defined]
        thread.join(start_timeout)

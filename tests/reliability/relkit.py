"""Building blocks of the reliability tests: clocks, loopback fronts and transports that misbehave."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from tui.api.clock import Clock
from tui.api.credentials import Credentials
from tui.simulator.server import SimulatorServer
from tui.simulator.service import DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, Simulator
from tui.simulator.transport import SimulatorTransport

SIM_CREDENTIALS = Credentials(DEFAULT_SECRET_ID, DEFAULT_SECRET_KEY, source="test")
LOOPBACK = "127.0.0.1"
OVERSIZED_BYTES = 2 << 20  # twice the client's cap


class SkewedClock:
    """The machine's wall clock off by `skew` seconds (what is signed); time still passes as `base`'s."""

    def __init__(self, base: Clock, skew: float = 0.0) -> None:
        self.base = base
        self.skew = skew

    def time(self) -> float:
        return self.base.time() + self.skew

    def monotonic(self) -> float:
        return self.base.monotonic()

    async def sleep(self, seconds: float) -> None:
        await self.base.sleep(seconds)


class CountingTransport(httpx.AsyncBaseTransport):
    """Wraps another transport; notes for every request how many were in flight when it started."""

    def __init__(self, inner: httpx.AsyncBaseTransport, during: Callable[[], object] = lambda: None) -> None:
        self.inner = inner
        self.during = during  # what was true when each request started (e.g. the engine's problem)
        self.in_flight = 0
        self.starts: list[tuple[int, object]] = []  # (requests in flight including this one, during())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.starts.append((self.in_flight, self.during()))
        try:
            return await self.inner.handle_async_request(request)
        finally:
            self.in_flight -= 1


def in_process(simulator: Simulator) -> SimulatorTransport:
    return SimulatorTransport(simulator)


def free_port() -> int:
    """A loopback port nothing listens on (at the moment of asking)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


class SimulatorFront:
    """The project's loopback simulator server, which can go away and come back on the same port."""

    def __init__(self, simulator: Simulator, port: int | None = None) -> None:
        self.simulator = simulator
        self.port = port or free_port()
        self._server: SimulatorServer | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    async def start(self) -> None:
        if self._server is None:
            server = SimulatorServer(self.simulator, LOOPBACK, self.port, idle_timeout=5.0)
            await server.start()
            self._server = server

    async def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            await server.close()


class _GatewayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: nothing lingers after a mode change

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        gateway: GatewayFront = self.server.gateway  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        mode = gateway.mode
        if mode == "no_response":
            self._answer(200, b'{"Result": {}}')
        elif mode == "too_large":
            self._answer(200, b'{"Response": {"Pad": "' + b"x" * OVERSIZED_BYTES + b'"}}')
        elif mode == "fixed":
            self._answer(200, gateway.fixed_body)
        elif mode == "redirect":
            self._answer(307, b"", extra=(("Location", gateway.redirect_to),))
        else:
            answer = gateway.simulator.respond("POST", self.path, list(self.headers.items()), body)
            if answer.drop:
                self.close_connection = True
                return
            self._answer(answer.status, answer.body, extra=answer.headers)

    def _answer(self, status: int, body: bytes, extra: tuple[tuple[str, str], ...] = ()) -> None:
        self.send_response(status)
        names = {name.lower() for name, _ in extra}
        for name, value in extra:
            self.send_header(name, value)
        if "content-type" not in names:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # a client that hung up mid-answer
        pass


class GatewayFront:
    """A stdlib HTTP server on loopback in front of the simulator: passes requests on, or answers
    what no VCLM service would (`mode`: "no_response", "too_large", "redirect", "fixed")."""

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator
        self.mode: str | None = None
        self.redirect_to = "http://198.51.100.7/"
        self.fixed_body = b""  # what mode "fixed" answers to every request
        self._server = _QuietServer((LOOPBACK, 0), _GatewayHandler)
        self._server.gateway = self  # type: ignore[attr-defined]
        self.port = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    async def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name="gateway-front", daemon=True)
            self._thread.start()

    async def stop(self) -> None:
        if self._thread is not None:
            await asyncio.to_thread(self._server.shutdown)
            self._server.server_close()
            self._thread = None


def json_body(data: object) -> bytes:
    return json.dumps(data).encode("utf-8")

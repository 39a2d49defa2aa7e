"""The simulator in-process, as an httpx transport: no socket, the same faults as over the wire."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from tui.simulator.results import ConnectionDropped, ResultBody
from tui.simulator.service import Simulator


class _FileStream(httpx.AsyncByteStream):
    """A result file's body: a drop surfaces as httpx's error for a body cut short."""

    def __init__(self, body: ResultBody, request: httpx.Request) -> None:
        self.body = body
        self.request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.body:
                yield chunk
        except ConnectionDropped:
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body", request=self.request,
            ) from None


class SimulatorTransport(httpx.AsyncBaseTransport):
    """Give to `httpx.AsyncClient(transport=...)` (or `VclmClient(transport=...)`).

    Faults surface as the exceptions httpx raises on a real connection: a dropped connection
    is `httpx.RemoteProtocolError`; a stall longer than the request's read timeout waits that
    timeout on the simulator clock and raises `httpx.ReadTimeout` (with a FakeClock it is
    instant, and the client still sees its timeout fire); a shorter stall just delays the answer.
    """

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw]
        path = request.url.raw_path.decode("ascii")
        answer = await self.simulator.handle(request.method, path, headers, body)
        if answer.drop:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
        if answer.stall > 0:
            read_timeout = (request.extensions.get("timeout") or {}).get("read")
            if read_timeout is not None and answer.stall > read_timeout:
                await self.simulator.clock.sleep(read_timeout)
                raise httpx.ReadTimeout("timed out", request=request)
            await self.simulator.clock.sleep(answer.stall)
        if answer.stream is not None:
            return httpx.Response(answer.status, headers=list(answer.headers),
                                  stream=_FileStream(answer.stream, request), request=request)
        return httpx.Response(answer.status, headers=list(answer.headers), content=answer.body, request=request)

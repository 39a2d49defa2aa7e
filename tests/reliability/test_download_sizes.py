"""Keeping results from a server that does not say how big the file is: a body of unknown length
ends the same way whole or cut (the connection closes), so it is never renamed into place.

A hostile loopback server of our own (hostile.py) sends the bytes; the clock is a FakeClock."""

from __future__ import annotations

import asyncio

import pytest
from hostile import head, serve

from tui.api.clock import FakeClock
from tui.core.downloads import DownloadManager

pytestmark = pytest.mark.anyio

JOB = "0123456789abcdef0123456789abcdef"


def cut_without_a_length(sent: bytes):
    """A 200 with no Content-Length (the body ends when the connection closes), cut after `sent`."""

    async def script(request, writer: asyncio.StreamWriter) -> None:
        writer.write(head(200, "Content-Type: video/mp4", 'ETag: "v1"') + sent)

    return script


async def test_a_body_of_unknown_length_is_not_saved_and_says_why(tmp_path):
    async def no_fresh_url(job_id: str) -> str | None:
        return None

    directory = tmp_path / "videos"
    with serve(cut_without_a_length(b"v" * 5000)) as server:
        manager = DownloadManager(directory, fresh_url=no_fresh_url, clock=FakeClock())
        runner = asyncio.create_task(manager.run())
        manager.request(JOB, f"{server.url}/results/{JOB}.mp4")
        await asyncio.sleep(0)
        await manager.wait_idle()
        await manager.close()
        await runner
    state = manager.state(JOB)
    assert state is not None and state.phase == "failed"
    assert state.error == "the server did not say the file's size: not saved, since it could not be checked"
    assert not (directory / f"{JOB}.mp4").exists()
    assert len(server.requests) == 1  # (nothing to try again: no answer of this server can be checked)

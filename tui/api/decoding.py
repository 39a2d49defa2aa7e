"""An answer's body, decoded from its Content-Encoding with a hard cap on what it may inflate to.

httpx's own decoders inflate each chunk read from the socket in one go, so 64 KiB of a gzip bomb
become 64 MiB before anyone can count them, and stacked encodings (`gzip, gzip`) multiply that to
gigabytes. Here every layer hands on at most `PIECE` bytes at a time and the bytes that come out
of the last layer are counted, so decoding stops as soon as the cap is passed and memory stays
within the cap plus a few pieces, whatever the server declares. Only the encodings this module
can bound are asked for (`ACCEPT_ENCODING`); any other is refused rather than passed on raw.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

ACCEPT_ENCODING = "gzip, deflate"
PIECE = 64 * 1024  # the most one layer hands on at a time


class BodyTooLarge(Exception):
    """The body, as sent or as decoded, went past the cap."""


class BodyDecodeError(Exception):
    """The declared encoding is unknown, or the data is not in it."""


def content_encodings(header_values: list[str]) -> list[str]:
    """The encodings applied, in the order they were applied ('identity' dropped), lower case."""
    found: list[str] = []
    for value in header_values:
        for part in value.split(","):
            name = part.strip().lower()
            if name and name != "identity":
                found.append(name)
    return found


class _Layer:
    """One zlib stream: gzip, or deflate (zlib-wrapped, or raw as some servers send it)."""

    def __init__(self, encoding: str) -> None:
        if encoding in ("gzip", "x-gzip"):
            self.gzip = True
            self._wbits = zlib.MAX_WBITS | 16
        elif encoding == "deflate":
            self.gzip = False
            self._wbits = zlib.MAX_WBITS  # zlib-wrapped, as the RFC says; raw deflate is tried if not
        else:
            raise BodyDecodeError(f"the answer is encoded as {encoding[:40]!r}, which this client does not accept")
        self.encoding = encoding
        self._inflater = zlib.decompressobj(self._wbits)
        self._started = False

    def pieces(self, data: bytes) -> Iterator[bytes]:
        """Decode `data`, yielding at most PIECE bytes at a time; bytes after the end of the
        stream are ignored, as httpx does."""
        while not self._inflater.eof:
            try:
                out = self._inflater.decompress(data, PIECE)
            except zlib.error as exc:
                if not self._started and not self.gzip and self._wbits > 0:
                    self._wbits = -zlib.MAX_WBITS  # deflate sent raw, as some servers do
                    self._inflater = zlib.decompressobj(self._wbits)
                    continue
                raise BodyDecodeError(f"the answer is not valid {self.encoding} data: {exc}") from None
            self._started = True
            if out:
                yield out
            data = self._inflater.unconsumed_tail
            if not data and len(out) < PIECE:
                return  # all in (a full piece may leave output pending: then it is asked for again)

    def finish(self) -> None:
        if self._started and not self._inflater.eof:
            raise BodyDecodeError(f"the answer's {self.encoding} data is cut short")


class BoundedBody:
    """Feed raw chunks as they come; `body()` at the end. Raises BodyTooLarge past `limit`
    bytes (raw or decoded) and BodyDecodeError for an encoding it cannot or may not decode."""

    def __init__(self, encodings: list[str], limit: int) -> None:
        self.limit = limit
        self.raw_bytes = 0
        self.size = 0
        self._parts: list[bytes] = []
        # the last encoding applied is the first undone
        self._layers = [_Layer(name) for name in reversed(encodings)]

    def feed(self, raw: bytes) -> None:
        self.raw_bytes += len(raw)
        if self.raw_bytes > self.limit:
            raise BodyTooLarge
        self._push(0, raw)

    def _push(self, index: int, data: bytes) -> None:
        if index == len(self._layers):
            self.size += len(data)
            if self.size > self.limit:
                raise BodyTooLarge
            self._parts.append(data)
            return
        for piece in self._layers[index].pieces(data):
            self._push(index + 1, piece)

    def body(self) -> bytes:
        for layer in self._layers:
            layer.finish()
        return b"".join(self._parts)

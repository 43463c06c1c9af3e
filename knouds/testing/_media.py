"""Small, valid media files served under ``/media/`` (no key needed), generated on demand."""

from __future__ import annotations

import hashlib
import math
import re
import struct
import zlib
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources

from knouds.testing._http import Request, Response, error_response, raw_response

BLOB_CHUNK = 64 * 1024
"""Size of each chunk when streaming a blob."""

MAX_BLOB = 4 * 1024**3
"""Largest blob the emulator streams."""

_MEDIA = re.compile(r"^/media/(image|video|audio)/([A-Za-z0-9_-]{1,100})\.(png|mp4|wav)$")
_BLOB = re.compile(r"^/media/blob/(\d{1,12})\.bin$")
_EXTENSIONS = {"image": "png", "video": "mp4", "audio": "wav"}


def png_bytes(name: str, size: int = 16) -> bytes:
    """Encode a solid-colour PNG whose colour is derived from ``name``.

    Args:
        name: Any string; equal names give identical files.
        size: Width and height in pixels.
    """
    red, green, blue = hashlib.sha256(name.encode()).digest()[:3]
    row = b"\x00" + bytes((red, green, blue)) * size
    raw = row * size

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def wav_bytes(name: str, seconds: float = 0.25, rate: int = 8000) -> bytes:
    """Encode a mono 16-bit PCM WAV tone whose pitch is derived from ``name``."""
    pitch = 220 + hashlib.sha256(name.encode()).digest()[0] * 3
    frames = int(seconds * rate)
    samples = b"".join(
        struct.pack("<h", int(12000 * math.sin(2 * math.pi * pitch * i / rate)))
        for i in range(frames)
    )
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(samples)) + samples
    return b"RIFF" + struct.pack("<I", len(body)) + body


@lru_cache(maxsize=1)
def mp4_bytes() -> bytes:
    """Return the bundled one-second 16x16 H.264 MP4 clip."""
    return resources.files("knouds.testing").joinpath("_data/clip.mp4").read_bytes()


def blob_chunks(nbytes: int) -> Iterator[bytes]:
    """Yield ``nbytes`` deterministic bytes in fixed-size chunks, in constant memory."""
    pattern = bytes(range(256)) * (BLOB_CHUNK // 256)
    left = nbytes
    while left > 0:
        piece = pattern if left >= BLOB_CHUNK else pattern[:left]
        left -= len(piece)
        yield piece


def blob_bytes(nbytes: int) -> bytes:
    """Return the same bytes the blob route streams, for comparing in tests."""
    return b"".join(blob_chunks(nbytes))


def media_response(request: Request) -> Response:
    """Answer a request under ``/media/``: generated files, blobs, and redirects."""
    if request.method not in ("GET", "HEAD"):
        return error_response(405, "Method not allowed")
    if request.path == "/media/redirect":
        target = request.query.get("to")
        if not target:
            return error_response(400, "Missing 'to' parameter", "INVALID_BODY")
        return Response(302, [("Location", target), ("Content-Length", "0")])
    blob = _BLOB.match(request.path)
    if blob:
        nbytes = int(blob.group(1))
        if nbytes > MAX_BLOB:
            return error_response(400, "Blob too large", "INVALID_BODY")
        headers = [
            ("Content-Type", "application/octet-stream"),
            ("Content-Length", str(nbytes)),
        ]
        return Response(200, headers, stream=lambda: blob_chunks(nbytes))
    found = _MEDIA.match(request.path)
    if not found or _EXTENSIONS[found.group(1)] != found.group(3):
        return error_response(404, "Not found")
    kind, name = found.group(1), found.group(2)
    if kind == "image":
        return raw_response(200, png_bytes(name), "image/png")
    if kind == "audio":
        return raw_response(200, wav_bytes(name), "audio/wav")
    return raw_response(200, mp4_bytes(), "video/mp4")

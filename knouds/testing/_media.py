"""Small, valid media files served under ``/media/`` (no key needed), generated on demand."""

from __future__ import annotations

import hashlib
import math
import re
import struct
import zlib
from collections.abc import Callable, Iterator
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


# Words a prompt may use, and the colour each one stands for in the emulator's pictures.
_WORD_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (205, 45, 40),
    "orange": (240, 140, 30),
    "yellow": (245, 215, 60),
    "gold": (225, 180, 50),
    "golden": (225, 180, 50),
    "green": (60, 160, 70),
    "blue": (45, 95, 205),
    "purple": (130, 70, 170),
    "violet": (140, 90, 200),
    "pink": (240, 140, 180),
    "white": (245, 245, 245),
    "black": (25, 25, 30),
    "grey": (128, 128, 135),
    "gray": (128, 128, 135),
    "brown": (120, 80, 45),
    "silver": (190, 195, 205),
    "snow": (236, 241, 250),
    "ice": (200, 230, 245),
    "sea": (30, 90, 160),
    "ocean": (30, 90, 160),
    "water": (40, 110, 180),
    "waves": (40, 120, 190),
    "beach": (225, 200, 145),
    "sand": (225, 200, 145),
    "desert": (220, 180, 120),
    "forest": (30, 100, 50),
    "grass": (90, 170, 60),
    "tree": (50, 120, 55),
    "fire": (240, 90, 20),
    "sunset": (250, 120, 60),
    "sun": (250, 200, 60),
    "night": (20, 25, 60),
    "moon": (230, 230, 200),
    "fox": (210, 100, 40),
    "owl": (140, 110, 80),
    "whale": (60, 90, 130),
    "parrot": (40, 170, 80),
    "eagle": (110, 80, 50),
    "wolf": (120, 120, 125),
    "lighthouse": (230, 60, 50),
}
_SKY_WORDS = {"night", "sunset", "sky"}


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def _png(width: int, height: int, raw: bytes) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


@lru_cache(maxsize=64)
def png_bytes(name: str, prompt: str = "", size: int = 256) -> bytes:
    """Draw a small picture for a generated image: a sky, hills and a round subject.

    The colours come from the prompt's words where it names some ("a red fox in the snow": a red
    subject on white hills), else from a hash of the prompt; the layout comes from the hash.
    Equal arguments give identical files. Standard library only (``zlib`` and ``struct``).

    Args:
        name: The file's name; it varies the picture when the prompt is empty.
        prompt: The run's prompt.
        size: Width and height in pixels.
    """
    seed = hashlib.sha256(f"{prompt}\n{name if not prompt else ''}".encode()).digest()
    words = re.findall(r"[a-z]+", prompt.lower())
    named = [_WORD_COLOURS[word] for word in words if word in _WORD_COLOURS]
    sky_word = next((word for word in words if word in _SKY_WORDS), None)
    hashed = [(seed[i], seed[i + 1], seed[i + 2]) for i in (0, 3, 6)]
    subject = named[0] if named else _mix(hashed[0], (40, 40, 40), 0.2)
    ground = named[-1] if len(named) > 1 else _mix(hashed[1], (60, 130, 70), 0.6)
    if sky_word is not None:
        top = _WORD_COLOURS.get(sky_word, (110, 170, 235))
    else:
        top = _mix(hashed[2], (110, 170, 235), 0.75)
    bottom = _mix(top, (255, 255, 255), 0.6)
    # Hills: a ground line from two sine waves; the subject sits on it.
    phase, phase2 = seed[9] / 40.0, seed[10] / 40.0
    base = size * (0.62 + seed[11] / 255 * 0.12)
    horizon = [
        round(base + size * 0.06 * math.sin(x / size * 6.0 + phase))
        + round(size * 0.03 * math.sin(x / size * 15.0 + phase2))
        for x in range(size)
    ]
    cx = round(size * (0.3 + seed[12] / 255 * 0.4))
    radius = round(size * (0.12 + seed[13] / 255 * 0.08))
    cy = horizon[cx] - radius + radius // 3
    shine = (radius // 3) ** 2
    ground_dark = _mix(ground, (0, 0, 0), 0.15)
    subject_px = bytes(subject)
    lit_px = bytes(_mix(subject, (255, 255, 255), 0.35))
    rows = []
    for y in range(size):
        sky_px = bytes(_mix(top, bottom, y / size))
        ground_px = bytes(_mix(ground, ground_dark, y / size))
        row = bytearray(b"\x00")
        dy = y - cy
        reach = radius * radius - dy * dy
        for x in range(size):
            if reach >= 0 and (x - cx) * (x - cx) <= reach:
                lit = (x - cx + radius // 3) ** 2 + (dy + radius // 3) ** 2 < shine
                row += lit_px if lit else subject_px
            elif y >= horizon[x]:
                row += ground_px
            else:
                row += sky_px
        rows.append(bytes(row))
    return _png(size, size, b"".join(rows))


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


def media_response(
    request: Request, prompt_of: Callable[[str], str | None] | None = None
) -> Response:
    """Answer a request under ``/media/``: generated files, blobs, and redirects.

    Args:
        request: The request.
        prompt_of: The prompt of the run whose media files have this name stem, if known: an
            image is drawn from it.
    """
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
        stem = name.rsplit("-", 1)[0]
        prompt = prompt_of(stem) if prompt_of is not None else None
        return raw_response(200, png_bytes(name, prompt or ""), "image/png")
    if kind == "audio":
        return raw_response(200, wav_bytes(name), "audio/wav")
    return raw_response(200, mp4_bytes(), "video/mp4")

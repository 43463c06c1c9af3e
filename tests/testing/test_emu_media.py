"""Media routes serve real, valid files without a key; blobs stream; redirects redirect."""

from __future__ import annotations

import struct
import zlib

import httpx
import pytest

from knouds.testing import Emulator
from knouds.testing._media import blob_bytes


def _anonymous(http: httpx.Client, url: str) -> httpx.Response:
    return http.get(url, headers={"x-api-key": ""})


def test_png_is_valid(http: httpx.Client) -> None:
    run = http.post("/api/models/gpt-image-2/run", json={"inputs": {"prompt": "fox"}}).json()
    response = _anonymous(http, run["result"]["images"][0])
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    data = response.content
    assert int(response.headers["content-length"]) == len(data)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, tag = struct.unpack(">I4s", data[8:16])
    assert tag == b"IHDR"
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert (width, height, depth, colour) == (256, 256, 8, 2)
    offset = 8 + 12 + length
    idat_length, idat_tag = struct.unpack(">I4s", data[offset : offset + 8])
    assert idat_tag == b"IDAT"
    pixels = zlib.decompress(data[offset + 8 : offset + 8 + idat_length])
    assert len(pixels) == height * (1 + 3 * width)
    assert data.endswith(b"IEND\xaeB`\x82")


def test_png_colour_depends_on_name(http: httpx.Client) -> None:
    a = _anonymous(http, "/media/image/aaaa-0.png").content
    b = _anonymous(http, "/media/image/bbbb-0.png").content
    assert a != b
    assert a == _anonymous(http, "/media/image/aaaa-0.png").content


def _pixels(data: bytes) -> list[list[tuple[int, int, int]]]:
    """The rows of RGB pixels of a PNG the emulator drew (one IDAT chunk, no row filters)."""
    width, height = struct.unpack(">II", data[16:24])
    length = struct.unpack(">I", data[33:37])[0]
    raw = zlib.decompress(data[41 : 41 + length])
    stride = 1 + 3 * width
    rows = []
    for y in range(height):
        row = raw[y * stride : (y + 1) * stride]
        assert row[0] == 0
        rows.append([(row[1 + 3 * x], row[2 + 3 * x], row[3 + 3 * x]) for x in range(width)])
    return rows


def _image_of(http: httpx.Client, prompt: str) -> bytes:
    run = http.post("/api/models/gpt-image-2/run", json={"inputs": {"prompt": prompt}}).json()
    return _anonymous(http, run["result"]["images"][0]).content


def test_an_image_is_drawn_from_the_prompts_colour_words(http: httpx.Client) -> None:
    fox = _image_of(http, "a red fox in the snow")
    rows = _pixels(fox)
    colours = {pixel for row in rows for pixel in row}
    assert len(colours) > 20  # a picture, not a flat square
    assert (205, 45, 40) in colours  # the red subject
    bottom = rows[-1]
    assert all(min(pixel) > 180 for pixel in bottom)  # snow-white hills
    assert len(fox) < 20_000  # small enough to stay quick in tests

    assert _image_of(http, "a red fox in the snow") == fox  # deterministic
    whale = _image_of(http, "a blue whale at sunset")
    assert whale != fox
    assert (45, 95, 205) in {pixel for row in _pixels(whale) for pixel in row}


def test_wav_is_valid(http: httpx.Client) -> None:
    run = http.post("/api/models/suno-v5/run", json={"inputs": {"prompt": "x"}}).json()
    response = _anonymous(http, run["result"]["audios"][0])
    assert response.headers["content-type"] == "audio/wav"
    data = response.content
    assert data[:4] == b"RIFF"
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8
    assert data[8:16] == b"WAVEfmt "
    channels, rate = struct.unpack("<HI", data[22:28])
    assert (channels, rate) == (1, 8000)


def test_mp4_is_valid(http: httpx.Client) -> None:
    run = http.post("/api/models/seedance-2-i2v/run", json={"inputs": {"prompt": "x"}}).json()
    response = _anonymous(http, run["result"]["videos"][0])
    assert response.headers["content-type"] == "video/mp4"
    data = response.content
    assert data[4:8] == b"ftyp"
    assert 500 < len(data) < 20_000


@pytest.mark.parametrize("nbytes", [0, 1, 65_536, 200_001])
def test_blob(http: httpx.Client, nbytes: int) -> None:
    response = _anonymous(http, f"/media/blob/{nbytes}.bin")
    assert response.headers["content-length"] == str(nbytes)
    assert response.content == blob_bytes(nbytes)


def test_large_blob_streams(emu: Emulator) -> None:
    size = 50 * 1024 * 1024
    with (
        httpx.Client(base_url=emu.base_url, verify=False) as http,
        http.stream("GET", f"/media/blob/{size}.bin") as response,
    ):
        received = sum(len(chunk) for chunk in response.iter_bytes())
    assert received == size


def test_redirect(http: httpx.Client) -> None:
    response = _anonymous(http, "/media/redirect?to=/media/blob/10.bin")
    assert response.status_code == 302
    assert response.headers["location"] == "/media/blob/10.bin"
    followed = http.get(
        "/media/redirect", params={"to": "/media/blob/10.bin"}, follow_redirects=True
    )
    assert followed.content == blob_bytes(10)


def test_unknown_media(http: httpx.Client) -> None:
    assert _anonymous(http, "/media/image/x.mp4").status_code == 404
    assert _anonymous(http, "/media/nothing").status_code == 404


async def test_async_transport_streams_media(emu: Emulator) -> None:
    async with httpx.AsyncClient(transport=emu.transport(), base_url="http://e.test") as http:
        async with http.stream("GET", "/media/blob/300000.bin") as response:
            data = b"".join([chunk async for chunk in response.aiter_bytes()])
        assert data == blob_bytes(300_000)
        run = await http.post(
            "/api/models/gpt-image-2/run",
            json={"inputs": {"prompt": "x"}},
            headers={"x-api-key": emu.api_key},
        )
        assert run.json()["result"]["images"][0].startswith("http://e.test/media/")

"""Media end to end: run models on the emulator over real sockets, then download their outputs with
both the sync and the async methods (one test body each)."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

import knouds
from knouds.testing import Emulator
from tests.conftest import resolve

MakeClient = Callable[..., Any]


def twin(obj: Any, name: str, client_kind: str) -> Any:
    """The sync method, or its async twin (``save`` -> ``asave``)."""
    return getattr(obj, name if client_kind == "sync" else f"a{name}")


def names_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*"))


def is_png(data: bytes) -> bool:
    return data.startswith(b"\x89PNG\r\n\x1a\n")


def is_mp4(data: bytes) -> bool:
    return len(data) > 12 and data[4:8] == b"ftyp"


def is_wav(data: bytes) -> bool:
    size = struct.unpack("<I", data[4:8])[0] if len(data) >= 8 else -1
    return data[:4] == b"RIFF" and data[8:12] == b"WAVE" and size == len(data) - 8


@pytest.mark.parametrize(
    ("model", "check", "ext"),
    [
        ("gpt-image-2", is_png, ".png"),
        ("seedance-2-i2v", is_mp4, ".mp4"),
        ("suno-v5", is_wav, ".wav"),
    ],
)
async def test_run_then_save_outputs(
    client: Any, client_kind: str, tmp_path: Path, model: str, check: Any, ext: str
) -> None:
    result = await resolve(client.models.run(model, {"prompt": "a red fox at dawn"}))
    assert len(result.media) == 1
    media = result.media[0]

    saved = await resolve(twin(media, "save", client_kind)(tmp_path))
    assert saved.parent == tmp_path.resolve()  # noqa: ASYNC240
    assert saved.suffix == ext
    assert check(saved.read_bytes())
    data = await resolve(twin(media, "read", client_kind)())
    assert data == saved.read_bytes()
    paths = await resolve(twin(result, "save_all", client_kind)(tmp_path / "all"))
    assert [p.read_bytes() for p in paths] == [data]
    assert names_in(tmp_path) == sorted(["all", saved.name, saved.name])
    assert "<table>" in result._repr_html_()
    assert media.url in media._repr_html_()


async def test_several_images_saved_under_distinct_names(
    client: Any, client_kind: str, tmp_path: Path
) -> None:
    result = await resolve(client.models.run("gpt-image-2", {"prompt": "foxes", "num_images": 3}))

    paths = await resolve(twin(result, "save_all", client_kind)(tmp_path))
    assert len({p.name for p in paths}) == 3
    assert all(is_png(p.read_bytes()) for p in paths)


async def test_streaming_chunks(emu: Emulator, client_kind: str) -> None:
    size = 300_000
    media = knouds.Media(url=f"{emu.base_url}/media/blob/{size}.bin", kind="image")

    if client_kind == "sync":
        chunks = list(media.iter_bytes(chunk_size=10_000))
    else:
        chunks = [c async for c in media.aiter_bytes(chunk_size=10_000)]
    assert sum(map(len, chunks)) == size
    assert max(map(len, chunks)) <= 10_000
    assert b"".join(chunks)[:256] == bytes(range(256))


@pytest.mark.parametrize("declared", [True, False], ids=["by-header", "while-streaming"])
async def test_a_big_blob_over_max_bytes_leaves_no_file(
    emu: Emulator, client_kind: str, tmp_path: Path, declared: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    size = 3 * 1024 * 1024
    media = knouds.Media(url=f"{emu.base_url}/media/blob/{size}.bin", kind="image")
    if not declared:  # ignore Content-Length: the byte count alone must stop the download
        from knouds._media.fetch import Fetch

        monkeypatch.setattr(Fetch, "is_file", _without_length(Fetch.is_file))

    with pytest.raises(knouds.MediaDownloadError, match="max_bytes=1000000") as caught:
        await resolve(twin(media, "save", client_kind)(tmp_path, max_bytes=1_000_000))
    assert caught.value.url == media.url
    assert names_in(tmp_path) == []


def _without_length(is_file: Any) -> Any:
    def wrapper(self: Any, response: Any) -> bool:
        response.headers.pop("content-length", None)
        return bool(is_file(self, response))

    return wrapper


async def test_the_emulator_redirect_is_followed(
    emu: Emulator, client: Any, client_kind: str, tmp_path: Path
) -> None:
    result = await resolve(client.models.run("gpt-image-2", {"prompt": "a red fox"}))
    target = result.images[0].url
    media = knouds.Media(url=f"{emu.base_url}/media/redirect?to={quote(target)}", kind="image")

    saved = await resolve(twin(media, "save", client_kind)(tmp_path / "fox.png"))
    assert saved == tmp_path / "fox.png"
    assert is_png(saved.read_bytes())
    paths = [e.path for e in emu.log if e.path.startswith("/media/")]
    assert paths[-2:] == ["/media/redirect", "/media/image/" + target.rsplit("/", 1)[1]]


async def test_a_missing_file_is_a_media_error(emu: Emulator, client_kind: str) -> None:
    media = knouds.Media(url=f"{emu.base_url}/media/image/nothing.mp4", kind="image")

    with pytest.raises(knouds.MediaDownloadError, match="HTTP 404") as caught:
        await resolve(twin(media, "read", client_kind)())
    assert caught.value.status_code == 404


async def test_no_key_reaches_the_media_routes(
    emu: Emulator,
    client: Any,
    client_kind: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import httpx

    from knouds._media import clients as _clients
    from knouds._media.fetch import MEDIA_HEADERS

    sent: list[httpx.Headers] = []

    def record(request: httpx.Request) -> None:
        sent.append(request.headers)

    async def arecord(request: httpx.Request) -> None:
        record(request)

    if client_kind == "sync":
        shared = httpx.Client(headers=MEDIA_HEADERS, event_hooks={"request": [record]})
        monkeypatch.setattr(_clients, "_shared", shared)
    else:
        real = httpx.AsyncClient

        def hooked(**kwargs: Any) -> httpx.AsyncClient:
            return real(event_hooks={"request": [arecord]}, **kwargs)

        monkeypatch.setattr(httpx, "AsyncClient", hooked)
    result = await resolve(client.models.run("suno-v5", {"prompt": "a tune"}))
    await resolve(twin(result, "save_all", client_kind)(tmp_path))
    await resolve(twin(result.audios[0], "read", client_kind)())
    if client_kind == "sync":
        shared.close()  # noqa: ASYNC212 (the sync client under test)

    assert len(sent) == 2
    assert all("x-api-key" not in headers for headers in sent)
    assert all(emu.api_key not in str(headers) for headers in sent)

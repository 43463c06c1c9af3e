"""Edges of media downloads: the shared client, options passed through, file modes, odd names,
file systems without hard links, and bodies that must not be read past the cap."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import knouds
from knouds import _download
from tests.conftest import resolve
from tests.unit.test_media import IO, PNG, S3, files_in, redirects, serve


@pytest.fixture(params=["sync", "async"])
async def io(request: pytest.FixtureRequest) -> AsyncIterator[IO]:
    helper = IO(str(request.param))
    yield helper
    await helper.close()


class Endless(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body far larger than any cap, which fails the test if read past ``limit`` bytes."""

    def __init__(self, limit: int, size: int = 1000) -> None:
        self.limit, self.size, self.sent = limit, size, 0

    def _next(self) -> bytes:
        if self.sent > self.limit:
            pytest.fail("the body was read past max_bytes")
        self.sent += self.size
        return b"z" * self.size

    def __iter__(self) -> Iterator[bytes]:
        while True:
            yield self._next()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            yield self._next()


def test_a_closed_shared_client_is_replaced_with_a_keyless_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_download, "_shared", None)
    first = _download.shared_client()
    first.close()
    second = _download.shared_client()
    try:
        assert second is not first
        assert not second.is_closed
        assert second.headers["accept"] == "*/*"
        assert second.headers["user-agent"].startswith("knouds-python/")
        assert "x-api-key" not in second.headers
        assert second.timeout == _download.DEFAULT_MEDIA_TIMEOUT
    finally:
        second.close()


@pytest.mark.parametrize("target", ["http://LOCALHOST/b.png", "http://[::1]/b.png"])
async def test_loopback_redirect_targets_in_any_spelling_may_use_http(io: IO, target: str) -> None:
    media = knouds.Media(url=f"{S3}/a.png", kind="image")
    assert await io.read(media, redirects({f"{S3}/a.png": target})) == PNG


@pytest.mark.parametrize(
    ("status", "words"),
    [(401, "expire"), (410, "No media file"), (500, "Try again"), (501, "Try again")],
)
async def test_each_error_status_gets_its_hint(io: IO, status: int, words: str) -> None:
    media = knouds.Media(url=f"{S3}/a.png", kind="image")
    with pytest.raises(knouds.MediaDownloadError, match=words) as caught:
        await io.read(media, lambda request: httpx.Response(status))
    assert caught.value.status_code == status


@pytest.mark.parametrize(
    ("failure", "words"),
    [(httpx.ReadTimeout(""), "Timed out"), (httpx.ReadError("reset by peer"), "reset by peer")],
)
async def test_transport_failures_name_the_file_but_not_its_signature(
    io: IO, failure: Exception, words: str
) -> None:
    media = knouds.Media(url=f"{S3}/dir/a.png?X-Amz-Signature=secret", kind="image")

    def handler(request: httpx.Request) -> httpx.Response:
        raise failure

    with pytest.raises(knouds.MediaDownloadError) as caught:
        await io.read(media, handler)
    message = str(caught.value)
    assert words in message
    assert f"{S3}/dir/a.png" in message
    assert "secret" not in message


async def test_options_reach_every_request(io: IO, tmp_path: Path) -> None:
    media = knouds.Media(url=f"{S3}/a.png", kind="image")
    await io.save(media, serve(), tmp_path, timeout=3.5)
    result = knouds.RunResult(result={"images": [f"{S3}/b.png", f"{S3}/c.png"]})
    client = io.client(serve())
    call = "save_all" if io.kind == "sync" else "asave_all"
    saved = await resolve(getattr(result, call)(tmp_path / "all", timeout=2.5, http_client=client))
    assert [p.name for p in saved] == ["b.png", "c.png"]
    assert [r.extensions["timeout"]["read"] for r in io.seen] == [3.5, 2.5, 2.5]
    chunks = await io.chunks(media, serve(), timeout=1.5)
    assert b"".join(chunks) == PNG
    assert io.seen[-1].extensions["timeout"]["read"] == 1.5

    with pytest.raises(knouds.MediaDownloadError, match="max_bytes"):
        await resolve(getattr(result, call)(tmp_path / "capped", max_bytes=10, http_client=client))
    assert files_in(tmp_path / "capped") == []


async def test_the_body_is_streamed_not_read_whole(io: IO, tmp_path: Path) -> None:
    media = knouds.Media(url=f"{S3}/huge.bin", kind="image")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Endless(limit=500_000))

    with pytest.raises(knouds.MediaDownloadError, match="max_bytes"):
        await io.save(media, handler, tmp_path, max_bytes=20_000)
    with pytest.raises(knouds.MediaDownloadError, match="max_bytes"):
        await io.chunks(media, handler, max_bytes=20_000)


async def test_saved_files_are_not_executable_and_nested_dirs_are_made(
    io: IO, tmp_path: Path
) -> None:
    media = knouds.Media(url=f"{S3}/a.png", kind="image")
    target = tmp_path / "x" / "y" / "z" / "picture.png"
    saved = await io.save(media, serve(), target)
    assert saved == target
    assert saved.read_bytes() == PNG
    assert stat.S_IMODE(os.stat(saved).st_mode) & 0o111 == 0
    assert files_in(target.parent) == ["picture.png"]


async def test_saving_twice_replaces_by_default_and_keeps_with_overwrite_false(
    io: IO, tmp_path: Path
) -> None:
    media = knouds.Media(url=f"{S3}/a.png", kind="image")
    await io.save(media, serve(b"first"), tmp_path / "one.png", overwrite=False)
    assert (tmp_path / "one.png").read_bytes() == b"first"
    await io.save(media, serve(b"second"), tmp_path / "one.png")
    assert (tmp_path / "one.png").read_bytes() == b"second"
    assert files_in(tmp_path) == ["one.png"]


async def test_file_systems_without_hard_links_still_get_the_file(
    io: IO, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(src: Any, dst: Any) -> None:
        raise PermissionError("hard links not supported")

    monkeypatch.setattr(_download.os, "link", no_links)
    media = knouds.Media(url=f"{S3}/a.png", kind="image")
    saved = await io.save(media, serve(), tmp_path / "a.png", overwrite=False)
    assert saved.read_bytes() == PNG
    assert files_in(tmp_path) == ["a.png"]
    with pytest.raises(FileExistsError):
        await io.save(media, serve(b"other"), tmp_path / "a.png", overwrite=False)
    assert saved.read_bytes() == PNG
    assert files_in(tmp_path) == ["a.png"]


async def test_save_all_into_a_new_directory_with_a_dotted_name(io: IO, tmp_path: Path) -> None:
    result = knouds.RunResult(result={"images": [f"{S3}/a.png", f"{S3}/b.png"]})
    saved = await io.save_all(result, serve(), tmp_path / "run.v2")
    assert [p.parent.name for p in saved] == ["run.v2", "run.v2"]
    assert files_in(tmp_path / "run.v2") == ["a.png", "b.png"]


async def test_save_all_numbers_clashing_names_before_the_last_extension(
    io: IO, tmp_path: Path
) -> None:
    # A kind without a usual extension keeps names without a dot.
    media = [
        knouds.Media(url=f"{S3}/{d}/{name}", kind="model")
        for d in "abc"
        for name in ("mesh", "x.tar.gz")
    ]
    client = io.client(serve())
    save_all = _download.save_all if io.kind == "sync" else _download.asave_all
    saved = await resolve(save_all(media, tmp_path, http_client=client))  # type: ignore[operator]
    assert sorted(p.name for p in saved) == sorted(
        ["mesh", "mesh-1", "mesh-2", "x.tar.gz", "x.tar-1.gz", "x.tar-2.gz"]
    )

"""Edges of media downloads: the shared client, options passed through, file modes, odd names,
file systems without hard links, and bodies that must not be read past the cap."""

from __future__ import annotations

import os
import pickle
import stat
import sys
import traceback
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

import knouds
from knouds._async import download as _adownload
from knouds._media import clients as _clients
from knouds._media import fetch as _fetch
from knouds._media import files as _files
from knouds._sync import download as _download
from tests.conftest import API_KEY, resolve
from tests.unit.test_media import IO, PNG, S3, Unsized, files_in, redirects, serve


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
    monkeypatch.setattr(_clients, "_shared", None)
    first = _clients.shared_client()
    first.close()
    second = _clients.shared_client()
    try:
        assert second is not first
        assert not second.is_closed
        assert second.headers["accept"] == "*/*"
        assert second.headers["user-agent"].startswith("knouds-python/")
        assert "x-api-key" not in second.headers
        assert second.timeout == _fetch.DEFAULT_MEDIA_TIMEOUT
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
    [
        (httpx.ReadTimeout(""), "Timed out"),
        (httpx.ReadError("reset by peer"), "reset by peer"),
        (httpx.ReadError(""), "failed: ReadError."),  # no message: its type says what broke
    ],
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

    monkeypatch.setattr(os, "link", no_links)
    media = knouds.Media(url=f"{S3}/a.png", kind="image")
    saved = await io.save(media, serve(), tmp_path / "a.png", overwrite=False)
    assert saved.read_bytes() == PNG
    assert files_in(tmp_path) == ["a.png"]
    with pytest.raises(FileExistsError, match=r"a\.png"):
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
    save_all: Any = _download.save_all if io.kind == "sync" else _adownload.asave_all
    saved = await resolve(save_all(media, tmp_path, http_client=client))
    assert sorted(p.name for p in saved) == sorted(
        ["mesh", "mesh-1", "mesh-2", "x.tar.gz", "x.tar-1.gz", "x.tar-2.gz"]
    )


class Unread(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body that fails the test if anything reads it."""

    def __iter__(self) -> Iterator[bytes]:
        pytest.fail("the body was read although its declared length is over max_bytes")
        yield b""  # pragma: no cover

    async def __aiter__(self) -> AsyncIterator[bytes]:
        pytest.fail("the body was read although its declared length is over max_bytes")
        yield b""  # pragma: no cover


class BreaksAfter(httpx.SyncByteStream, httpx.AsyncByteStream):
    """More than one chunk of body, then a dropped connection."""

    def __iter__(self) -> Iterator[bytes]:
        yield b"x" * 70_000
        yield b"x" * 70_000
        raise httpx.ReadError("connection reset by peer")

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"x" * 70_000
        yield b"x" * 70_000
        raise httpx.ReadError("connection reset by peer")


async def test_a_plain_http_media_url_is_fetched(io: IO) -> None:
    media = knouds.Media(url="http://media.example/a.png", kind="image")
    assert await io.read(media, serve()) == PNG


async def test_an_unparsable_media_url_is_refused_with_the_url(io: IO) -> None:
    media = knouds.Media(url="https://[::1/a.png", kind="image")
    with pytest.raises(knouds.MediaDownloadError, match="URL") as caught:
        await io.read(media, serve())
    assert caught.value.url == "https://[::1/a.png"
    assert io.seen == []


async def test_max_bytes_zero_allows_only_an_empty_file(io: IO, tmp_path: Path) -> None:
    media = knouds.Media(url=f"{S3}/empty.png", kind="image")
    assert await io.read(media, serve(b""), max_bytes=0) == b""
    saved = await io.save(media, serve(b""), tmp_path)
    assert saved.read_bytes() == b""
    assert files_in(tmp_path) == ["empty.png"]
    with pytest.raises(ValueError, match="max_bytes"):
        await io.read(media, serve(), max_bytes=-1)


async def test_a_declared_length_over_the_cap_is_refused_before_reading(io: IO) -> None:
    media = knouds.Media(url=f"{S3}/big.png", kind="image")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-length": "5000"}, stream=Unread())

    with pytest.raises(knouds.MediaDownloadError, match="max_bytes") as caught:
        await io.read(media, handler, max_bytes=100)
    assert caught.value.status_code == 200


async def test_the_cap_counts_every_chunk_of_an_unsized_body(io: IO) -> None:
    media = knouds.Media(url=f"{S3}/big.png", kind="image")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Unsized(chunks=10, size=100))

    with pytest.raises(knouds.MediaDownloadError, match="max_bytes") as caught:
        await io.chunks(media, handler, chunk_size=100, max_bytes=250)
    assert caught.value.status_code == 200


async def test_redirect_failures_keep_their_status(io: IO) -> None:
    media = knouds.Media(url=f"{S3}/a.png", kind="image")
    with pytest.raises(knouds.MediaDownloadError, match="Location") as caught:
        await io.read(media, lambda request: httpx.Response(302))
    assert caught.value.status_code == 302
    loop = {f"https://m.example/{i}.png": f"https://m.example/{i + 1}.png" for i in range(10)}
    with pytest.raises(knouds.MediaDownloadError) as caught:
        await io.read(knouds.Media(url="https://m.example/0.png"), redirects(loop))
    assert caught.value.status_code == 302


async def test_a_300_is_an_error_not_a_file(io: IO) -> None:
    media = knouds.Media(url=f"{S3}/a.png", kind="image")
    with pytest.raises(knouds.MediaDownloadError) as caught:
        await io.read(media, lambda request: httpx.Response(300, content=b"choices"))
    assert caught.value.status_code == 300


async def test_requests_are_gets_and_cookies_stay_with_their_origin(io: IO, tmp_path: Path) -> None:
    hops = {f"{S3}/a.png": "https://cdn.example/a.png"}
    client = io.client(redirects(hops), headers={"cookie": "session=1"})
    media = knouds.Media(url=f"{S3}/a.png", kind="image")
    await io.save(media, serve(), tmp_path, http_client=client)
    assert [r.method for r in io.seen] == ["GET", "GET"]
    assert io.seen[0].headers["cookie"] == "session=1"
    assert "cookie" not in io.seen[1].headers


async def test_a_download_broken_after_some_chunks_leaves_no_file(io: IO, tmp_path: Path) -> None:
    media = knouds.Media(url=f"{S3}/clip.mp4", kind="video")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=BreaksAfter())

    for overwrite in (True, False):
        with pytest.raises(knouds.MediaDownloadError, match="connection reset"):
            await io.save(media, handler, tmp_path, overwrite=overwrite)
        assert files_in(tmp_path) == []


async def test_refusals_name_the_file_or_directory(io: IO, tmp_path: Path) -> None:
    media = knouds.Media(url=f"{S3}/a.png", kind="image")
    (tmp_path / "a.png").write_bytes(b"mine")
    with pytest.raises(FileExistsError, match=r"a\.png"):
        await io.save(media, serve(), tmp_path, overwrite=False)


async def test_disk_failures_are_knouds_errors_and_still_os_errors(io: IO, tmp_path: Path) -> None:
    media = knouds.Media(url=f"{S3}/a.png?X-Amz-Signature=canary", kind="image")
    (tmp_path / "a.png").write_bytes(b"mine")
    with pytest.raises(knouds.MediaFileExistsError, match=r"a\.png.*overwrite=True") as exists:
        await io.save(media, serve(), tmp_path, overwrite=False)
    (tmp_path / "taken").write_bytes(b"a file where a directory should be")
    with pytest.raises(knouds.MediaSaveError) as blocked:
        await io.save(media, serve(), tmp_path / "taken" / "sub" / "a.png")
    with pytest.raises(knouds.MediaSaveError) as in_the_way:  # mkdir: "File exists", not a.png
        await io.save(media, serve(), tmp_path / "taken" / "a.png")
    assert not isinstance(in_the_way.value, knouds.MediaFileExistsError)
    assert "overwrite" not in str(in_the_way.value)

    assert isinstance(exists.value, FileExistsError)  # `except FileExistsError` still works
    assert isinstance(blocked.value, OSError)
    assert isinstance(blocked.value, knouds.MediaDownloadError)
    assert not isinstance(blocked.value, FileExistsError)
    assert blocked.value.errno is not None
    assert "canary" not in str(exists.value) + str(blocked.value)
    assert (tmp_path / "a.png").read_bytes() == b"mine"
    assert exists.value.path == str(tmp_path / "a.png")


def test_a_disk_failure_survives_pickle() -> None:
    error = knouds.MediaSaveError("Could not save.", url="https://x/a.png", path="/tmp/a.png")
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.url, copy.path) == ("Could not save.", "https://x/a.png", "/tmp/a.png")


@pytest.mark.parametrize(
    ("filename", "saved"),
    [
        ("a/b/c.png", "c.png"),
        ("..\\..\\evil.png", "evil.png"),
        ("a\\b.png", "b.png"),
        ("dir/b c.png", "b_c.png"),
        ("a b?.png", "a_b_.png"),
        (".hidden", "hidden"),
        ("file.", "file."),
        ("Xray.png", "Xray.png"),
        ("", "media"),
        ("...", "media"),
        ("n" * 300, "n" * 200),
        ("CON.png", "_CON.png"),
    ],
)
def test_file_names_are_made_safe_inside_the_directory(
    tmp_path: Path, filename: str, saved: str
) -> None:
    target = _files.destination(tmp_path, filename)
    assert target == tmp_path.resolve() / saved


def test_writing_outside_the_directory_is_refused_naming_it(tmp_path: Path) -> None:
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"x")
    inside = tmp_path / "dir"
    inside.mkdir()
    (inside / "link.png").symlink_to(outside)
    with pytest.raises(knouds.MediaDownloadError) as caught:
        _files.destination(inside, "link.png")
    assert str(inside.resolve()) in str(caught.value)


@pytest.mark.parametrize(
    ("timeout", "expected"),
    [
        (None, {"connect": None, "read": None, "write": None, "pool": None}),
        (httpx.Timeout(5.0), {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0}),
        (0.5, {"connect": 0.5, "read": 0.5, "write": 0.5, "pool": 0.5}),
        (30, {"connect": 10.0, "read": 30.0, "write": 30.0, "pool": 30.0}),
    ],
)
async def test_media_timeouts(io: IO, timeout: Any, expected: dict[str, float | None]) -> None:
    media = knouds.Media(url=f"{S3}/a.png", kind="image")
    await io.read(media, serve(), timeout=timeout)
    assert io.seen[-1].extensions["timeout"] == expected


@pytest.mark.parametrize("timeout", [0, -1])
async def test_media_timeouts_must_be_positive(io: IO, timeout: float) -> None:
    media = knouds.Media(url=f"{S3}/a.png", kind="image")
    with pytest.raises(ValueError, match="timeout"):
        await io.read(media, serve(), timeout=timeout)


@pytest.mark.parametrize(
    "url",
    [f"{S3}/dir/a.png?X-Amz-Signature=secret?zq=secret2#frag#frag2", f"{S3}/dir/a.png#frag#frag2"],
)
async def test_messages_show_the_url_without_query_or_fragment(io: IO, url: str) -> None:
    media = knouds.Media(url=url, kind="image")
    with pytest.raises(knouds.MediaDownloadError) as caught:
        await io.read(media, lambda request: httpx.Response(403))
    message = str(caught.value)
    assert f"{S3}/dir/a.png" in message
    for hidden in ("secret", "zq=", "frag"):
        assert hidden not in message


async def test_a_refused_scheme_names_the_url_without_its_query(io: IO) -> None:
    url = "ftp://files.example/a.png?token=secret"
    with pytest.raises(knouds.MediaDownloadError) as caught:
        await io.read(knouds.Media(url=url, kind="image"), serve())
    assert caught.value.url == url
    assert "ftp://files.example/a.png" in str(caught.value)
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize("links", [True, False])
async def test_a_file_that_appears_during_the_download_is_kept(
    io: IO, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, links: bool
) -> None:
    if not links:

        def no_links(src: Any, dst: Any) -> None:
            raise PermissionError("hard links not supported")

        monkeypatch.setattr(os, "link", no_links)
    target = tmp_path / "b.png"

    def handler(request: httpx.Request) -> httpx.Response:
        target.write_bytes(b"theirs")  # another process wins the race
        return httpx.Response(200, content=PNG)

    media = knouds.Media(url=f"{S3}/b.png", kind="image")
    with pytest.raises(FileExistsError, match=r"b\.png"):
        await io.save(media, handler, target, overwrite=False)
    assert target.read_bytes() == b"theirs"
    assert files_in(tmp_path) == ["b.png"]


def wrong_kind(io: IO) -> httpx.Client | httpx.AsyncClient:
    """A client of the other kind than the methods `io` calls take (closed with the rest)."""
    made = httpx.AsyncClient() if io.kind == "sync" else httpx.Client()
    io._clients.append(made)
    return made


@pytest.mark.parametrize(
    ("setting", "name"), [({"max_bytes": -1}, "max_bytes"), ({"timeout": 0}, "timeout")]
)
async def test_a_bad_setting_is_reported_before_the_url_is_looked_at(
    io: IO, setting: dict[str, Any], name: str
) -> None:
    media = knouds.Media(url="ftp://files.example/a.png", kind="image")
    with pytest.raises(knouds.ConfigurationError, match=name):
        await io.read(media, serve(), **setting)
    with pytest.raises(knouds.ConfigurationError, match=name):
        await io.chunks(media, serve(), **setting)
    assert io.seen == []


async def test_a_client_of_the_wrong_kind_is_refused_before_touching_the_disk(
    io: IO, tmp_path: Path
) -> None:
    wrong = wrong_kind(io)
    media = knouds.Media(url=f"{S3}/a.png", kind="image")
    with pytest.raises(knouds.ConfigurationError, match="http_client"):
        await io.save(media, serve(), tmp_path / "new", http_client=wrong)
    assert files_in(tmp_path) == []
    (tmp_path / "a.png").write_bytes(b"mine")
    with pytest.raises(knouds.ConfigurationError, match="http_client"):
        await io.save(media, serve(), tmp_path, overwrite=False, http_client=wrong)
    assert files_in(tmp_path) == ["a.png"]
    assert io.seen == []


@pytest.mark.parametrize("setting", ["max_bytes", "timeout", "http_client"])
async def test_save_all_checks_its_settings_even_without_files(
    io: IO, tmp_path: Path, setting: str
) -> None:
    result = knouds.RunResult(result={})
    assert result.media == []
    call = getattr(result, "save_all" if io.kind == "sync" else "asave_all")
    assert await resolve(call(tmp_path / "out")) == []
    bad = {"max_bytes": -1, "timeout": 0, "http_client": wrong_kind(io)}[setting]
    with pytest.raises(knouds.ConfigurationError, match=setting):
        await resolve(call(tmp_path / "out", **{setting: bad}))
    assert files_in(tmp_path) == []


async def test_disk_failures_carry_the_url_being_saved(io: IO, tmp_path: Path) -> None:
    url = f"{S3}/a.png"
    media = knouds.Media(url=url, kind="image")
    (tmp_path / "taken").write_bytes(b"a file where a directory should be")
    with pytest.raises(knouds.MediaSaveError) as making_the_directory:
        await io.save(media, serve(), tmp_path / "taken" / "sub")
    with pytest.raises(knouds.MediaSaveError) as writing_the_file:
        await io.save(media, serve(), tmp_path / "taken" / "a.png")
    assert making_the_directory.value.url == url
    assert making_the_directory.value.path is None
    assert writing_the_file.value.url == url
    assert writing_the_file.value.path == str(tmp_path / "taken" / "a.png")


@pytest.mark.parametrize(
    ("name", "saved"),
    [
        ("é" * 150 + ".tar.png", "é" * 98 + ".png"),  # only the last extension is kept
        ("é" * 150 + "." + "b" * 16, "é" * 91 + "." + "b" * 16),  # 16 bytes: an extension
        ("é" * 150 + "." + "b" * 17, "é" * 100),  # 17 bytes: part of the name, cut with it
    ],
)
async def test_long_names_are_cut_to_200_bytes_keeping_a_short_extension(
    io: IO, tmp_path: Path, name: str, saved: str
) -> None:
    media = knouds.Media(url=f"{S3}/{quote(name)}", kind="image")
    assert media.filename == name
    path = await io.save(media, serve(), tmp_path)
    assert path.name == saved
    assert len(saved.encode()) <= 200
    assert files_in(tmp_path) == [saved]


@pytest.mark.skipif(sys.platform != "linux", reason="file names that are not UTF-8: Linux only")
async def test_a_long_file_name_that_is_not_utf8_is_saved(io: IO, tmp_path: Path) -> None:
    raw = b"\xff" + b"a" * 200 + b".png"  # 205 bytes: its temporary name must be cut
    target = tmp_path / os.fsdecode(raw)
    media = knouds.Media(url=f"{S3}/a.png", kind="image")
    assert await io.save(media, serve(), target) == target
    assert os.listdir(os.fsencode(tmp_path)) == [raw]
    assert target.read_bytes() == PNG


async def test_a_failure_whose_text_cannot_be_scrubbed_is_not_chained(io: IO) -> None:
    class Stubborn(httpx.ReadError):
        def __str__(self) -> str:  # its text does not come from its arguments
            return f"stubborn {API_KEY}"

    def handler(request: httpx.Request) -> httpx.Response:
        raise Stubborn("x", request=request)

    # A user's client carrying the key (never sent to a media host), which the failure shows.
    client = io.client(handler, headers={"x-api-key": API_KEY})
    media = knouds.Media(url=f"{S3}/a.png", kind="image")
    with pytest.raises(knouds.MediaDownloadError) as caught:
        await io.read(media, handler, http_client=client)
    error = caught.value
    assert "stubborn ***" in str(error)
    assert error.__cause__ is None
    assert error.__suppress_context__
    printed = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    assert API_KEY not in printed


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("n" * 300 + ".png", "n" * 196 + ".png"),
        ("n" * 300, "n" * 196 + ".png"),  # the kind's extension, added, is kept too
        ("n" * 100 + "." + "e" * 150, ("n" * 100 + "." + "e" * 150)[:200]),  # no short extension
        ("n" * 196 + ".png", "n" * 196 + ".png"),
    ],
    ids=["long stem", "no extension", "long extension", "exactly 200"],
)
def test_a_long_file_name_is_cut_keeping_its_extension(path: str, expected: str) -> None:
    media = knouds.Media(url=f"https://cdn.example/{path}", kind="image")
    assert media.filename == expected
    assert len(media.filename) <= 200

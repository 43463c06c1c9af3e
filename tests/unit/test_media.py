"""Media downloads and notebook previews: redirects, size caps, safe paths, atomic saves, no key.

Every download behaviour runs for both the sync and the async methods through one test body: the
``io`` fixture calls ``read``/``aread``, ``save``/``asave``, ``iter_bytes``/``aiter_bytes`` and
``save_all``/``asave_all`` with an ``httpx.Client`` or ``httpx.AsyncClient`` over one handler.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

import knouds
from knouds._media import clients as _clients
from knouds.testing import responses
from tests.conftest import API_KEY, BASE_URL, rate_headers, resolve

Handler = Callable[[httpx.Request], httpx.Response]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
S3 = "https://knouds-media.s3.amazonaws.com"


class IO:
    """Calls the sync or the async twin of each method, with a client over ``handler``."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.seen: list[httpx.Request] = []
        self._clients: list[httpx.Client | httpx.AsyncClient] = []

    def client(self, handler: Handler, **kwargs: Any) -> httpx.Client | httpx.AsyncClient:
        def recording(request: httpx.Request) -> httpx.Response:
            self.seen.append(request)
            return handler(request)

        transport = httpx.MockTransport(recording)
        made: httpx.Client | httpx.AsyncClient
        if self.kind == "sync":
            made = httpx.Client(transport=transport, **kwargs)
        else:
            made = httpx.AsyncClient(transport=transport, **kwargs)
        self._clients.append(made)
        return made

    def call(self, obj: Any, name: str, handler: Handler, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("http_client", self.client(handler))
        return getattr(obj, name if self.kind == "sync" else f"a{name}")(*args, **kwargs)

    async def read(self, media: knouds.Media, handler: Handler, **kwargs: Any) -> bytes:
        return bytes(await resolve(self.call(media, "read", handler, **kwargs)))

    async def save(self, media: knouds.Media, handler: Handler, *args: Any, **kw: Any) -> Path:
        return Path(await resolve(self.call(media, "save", handler, *args, **kw)))

    async def save_all(self, result: knouds.RunResult, handler: Handler, *args: Any) -> list[Path]:
        return list(await resolve(self.call(result, "save_all", handler, *args)))

    async def chunks(self, media: knouds.Media, handler: Handler, **kwargs: Any) -> list[bytes]:
        kwargs["http_client"] = self.client(handler)
        if self.kind == "sync":
            return list(media.iter_bytes(**kwargs))
        return [chunk async for chunk in media.aiter_bytes(**kwargs)]

    async def close(self) -> None:
        for made in self._clients:
            if isinstance(made, httpx.Client):
                made.close()
            else:
                await made.aclose()


@pytest.fixture(params=["sync", "async"])
async def io(request: pytest.FixtureRequest) -> AsyncIterator[IO]:
    helper = IO(str(request.param))
    yield helper
    await helper.close()


def serve(body: bytes = PNG, **headers: str) -> Handler:
    return lambda request: httpx.Response(200, content=body, headers=headers)


def redirects(hops: dict[str, str], body: bytes = PNG) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        target = hops.get(str(request.url))
        if target is not None:
            return httpx.Response(302, headers={"location": target})
        return httpx.Response(200, content=body)

    return handler


class BrokenStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body that sends some bytes, then breaks like a dropped connection."""

    def __init__(self, good: int) -> None:
        self.good = good

    def __iter__(self) -> Iterator[bytes]:
        yield b"x" * self.good
        raise httpx.ReadError("connection reset by peer")

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"x" * self.good
        raise httpx.ReadError("connection reset by peer")


class Unsized(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A chunked body without Content-Length."""

    def __init__(self, chunks: int, size: int = 1000) -> None:
        self.chunks, self.size = chunks, size

    def __iter__(self) -> Iterator[bytes]:
        for _ in range(self.chunks):
            yield b"y" * self.size

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            yield b"y" * self.size


def real(path: Path) -> Path:
    return path.resolve()


def close(client: httpx.Client) -> None:
    client.close()


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*"))


# -- downloading -----------------------------------------------------------------------------


async def test_read_save_and_iterate(io: IO, tmp_path: Path) -> None:
    media = knouds.Media(url=f"{S3}/out/fox.png?X-Amz-Signature=abc", kind="image")

    assert await io.read(media, serve()) == PNG
    saved = await io.save(media, serve(), tmp_path)
    assert saved == real(tmp_path) / "fox.png"
    assert saved.read_bytes() == PNG
    chunks = await io.chunks(media, serve(), chunk_size=16)
    assert b"".join(chunks) == PNG
    assert max(len(c) for c in chunks) <= 16
    assert files_in(tmp_path) == ["fox.png"]


async def test_save_to_an_exact_file_path_or_a_new_directory(io: IO, tmp_path: Path) -> None:
    media = knouds.Media(url=f"{S3}/fox.png", kind="image")

    exact = tmp_path / "named-by-me.bin"
    assert await io.save(media, serve(), exact) == exact
    assert exact.read_bytes() == PNG
    fresh = await io.save(media, serve(), f"{tmp_path}/new/dir/")
    assert fresh == real(tmp_path) / "new" / "dir" / "fox.png"
    assert fresh.read_bytes() == PNG
    # A new path without an extension is a directory to create, not a file named "out".
    created = await io.save(media, serve(), tmp_path / "out")
    assert created == real(tmp_path) / "out" / "fox.png"
    assert created.read_bytes() == PNG


async def test_overwrite_false_keeps_the_existing_file(io: IO, tmp_path: Path) -> None:
    media = knouds.Media(url=f"{S3}/fox.png", kind="image")
    (tmp_path / "fox.png").write_bytes(b"mine")

    with pytest.raises(FileExistsError):
        await io.save(media, serve(), tmp_path, overwrite=False)
    assert (tmp_path / "fox.png").read_bytes() == b"mine"
    assert io.seen == []
    await io.save(media, serve(), tmp_path)  # overwrite=True is the default
    assert (tmp_path / "fox.png").read_bytes() == PNG


async def test_https_redirects_are_followed(io: IO) -> None:
    media = knouds.Media(url=f"{S3}/a.png", kind="image")
    hops = {f"{S3}/a.png": "https://cdn.example/b.png", "https://cdn.example/b.png": "/c.png"}

    assert await io.read(media, redirects(hops)) == PNG
    assert [str(r.url) for r in io.seen] == [
        f"{S3}/a.png",
        "https://cdn.example/b.png",
        "https://cdn.example/c.png",
    ]


async def test_a_redirect_to_plain_http_is_refused(io: IO, tmp_path: Path) -> None:
    media = knouds.Media(url=f"{S3}/a.png", kind="image")
    handler = redirects({f"{S3}/a.png": "http://cdn.example/b.png"})

    with pytest.raises(knouds.MediaDownloadError, match="plain HTTP") as caught:
        await io.save(media, handler, tmp_path)
    assert caught.value.url == "http://cdn.example/b.png"
    assert len(io.seen) == 1
    assert files_in(tmp_path) == []


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:8080/b.png",
        "http://localhost/b.png",
        "http://[::1]:9/b.png",
        "http://127.8.9.10/b.png",
    ],
)
async def test_loopback_redirects_may_use_http(io: IO, target: str) -> None:
    media = knouds.Media(url=f"{S3}/a.png", kind="image")

    assert await io.read(media, redirects({f"{S3}/a.png": target})) == PNG


async def test_at_most_five_redirects(io: IO) -> None:
    media = knouds.Media(url="https://m.example/0.png", kind="image")
    loop = {f"https://m.example/{i}.png": f"https://m.example/{i + 1}.png" for i in range(10)}

    with pytest.raises(knouds.MediaDownloadError, match="redirects"):
        await io.read(media, redirects(loop))
    assert len(io.seen) == 6
    hops5 = {k: v for k, v in loop.items() if k < "https://m.example/5.png"}
    assert await io.read(media, redirects(hops5)) == PNG


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "data:image/png;base64,iVBORw0K",
        "ftp://example.com/a.png",
        "javascript:alert(1)",
        "/relative/a.png",
        "https://",
    ],
)
async def test_other_schemes_are_refused_before_any_io(io: IO, tmp_path: Path, url: str) -> None:
    media = knouds.Media(url=url, kind="image")

    with pytest.raises(knouds.MediaDownloadError):
        await io.read(media, serve())
    with pytest.raises(knouds.MediaDownloadError):
        await io.save(media, serve(), tmp_path / "sub" / "")
    with pytest.raises(knouds.MediaDownloadError):
        await io.save_all(knouds.RunResult(result={"images": [url]}), serve(), tmp_path / "all")
    assert io.seen == []
    assert files_in(tmp_path) == []


async def test_max_bytes_by_content_length(io: IO, tmp_path: Path) -> None:
    media = knouds.Media(url=f"{S3}/big.png", kind="image")

    with pytest.raises(knouds.MediaDownloadError, match="max_bytes=50") as caught:
        await io.save(media, serve(), tmp_path, max_bytes=50)
    assert caught.value.status_code == 200
    assert files_in(tmp_path) == []
    assert await io.read(media, serve(), max_bytes=len(PNG)) == PNG


async def test_max_bytes_by_counting_a_body_without_length(io: IO, tmp_path: Path) -> None:
    media = knouds.Media(url=f"{S3}/big.png", kind="image")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Unsized(chunks=10))

    with pytest.raises(knouds.MediaDownloadError, match="larger than max_bytes=2500"):
        await io.save(media, handler, tmp_path, max_bytes=2500)
    assert files_in(tmp_path) == []
    with pytest.raises(knouds.MediaDownloadError):
        await io.read(media, handler, max_bytes=9999)
    assert len(await io.read(media, handler, max_bytes=10000)) == 10000


async def test_an_interrupted_download_leaves_no_file(io: IO, tmp_path: Path) -> None:
    media = knouds.Media(url=f"{S3}/clip.mp4", kind="video")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=BrokenStream(good=5000))

    with pytest.raises(knouds.MediaDownloadError, match="connection reset") as caught:
        await io.save(media, handler, tmp_path)
    assert not isinstance(caught.value, httpx.HTTPError)
    assert isinstance(caught.value.__cause__, httpx.ReadError)
    assert files_in(tmp_path) == []
    # An existing complete file is not replaced by a broken download.
    (tmp_path / "clip.mp4").write_bytes(b"complete")
    with pytest.raises(knouds.MediaDownloadError):
        await io.save(media, handler, tmp_path)
    assert files_in(tmp_path) == ["clip.mp4"]
    assert (tmp_path / "clip.mp4").read_bytes() == b"complete"


async def test_connection_errors_become_media_errors(io: IO) -> None:
    media = knouds.Media(url=f"{S3}/a.png", kind="image")

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out")

    with pytest.raises(knouds.MediaDownloadError, match="connection refused"):
        await io.read(media, refuse)
    with pytest.raises(knouds.MediaDownloadError, match="Timed out"):
        await io.read(media, slow)


@pytest.mark.parametrize(
    ("status", "words"), [(403, "expire"), (404, "No media file"), (503, "Try again")]
)
async def test_error_statuses(io: IO, tmp_path: Path, status: int, words: str) -> None:
    media = knouds.Media(url=f"{S3}/a.png?X-Amz-Signature=secret", kind="image")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, text="<Error>AccessDenied</Error>")

    with pytest.raises(knouds.MediaDownloadError, match=words) as caught:
        await io.save(media, handler, tmp_path)
    assert caught.value.status_code == status
    assert caught.value.url == media.url
    assert "secret" not in str(caught.value)  # presigned signatures stay out of messages
    assert files_in(tmp_path) == []


@pytest.mark.parametrize(
    "url",
    [
        f"{S3}/../../etc/passwd",
        f"{S3}/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        f"{S3}/..%5c..%5cwindows%5cwin.ini",
        f"{S3}/a/..\\..\\evil.png",
        f"{S3}//etc/passwd",
        f"{S3}/%2Fetc%2Fpasswd",
        f"{S3}/..",
        f"{S3}/CON.png",
    ],
)
async def test_saved_names_never_leave_the_directory(io: IO, tmp_path: Path, url: str) -> None:
    target = tmp_path / "out"
    target.mkdir()
    media = knouds.Media(url=url, kind="image")

    saved = await io.save(media, serve(), target)
    assert saved.parent == target.resolve()
    assert saved.read_bytes() == PNG
    assert files_in(tmp_path) == sorted(["out", saved.name])


async def test_a_symlinked_name_pointing_outside_is_refused(io: IO, tmp_path: Path) -> None:
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"precious")
    target = tmp_path / "out"
    target.mkdir()
    (target / "fox.png").symlink_to(outside)

    with pytest.raises(knouds.MediaDownloadError, match="outside"):
        await io.save(knouds.Media(url=f"{S3}/fox.png", kind="image"), serve(), target)
    assert outside.read_bytes() == b"precious"


async def test_save_all_gives_each_file_its_own_name(io: IO, tmp_path: Path) -> None:
    result = knouds.RunResult(
        result={
            "images": [f"{S3}/a/out.png", f"{S3}/b/out.png", f"{S3}/c/OUT.png"],
            "videos": [f"{S3}/clip.mp4"],
        }
    )

    saved = await io.save_all(result, serve(), tmp_path / "run")
    assert [p.name for p in saved] == ["out.png", "out-1.png", "OUT-2.png", "clip.mp4"]
    assert all(p.read_bytes() == PNG for p in saved)
    assert await io.save_all(knouds.RunResult(result={"text": "hi"}), serve(), tmp_path) == []


async def test_the_api_key_is_never_sent_to_media(io: IO, tmp_path: Path) -> None:
    # Even a client that carries the key (a user's own) does not send it to a media host, and
    # its credentials do not follow a redirect to another origin.
    hops = {f"{S3}/a.png": "https://cdn.example/a.png"}
    media = knouds.Media(url=f"{S3}/a.png", kind="image")
    client = io.client(
        redirects(hops),
        headers={"x-api-key": API_KEY, "authorization": "Bearer proxy-token"},
    )

    await io.save(media, serve(), tmp_path, http_client=client)
    assert len(io.seen) == 2
    assert all("x-api-key" not in r.headers for r in io.seen)
    assert io.seen[0].headers["authorization"] == "Bearer proxy-token"
    assert "authorization" not in io.seen[1].headers


async def test_default_clients_carry_no_key(
    make_client: Any, client_kind: str, tmp_path: Path
) -> None:
    """The whole path: a run through a Knouds client, then its media saved with the defaults.

    respx intercepts the SDK's own media clients (the shared sync one, a fresh async one per
    call) the same way it intercepts the API client.
    """
    with respx.mock(base_url=BASE_URL) as mock:
        api = mock.post("/api/models/gpt-image-2/run").mock(
            return_value=responses.run(images=[f"{S3}/x.png"], cost=4, ms=9)
        )
        media = mock.get(f"{S3}/x.png").mock(return_value=httpx.Response(200, content=PNG))
        client = make_client()
        result = await resolve(client.models.run("gpt-image-2", {"prompt": "a red fox"}))
        if client_kind == "sync":
            paths = result.save_all(tmp_path)
            assert result.images[0].read() == PNG
        else:
            paths = await result.asave_all(tmp_path)
            assert await result.images[0].aread() == PNG

    assert api.calls.last.request.headers["x-api-key"] == API_KEY
    assert paths[0].read_bytes() == PNG
    assert media.call_count == 2
    for call in media.calls:
        assert "x-api-key" not in call.request.headers
        assert API_KEY not in str(call.request.headers)
        assert call.request.headers["user-agent"].startswith("knouds-python/")


def test_the_shared_sync_client_is_built_once_and_is_not_the_api_client() -> None:
    first = _clients.shared_client()
    assert _clients.shared_client() is first
    assert "x-api-key" not in first.headers
    assert first.follow_redirects is False


async def test_stopping_iteration_early_closes_the_response(io: IO) -> None:
    media = knouds.Media(url=f"{S3}/big.bin", kind="image")
    closed: list[bool] = []

    class Tracked(Unsized):
        def close(self) -> None:
            closed.append(True)

        async def aclose(self) -> None:
            closed.append(True)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Tracked(chunks=1000))

    client = io.client(handler)
    if io.kind == "sync":
        chunks = media.iter_bytes(http_client=client)  # type: ignore[arg-type]
        assert next(chunks) == b"y" * 65536
        chunks.close()
    else:
        achunks = media.aiter_bytes(http_client=client)  # type: ignore[arg-type]
        assert await achunks.__anext__() == b"y" * 65536
        await achunks.aclose()
    assert closed == [True]


def test_bad_arguments() -> None:
    media = knouds.Media(url=f"{S3}/a.png", kind="image")
    with pytest.raises(ValueError, match="max_bytes"):
        media.read(max_bytes=-1)
    for timeout in (0, -1.0, float("nan"), float("inf"), httpx.Timeout(5.0, read=float("nan"))):
        with pytest.raises(knouds.ConfigurationError, match="timeout"):
            media.read(timeout=timeout)


# -- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "kind", "name"),
    [
        (f"{S3}/out/fox.png", "image", "fox.png"),
        (f"{S3}/out/fox.png?X-Amz-Signature=abc&X-Amz-Expires=3600", "image", "fox.png"),
        (f"{S3}/out/8f3a9c", "video", "8f3a9c.mp4"),
        (f"{S3}/out/8f3a9c", "audio", "8f3a9c.mp3"),
        (f"{S3}/", "image", "image.png"),
        (f"{S3}/a%20red%20fox.webp", "image", "a_red_fox.webp"),
        (f"{S3}/../../etc/passwd", "image", "passwd.png"),
        (f"{S3}/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "image", "passwd.png"),
        (f"{S3}/..%5C..%5Cwin.ini", "image", "win.ini"),
        (f"{S3}/.hidden.png", "image", "hidden.png"),
        (f"{S3}/....", "audio", "audio.mp3"),
    ],
)
def test_filename_guesses(url: str, kind: str, name: str) -> None:
    guessed = knouds.Media(url=url, kind=kind).filename
    assert guessed == name
    assert "/" not in guessed
    assert "\\" not in guessed
    assert not guessed.startswith(".")


# -- notebook display ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "tag"),
    [("image", "<img "), ("video", "<video controls"), ("audio", "<audio controls")],
)
def test_media_html_by_kind(kind: str, tag: str) -> None:
    html = knouds.Media(url=f"{S3}/x?a=1&b=2", kind=kind)._repr_html_()
    assert html.startswith(tag)
    assert f'src="{S3}/x?a=1&amp;b=2"' in html


def test_media_html_is_escaped() -> None:
    evil = f'{S3}/a.png"><script>alert(1)</script>'
    html = knouds.Media(url=evil, kind="image")._repr_html_()
    assert "<script>" not in html
    assert "&quot;&gt;&lt;script&gt;" in html
    js = knouds.Media(url="javascript:alert(1)", kind="image")._repr_html_()
    assert "src=" not in js
    assert "href=" not in js


def test_run_result_html() -> None:
    result = knouds.RunResult(
        result={"images": [f"{S3}/a.png"], "audios": [f"{S3}/b.wav"], "text": "<b>hi</b> & bye"},
        cost=4,
        ms=1234,
    )
    result._rate_limit = knouds.RateLimit.from_headers(rate_headers(100, 87, 1714512000))
    html = result._repr_html_()
    assert html.count("<img ") == 1
    assert html.count("<audio controls") == 1
    for cell in (">4<", ">1234<", "87 / 100", "&lt;b&gt;hi&lt;/b&gt; &amp; bye"):
        assert cell in html
    assert "<b>hi</b>" not in html
    bare = knouds.RunResult(cost=0, ms=5)._repr_html_()
    assert ">rate limit<" not in bare
    assert ">text<" not in bare
    assert "<img" not in bare


def test_plain_reprs_stay_short() -> None:
    result = knouds.RunResult(result={"images": [f"{S3}/a.png"] * 3, "text": "x" * 500}, cost=4)
    assert len(repr(result)) < 120
    assert repr(knouds.Media(url=f"{S3}/a.png", kind="image")).startswith("Media(kind='image'")


def test_importing_knouds_does_not_load_the_downloader() -> None:
    import subprocess
    import sys

    code = "import sys, knouds; print('knouds._sync.download' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
    )
    assert out.stdout.strip() == "False"

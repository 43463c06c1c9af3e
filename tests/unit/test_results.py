"""Run results: documented fields, unknown fields kept, and every result shape the API allows."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

import knouds
from tests.conftest import rate_headers, resolve


def ok(result: Any, **extra: Any) -> httpx.Response:
    body = {"success": True, "result": result, "cost": 4, "ms": 1234, **extra}
    return httpx.Response(200, json=body, headers=rate_headers(100, 87, 1714512000))


async def test_documented_fields_and_rate_limit(make_client: Any) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return ok({"images": ["https://knouds-media.s3.amazonaws.com/a.png"]}, newField={"x": 1})

    # The docs' example headers, half a minute before their reset.
    client = make_client(handler, clock=lambda: 1714512000 - 30.0)
    result = await resolve(client.models.run("gpt-image-2", {"prompt": "a red fox"}))
    assert isinstance(result, knouds.RunResult)
    assert (result.success, result.cost, result.ms) == (True, 4, 1234)
    assert result.result == {"images": ["https://knouds-media.s3.amazonaws.com/a.png"]}
    assert result.model_extra == {"newField": {"x": 1}}
    assert result.rate_limit == knouds.RateLimit(limit=100, remaining=87, reset=1714512000)
    assert client.rate_limits["models"].remaining == 87
    request = seen[0]
    assert request.method == "POST"
    assert request.url.path == "/api/models/gpt-image-2/run"
    assert json.loads(request.content) == {"inputs": {"prompt": "a red fox"}}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith(f"knouds-python/{knouds.__version__}")


SHAPES: list[tuple[Any, dict[str, list[str]], str | None]] = [
    (
        {"images": ["https://h/a.png", "https://h/b.png"]},
        {"images": ["https://h/a.png", "https://h/b.png"]},
        None,
    ),
    ({"images": [{"url": "https://h/a.png", "width": 512}]}, {"images": ["https://h/a.png"]}, None),
    ({"images": "https://h/one.png"}, {"images": ["https://h/one.png"]}, None),
    (
        {"videos": ["https://h/v.mp4"], "audios": [{"url": "https://h/s.mp3"}]},
        {"videos": ["https://h/v.mp4"], "audios": ["https://h/s.mp3"]},
        None,
    ),
    ({"text": "hello"}, {}, "hello"),
    ({"text": ["a", "b"]}, {}, "a\nb"),
    (
        {"images": ["https://h/a.png"], "text": "caption"},
        {"images": ["https://h/a.png"]},
        "caption",
    ),
    ("plain text answer", {}, "plain text answer"),
    (
        ["https://h/a.png", "https://h/v.mp4", "https://h/s.wav"],
        {
            "images": ["https://h/a.png"],
            "videos": ["https://h/v.mp4"],
            "audios": ["https://h/s.wav"],
        },
        None,
    ),
    (["first", "second"], {}, "first\nsecond"),
    ("https://h/only.mp4", {"videos": ["https://h/only.mp4"]}, None),
    (None, {}, None),
    (42, {}, None),
    ({}, {}, None),
    (
        {"images": [None, 3, {"nourl": 1}, "https://h/ok.png"]},
        {"images": ["https://h/ok.png"]},
        None,
    ),
    ({"unknown": {"deep": [1, 2]}}, {}, None),
]


@pytest.mark.parametrize(("result", "media", "text"), SHAPES)
async def test_result_shapes(
    make_client: Any, result: Any, media: dict[str, list[str]], text: str | None
) -> None:
    client = make_client(lambda r: ok(result))
    run = await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))
    for attr in ("images", "videos", "audios"):
        urls = [m.url for m in getattr(run, attr)]
        assert urls == media.get(attr, []), attr
        assert all(isinstance(m, knouds.Media) for m in getattr(run, attr))
    assert run.text == text
    assert run.result == result


def test_media_items_keep_extra_fields_and_guess_filenames() -> None:
    run = knouds.RunResult(
        result={"images": [{"url": "https://h/p/cat%20one.png?sig=1", "width": 5}]}
    )
    image = run.images[0]
    assert image.kind == "image"
    assert image.model_extra == {"width": 5}
    assert image.filename == "cat_one.png"
    assert knouds.Media(url="https://h/../../etc/passwd", kind="image").filename == "passwd.png"
    assert knouds.Media(url="https://h/", kind="video").filename == "video.mp4"


def test_missing_optional_fields_are_none() -> None:
    run = knouds.RunResult.model_validate({"success": True})
    assert (run.result, run.cost, run.ms, run.rate_limit) == (None, None, None, None)
    assert run.images == []
    assert run.text is None


def test_repr_is_short_and_informative() -> None:
    run = knouds.RunResult(result={"images": ["https://h/a.png"], "text": "x" * 100}, cost=0, ms=5)
    text = repr(run)
    assert text.startswith("RunResult(cost=0, ms=5, images=1, text=")
    assert len(text) < 120

"""Model runs end to end: results, every error class the emulator can produce, rate-limit headers
and 429 backoff — for both clients over real sockets, with the request log proving what ran."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import knouds
from knouds.testing import Emulator, Fault
from tests.conftest import resolve

Connect = Callable[..., Any]


def executed(emu: Emulator, model: str = "gpt-image-2") -> int:
    return emu.run_count(model)


async def test_image_run_gives_typed_result_and_rate_limit(emu: Emulator, client: Any) -> None:
    result = await resolve(
        client.models.run("gpt-image-2", {"prompt": "a red fox", "num_images": 2})
    )
    assert isinstance(result, knouds.RunResult)
    assert len(result.images) == 2
    assert all(m.url.startswith(emu.base_url + "/media/") for m in result.images)
    assert result.cost == 4
    assert isinstance(result.ms, int)
    assert result.rate_limit is not None
    assert result.rate_limit.limit == 1000
    assert result.rate_limit.remaining == 999
    assert client.rate_limits["models"] == result.rate_limit
    assert executed(emu) == 1


@pytest.mark.parametrize(
    ("model", "attr"), [("seedance-2-i2v", "videos"), ("suno-v5", "audios"), ("gpt-5-mini", "text")]
)
async def test_each_kind_of_output(client: Any, model: str, attr: str) -> None:
    result = await resolve(client.models.run(model, {"prompt": "something"}))
    assert getattr(result, attr)


@pytest.mark.parametrize(
    ("key_options", "cls", "extras"),
    [
        (
            {"scope": "deployment"},
            knouds.ScopeDeniedError,
            {"required": "admin", "actual": "deployment"},
        ),
        (
            {"capabilities": {"workflow:run"}},
            knouds.CapabilityDeniedError,
            {"required": "model:run"},
        ),
        ({"legacy": True}, knouds.LegacyKeyRetiredError, {}),
        ({"credits": 1}, knouds.InsufficientCreditsError, {}),
    ],
)
async def test_key_errors(
    emu: Emulator,
    connect: Connect,
    key_options: dict[str, Any],
    cls: type[knouds.APIStatusError],
    extras: dict[str, Any],
) -> None:
    client = connect(emu, emu.create_key(**key_options))
    with pytest.raises(cls) as info:
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))
    for name, value in extras.items():
        assert getattr(info.value, name) == value
    assert info.value.status_code in (401, 402, 403)
    assert executed(emu) == 0


async def test_revoked_key_is_a_plain_401(emu: Emulator, connect: Connect) -> None:
    key = emu.create_key()
    emu.revoke_key(key)
    with pytest.raises(knouds.AuthenticationError) as info:
        await resolve(connect(emu, key).models.run("gpt-image-2", {"prompt": "x"}))
    assert type(info.value) is knouds.AuthenticationError
    assert info.value.code is None


async def test_trial_grant_then_grant_exhausted(emu: Emulator, connect: Connect) -> None:
    client = connect(emu, emu.create_key(grants={"gpt-image-2": 1}, credits=0))
    first = await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))
    assert first.cost == 0
    with pytest.raises(knouds.GrantExhaustedError):
        await resolve(client.models.run("gpt-image-2", {"prompt": "y"}))
    assert executed(emu) == 1


@pytest.mark.parametrize(
    ("model", "inputs", "cls"),
    [
        ("no-such-model", {"prompt": "x"}, knouds.ModelNotFoundError),
        ("studio-model", {"prompt": "x"}, knouds.ModelTierRequiredError),
        ("gpt-image-2", {"style": "no prompt"}, knouds.InvalidInputsError),
    ],
)
async def test_request_errors(
    client: Any, emu: Emulator, model: str, inputs: dict[str, Any], cls: type
) -> None:
    emu.add_model("studio-model", "video", min_tier="enterprise")
    with pytest.raises(cls):
        await resolve(client.models.run(model, inputs))
    assert emu.run_count() == 0


@pytest.mark.parametrize("name", ["nano-banana-2", "kling-v3-i2v", "claude-sonnet"])
async def test_canvas_models_run_but_not_asynchronously(
    client: Any, emu: Emulator, name: str
) -> None:
    result = await resolve(client.models.run(name, {"prompt": "x"}))
    assert result.success
    with pytest.raises(knouds.AsyncNotSupportedError):
        await resolve(client.models.submit(name, {"prompt": "x"}))
    assert emu.run_count(name) == 1


async def test_canvas_models_in_older_docs_mode(connect: Connect) -> None:
    with Emulator(older_docs=True) as older:
        client = connect(older)
        with pytest.raises(knouds.ModelNotFoundError):
            await resolve(client.models.run("nano-banana-2", {"prompt": "x"}))


async def test_seedance_2_is_in_the_business_tier(emu: Emulator, connect: Connect) -> None:
    business = connect(emu)
    job = await resolve(
        business.models.submit(
            "seedance-2-0-full-access", {"prompt": "...", "duration": "5", "type": "text-to-video"}
        )
    )
    assert job.status == "processing"
    pro = connect(emu, emu.create_key(tier="pro"))
    with pytest.raises(knouds.CapabilityDeniedError):
        await resolve(pro.models.run("seedance-2-0-full-access", {"prompt": "x"}))


async def test_execution_failed_is_not_retried(emu: Emulator, client: Any) -> None:
    emu.add_model("flaky-model", "image", fail=("PROVIDER_ERROR", "upstream exploded"))
    with pytest.raises(knouds.ExecutionFailedError, match="upstream exploded"):
        await resolve(client.models.run("flaky-model", {"prompt": "x"}))
    assert len([e for e in emu.log if e.path == "/api/models/flaky-model/run"]) == 1


@pytest.mark.parametrize(
    ("fault", "cls"),
    [
        (lambda: Fault.html(502), knouds.InternalServerError),
        (lambda: Fault.empty(503), knouds.InternalServerError),
        (lambda: Fault.truncated_json(), knouds.APIResponseValidationError),
        (lambda: Fault.invalid_json(), knouds.APIResponseValidationError),
        (lambda: Fault.drop(), knouds.APIConnectionError),
    ],
)
async def test_unknown_outcomes_raise_and_are_sent_once(
    emu: Emulator, client: Any, fault: Callable[[], Fault], cls: type
) -> None:
    emu.inject(fault(), path="/api/models/")
    with pytest.raises(cls):
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))
    assert len([e for e in emu.log if e.path.startswith("/api/models/")]) == 1


async def test_read_timeout_is_not_retried_by_default(emu: Emulator, connect: Connect) -> None:
    client = connect(emu, timeout=0.2)
    emu.inject(Fault.delay(1.0), path="/api/models/")
    with pytest.raises(knouds.APITimeoutError):
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))
    assert len([e for e in emu.log if e.path.startswith("/api/models/")]) == 1


async def test_429_then_success_runs_exactly_once(emu: Emulator, client: Any) -> None:
    emu.inject(Fault.rate_limited(retry_after=0.05), times=2, path="/api/models/")
    result = await resolve(client.models.run("gpt-image-2", {"prompt": "once"}))
    assert result.images
    statuses = [e.status for e in emu.log if e.path.startswith("/api/models/")]
    assert statuses == [429, 429, 200]
    assert executed(emu) == 1


async def test_429_from_a_real_window_is_waited_out(connect: Connect) -> None:
    with Emulator(rate_limit=2, window=0.2) as emu:
        client = connect(emu, pace=False)
        for i in range(5):
            await resolve(client.models.run("gpt-5-mini", {"prompt": f"n{i}"}))
        assert 429 in [e.status for e in emu.log]
        assert emu.run_count("gpt-5-mini") == 5


async def test_whoami(emu: Emulator, connect: Connect) -> None:
    client = connect(emu, emu.create_key(tier="pro", email="me@example.com"))
    me = await resolve(client.whoami())
    assert (me.email, me.tier, me.approved) == ("me@example.com", "pro", True)

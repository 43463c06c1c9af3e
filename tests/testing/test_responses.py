"""`knouds.testing.responses`: each builder answers what the emulator answers in the same case.

The emulator is called in-process (its transport) with a plain httpx client, and its answer is
compared with the builder's: status, JSON body, and the headers the SDK reads (``Retry-After``,
``X-RateLimit-*``). Values that only the emulator knows (ids, media URLs, timings) are taken from
its answer and given to the builder, so everything else must match.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import knouds
from knouds.testing import Emulator, Fault, ManualClock, responses

START = 1_700_000_040.0  # aligned to a 60-second window
ROOT = Path(__file__).resolve().parents[2]
READ_HEADERS = ("retry-after", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def emu(clock: ManualClock) -> Emulator:
    return Emulator(clock=clock, execution_delay=10)


@pytest.fixture
def http(emu: Emulator) -> Iterator[httpx.Client]:
    headers = {"x-api-key": emu.api_key}
    transport = emu.transport()
    with httpx.Client(transport=transport, base_url="http://emu.test", headers=headers) as client:
        yield client


def rate(response: httpx.Response) -> tuple[int, int, float]:
    headers = response.headers
    return (
        int(headers["x-ratelimit-limit"]),
        int(headers["x-ratelimit-remaining"]),
        float(headers["x-ratelimit-reset"]),
    )


def assert_same(emulated: httpx.Response, built: httpx.Response) -> None:
    assert emulated.status_code == built.status_code
    assert emulated.json() == built.json()
    assert emulated.headers["content-type"] == built.headers["content-type"]
    for name in READ_HEADERS:
        assert emulated.headers.get(name) == built.headers.get(name), name


def run(
    http: httpx.Client, name: str, inputs: object, key: str | None = None, **params: str
) -> Any:
    headers = {"x-api-key": key} if key else None
    return http.post(
        f"/api/models/{name}/run", json={"inputs": inputs}, headers=headers, params=params
    )


# -- successful answers ----------------------------------------------------------------------------


def test_run_with_images_matches(http: httpx.Client) -> None:
    emulated = run(http, "gpt-image-2", {"prompt": "a red fox", "num_images": 2})
    body = emulated.json()
    built = responses.run(
        images=body["result"]["images"], cost=4, ms=body["ms"], rate_limit=rate(emulated)
    )
    assert_same(emulated, built)
    assert emulated.content == built.content  # encoded the same way, byte for byte


@pytest.mark.parametrize(
    ("model", "kind", "cost"), [("seedance-2-i2v", "videos", 20), ("suno-v5", "audios", 10)]
)
def test_run_with_videos_and_audios_matches(
    http: httpx.Client, model: str, kind: str, cost: int
) -> None:
    emulated = run(http, model, {"prompt": "waves"})
    body = emulated.json()
    built = responses.run(
        **{kind: body["result"][kind]}, cost=cost, ms=body["ms"], rate_limit=rate(emulated)
    )
    assert_same(emulated, built)


def test_run_with_text_matches(http: httpx.Client) -> None:
    emulated = run(http, "gpt-5-mini", {"prompt": "hello"})
    body = emulated.json()
    built = responses.run(text=body["result"]["text"], ms=body["ms"], rate_limit=rate(emulated))
    assert_same(emulated, built)


def test_submit_and_every_execution_status_match(
    http: httpx.Client, emu: Emulator, clock: ManualClock
) -> None:
    emulated = run(http, "gpt-image-2", {"prompt": "a red fox"}, **{"async": "true"})
    body = emulated.json()
    job, request_id = body["executionId"], body["requestId"]
    assert_same(emulated, responses.submit(job, request_id=request_id, rate_limit=rate(emulated)))

    def poll(path: str = "") -> httpx.Response:
        method = http.post if path else http.get
        return method(f"/api/executions/{job}{path}")

    processing = poll()
    built = responses.execution(
        job, "processing", request_id=request_id, rate_limit=rate(processing)
    )
    assert_same(processing, built)

    clock.advance(11)
    completed = poll()
    done = completed.json()
    built = responses.execution(
        job,
        "completed",
        images=done["result"]["images"],
        cost=4,
        ms=done["ms"],
        request_id=request_id,
        rate_limit=rate(completed),
    )
    assert_same(completed, built)

    second = run(http, "gpt-image-2", {"prompt": "other"}, **{"async": "true"}).json()
    job, request_id = second["executionId"], second["requestId"]
    cancelling = poll("/cancel")
    built = responses.execution(
        job, "cancel_requested", request_id=request_id, rate_limit=rate(cancelling)
    )
    assert_same(cancelling, built)
    clock.advance(11)
    cancelled = poll()
    built = responses.execution(
        job, "cancelled", cost=4, request_id=request_id, rate_limit=rate(cancelled)
    )
    assert_same(cancelled, built)


def test_failed_execution_matches(http: httpx.Client, emu: Emulator, clock: ManualClock) -> None:
    emu.add_model("flaky", "video", fail=("PROVIDER_TIMEOUT", "The provider timed out"))
    job = run(http, "flaky", {"prompt": "x"}, **{"async": "true"}).json()
    clock.advance(11)
    emulated = http.get(f"/api/executions/{job['executionId']}")
    built = responses.execution(
        job["executionId"],
        "failed",
        error_code="PROVIDER_TIMEOUT",
        error_message="The provider timed out",
        ms=emulated.json()["ms"],
        request_id=job["requestId"],
        rate_limit=rate(emulated),
    )
    assert_same(emulated, built)


def test_whoami_and_schema_match(http: httpx.Client, emu: Emulator) -> None:
    emulated = http.get("/api/whoami")
    user = emulated.json()["user"]
    built = responses.whoami(
        user_id=user["id"], email="dev@emulator.local", role="user", tier="business",
        rate_limit=rate(emulated),
    )  # fmt: skip
    assert_same(emulated, built)

    emulated = http.get("/api/workflows/my-thumbnail-pipeline/schema")
    fields = emulated.json()["fields"]
    built = responses.schema(
        "my-thumbnail-pipeline",
        fields=fields,
        name="My thumbnail pipeline",
        description="Generates a video thumbnail from a prompt.",
        estimated_credit_cost=5,
        rate_limit=rate(emulated),
    )
    assert_same(emulated, built)
    public = http.get("/api/workflows/playground-demo/public-schema", headers={"x-api-key": ""})
    built = responses.schema(
        "playground-demo",
        fields=public.json()["fields"],
        name="Playground demo",
        description="A public playground workflow.",
        estimated_credit_cost=1,
    )
    assert_same(public, built)


def test_workflow_definitions_match(http: httpx.Client, emu: Emulator) -> None:
    emulated = http.get("/api/workflows")
    listed = {item["slug"]: item for item in emulated.json()}
    mine = listed["my-pipeline"]
    template = listed["product-shot-template"]
    given = [
        {
            "slug": "my-pipeline", "name": "My pipeline", "tags": ["docs"],
            "description": "Turns a prompt into an image.", "estimatedCreditCost": 4,
            "createdBy": "usr_emulator", "updatedAt": mine["updatedAt"],
        },
        {
            "slug": "product-shot-template", "name": "Product shot template", "tags": ["template"],
            "description": template["description"], "estimatedCreditCost": 4, "isTemplate": True,
            "createdBy": "usr_knouds_templates", "updatedAt": template["updatedAt"],
        },
    ]  # fmt: skip
    built = responses.workflow_list(given).json()
    assert [listed["my-pipeline"], listed["product-shot-template"]] == built

    emulated = http.get("/api/workflows/my-pipeline")
    body = emulated.json()
    built_one = responses.workflow(
        "my-pipeline",
        name="My pipeline",
        description="Turns a prompt into an image.",
        tags=["docs"],
        nodes=body["nodes"],
        edges=body["edges"],
        rate_limit=rate(emulated),
    )
    assert_same(emulated, built_one)

    sent = {"name": "My flow", "nodes": [], "edges": [], "publicPlayground": True}
    created = http.post("/api/workflows", json=sent)
    built_one = responses.workflow(
        "my-flow", name="My flow", nodes=[], public_playground=True, status_code=201,
        rate_limit=rate(created),
    )  # fmt: skip
    assert_same(created, built_one)
    deleted = http.delete("/api/workflows/my-flow")
    assert_same(deleted, responses.workflow_deleted("my-flow", rate_limit=rate(deleted)))
    refused = http.put("/api/workflows/product-shot-template", json={"name": "Mine now"})
    built_one = responses.workflow_not_owned("product-shot-template", rate_limit=rate(refused))
    assert_same(refused, built_one)


# -- errors ----------------------------------------------------------------------------------------

ErrorCase = Callable[[httpx.Client, Emulator], tuple[httpx.Response, httpx.Response]]


def _with_rate(
    emulated: httpx.Response, builder: Callable[..., httpx.Response], *args: Any, **kwargs: Any
) -> tuple[httpx.Response, httpx.Response]:
    return emulated, builder(*args, rate_limit=rate(emulated), **kwargs)


ERROR_CASES: dict[str, ErrorCase] = {
    "unauthorized": lambda http, emu: (
        run(http, "gpt-image-2", {}, key="knouds_live_made_up"),
        responses.unauthorized(),
    ),
    "legacy_key_retired": lambda http, emu: (
        run(http, "gpt-image-2", {}, key=emu.create_key(legacy=True)),
        responses.legacy_key_retired(),
    ),
    "invalid_slug": lambda http, emu: _with_rate(
        run(http, "Bad_Name", {"prompt": "x"}), responses.invalid_slug
    ),
    "scope_denied": lambda http, emu: _with_rate(
        run(http, "gpt-image-2", {}, key=emu.create_key(scope="deployment")),
        responses.scope_denied,
        "admin",
        "deployment",
    ),
    "capability_denied": lambda http, emu: _with_rate(
        run(http, "gpt-image-2", {}, key=emu.create_key(capabilities={"workflow:run"})),
        responses.capability_denied,
        "model:run",
    ),
    "invalid_body": lambda http, emu: _with_rate(
        http.post("/api/models/gpt-image-2/run", content=b"[1, 2]"), responses.invalid_body
    ),
    "invalid_inputs": lambda http, emu: _with_rate(
        http.post("/api/models/gpt-image-2/run", json={"inputs": None}), responses.invalid_inputs
    ),
    "invalid_inputs_named": lambda http, emu: _with_rate(
        run(http, "gpt-image-2", {"num_images": 2}),
        responses.invalid_inputs,
        "Missing required input: prompt",
    ),
    "model_not_found": lambda http, emu: _with_rate(
        run(http, "no-such-model", {"prompt": "x"}), responses.model_not_found, "no-such-model"
    ),
    "workflow_not_found": lambda http, emu: _with_rate(
        http.post("/api/workflows/no-such-flow/run", json={"inputs": {}}),
        responses.workflow_not_found,
    ),
    "execution_not_found": lambda http, emu: _with_rate(
        http.get("/api/executions/3f0c9a52-7d1e-4b8a-9c61-2e5f8a7b4d10"),
        responses.execution_not_found,
    ),
    "model_tier_required": lambda http, emu: _with_rate(
        run(http, "studio-video", {"prompt": "x"}),
        responses.model_tier_required,
        "studio-video",
        "enterprise",
    ),
    "async_not_supported": lambda http, emu: _with_rate(
        run(http, "kling-o3-ref2v", {"prompt": "x"}, **{"async": "true"}),
        responses.async_not_supported,
        "kling-o3-ref2v",
    ),
    "grant_exhausted": lambda http, emu: _with_rate(
        run(http, "gpt-image-2", {"prompt": "x"}, key=emu.create_key(grants={"gpt-image-2": 0})),
        responses.grant_exhausted,
        "gpt-image-2",
    ),
    "insufficient_credits": lambda http, emu: _with_rate(
        run(http, "gpt-image-2", {"prompt": "x"}, key=emu.create_key(credits=3)),
        responses.insufficient_credits,
        required=4,
        balance=3,
    ),
}


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_error_matches_the_emulator(case: str, http: httpx.Client, emu: Emulator) -> None:
    emu.add_model("studio-video", "video", min_tier="enterprise")  # above the key's tier
    emulated, built = ERROR_CASES[case](http, emu)
    assert_same(emulated, built)


def test_execution_failed_matches(http: httpx.Client, emu: Emulator) -> None:
    emu.add_model("flaky", "image", fail=("PROVIDER_TIMEOUT", "The provider timed out"))
    emulated = run(http, "flaky", {"prompt": "x"})
    built = responses.execution_failed(
        "The provider timed out", provider_code="PROVIDER_TIMEOUT", rate_limit=rate(emulated)
    )
    assert_same(emulated, built)


def test_rate_limited_matches(http: httpx.Client, emu: Emulator, clock: ManualClock) -> None:
    key = emu.create_key(rate_limit=1)
    run(http, "gpt-image-2", {"prompt": "x"}, key=key)
    clock.advance(15)
    emulated = run(http, "gpt-image-2", {"prompt": "x"}, key=key)
    built = responses.rate_limited(45, limit=1, tier="business", now=clock.now)
    assert_same(emulated, built)
    assert emulated.headers["retry-after"] == "45"


def test_injected_faults_match(http: httpx.Client, emu: Emulator, clock: ManualClock) -> None:
    emu.inject(Fault.html(504))
    emulated = http.get("/api/whoami")
    built = responses.proxy_error(504)
    assert (emulated.status_code, emulated.content) == (built.status_code, built.content)
    assert emulated.headers["content-type"] == built.headers["content-type"]

    emu.inject(Fault.empty(503))
    emulated = http.get("/api/whoami")
    assert (emulated.status_code, emulated.content) == (503, responses.empty(503).content)

    emu.inject(Fault.rate_limited(retry_after=2))
    assert_same(
        http.get("/api/whoami"),
        responses.rate_limited(2, limit=1000, tier="business", now=clock.now),
    )

    emu.inject(Fault.status(418, "TEAPOT", message="Short and stout"))
    assert_same(http.get("/api/whoami"), responses.error(418, "Short and stout", "TEAPOT"))


# -- the builders on their own ---------------------------------------------------------------------


def test_key_management_errors_carry_their_context_fields() -> None:
    assert responses.invalid_scope("superuser").json()["code"] == "INVALID_SCOPE"
    assert responses.invalid_capability("model::run").json()["code"] == "INVALID_CAPABILITY"
    above = responses.capability_above_ceiling("model:run").json()
    assert (above["code"], above["attempted"]) == ("CAPABILITY_ABOVE_CEILING", "model:run")
    denied = responses.api_key_access_denied()
    assert (denied.status_code, denied.json()["code"]) == (403, "API_KEY_ACCESS_DENIED")
    assert responses.error(409, "Busy", context={"slug": "x"}).json() == {
        "error": "Busy",
        "slug": "x",
    }


def test_rate_limit_headers_from_a_tuple_or_a_rate_limit() -> None:
    expected = {
        "x-ratelimit-limit": "100",
        "x-ratelimit-remaining": "87",
        "x-ratelimit-reset": "1714512000",
    }
    for given in ((100, 87, 1714512000), knouds.RateLimit(100, 87, 1714512000.0)):
        headers = responses.whoami(rate_limit=given).headers
        assert {name: headers[name] for name in expected} == expected
    assert "x-ratelimit-limit" not in responses.whoami().headers
    assert "date" not in responses.run().headers


def test_given_headers_replace_the_builders_own() -> None:
    date = "Wed, 21 Oct 2026 07:28:00 GMT"
    response = responses.rate_limited(5, now=0, headers={"retry-after": date, "X-Trace": "t1"})
    assert response.headers.get_list("retry-after") == [date]
    assert response.headers["x-trace"] == "t1"
    assert response.headers["x-ratelimit-reset"] == "5"
    assert responses.rate_limited(5, now=0, body_details=False).json() == {
        "error": "Rate limit exceeded",
        "code": "RATE_LIMIT_EXCEEDED",
    }


def test_run_builds_its_result_from_outputs_or_takes_one_whole() -> None:
    body = responses.run(images=["https://cdn.test/a.png"], text=["a", "b"], cost=0, ms=5).json()
    assert body == {
        "success": True,
        "result": {"images": ["https://cdn.test/a.png"], "text": ["a", "b"]},
        "cost": 0,
        "ms": 5,
    }
    assert responses.run([1, 2]).json()["result"] == [1, 2]
    assert responses.run().json()["result"] == {}
    with pytest.raises(ValueError, match="either result"):
        responses.run({"x": 1}, images=["https://cdn.test/a.png"])


def test_submit_with_a_webhook_and_a_200() -> None:
    response = responses.submit(webhook_url="https://app.test/hook", status_code=200)
    body = response.json()
    assert response.status_code == 200
    assert body["webhookDelivery"] == {"configured": True, "url": "https://app.test/hook"}
    assert body["pollUrl"] == f"/api/executions/{responses.DEFAULT_EXECUTION_ID}"
    assert body["_async"] is True


def test_workflow_list_and_workflow_follow_the_contract() -> None:
    listed = responses.workflow_list(
        [
            "my-pipeline",
            {
                "slug": "shared-template",
                "isTemplate": True,
                "createdBy": "usr_other",
                "tags": ["demo"],
                "extraField": 1,
            },
        ]
    ).json()
    contract = {
        "slug",
        "name",
        "description",
        "tags",
        "updatedAt",
        "estimatedCreditCost",
        "folderId",
        "isTemplate",
        "hidden",
        "archived",
        "cover",
        "thumbnail",
        "createdBy",
    }
    assert [set(item) for item in listed] == [contract, contract | {"extraField"}]
    assert listed[0]["name"] == "My pipeline"
    assert (listed[1]["isTemplate"], listed[1]["tags"]) == (True, ["demo"])
    with pytest.raises(ValueError, match="slug"):
        responses.workflow_list([{"name": "no slug"}])

    full = responses.workflow("my-pipeline", tags=["a"]).json()
    assert set(full) == {
        "slug", "name", "description", "tags", "nodes", "edges", "viewport", "publicPlayground"
    }  # fmt: skip
    assert {n["id"] for n in full["nodes"]} == {e["source"] for e in full["edges"]} | {
        e["target"] for e in full["edges"]
    }
    for node in full["nodes"]:
        assert set(node) == {"id", "type", "position", "data"}
    for edge in full["edges"]:
        assert set(edge) == {"id", "source", "target", "sourceHandle", "targetHandle"}
    assert full["viewport"] == {"x": 0, "y": 0, "zoom": 1}
    bare = responses.workflow("empty", nodes=[], status_code=201)
    assert (bare.status_code, bare.json()["edges"]) == (201, [])


def test_importing_the_builders_leaves_the_emulator_unloaded() -> None:
    code = (
        "import sys, knouds.testing.responses as r; r.run(images=['https://cdn.test/a.png']);"
        "heavy = [m for m in ('knouds.testing._emulator', 'knouds.testing._app', "
        "'knouds.testing._server', 'http.server', 'socketserver', 'knouds._sync.client', "
        "'pydantic') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"


def test_public_names_resolve_and_are_documented() -> None:
    import knouds.testing

    for name in knouds.testing.__all__:
        assert getattr(knouds.testing, name) is not None, name
    assert sorted(responses.__all__) == responses.__all__
    for name in responses.__all__:
        value = getattr(responses, name)
        if inspect.isfunction(value):
            assert (value.__doc__ or "").strip(), name
    with pytest.raises(AttributeError):
        _ = knouds.testing.NoSuchThing  # type: ignore[attr-defined]

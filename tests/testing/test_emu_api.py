"""Runs, auth, permissions, validation order, credits and grants, schema and whoami."""

from __future__ import annotations

import httpx
import pytest

from knouds.testing import Emulator


def run(
    http: httpx.Client, name: str, inputs: object, *, key: str | None = None, **params: str
) -> httpx.Response:
    """POST a model run."""
    headers = {"x-api-key": key} if key else None
    return http.post(
        f"/api/models/{name}/run", json={"inputs": inputs}, headers=headers, params=params
    )


def test_model_run_success(http: httpx.Client, emu: Emulator) -> None:
    response = run(http, "gpt-image-2", {"prompt": "a red fox", "num_images": 3})
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["cost"] == 4
    assert isinstance(body["ms"], int)
    images = body["result"]["images"]
    assert len(images) == 3
    assert all(url.startswith(str(http.base_url).rstrip("/") + "/media/image/") for url in images)
    assert response.headers["content-type"] == "application/json"
    assert "date" in response.headers
    assert emu.run_count("gpt-image-2") == 1
    assert emu.balance(emu.api_key) == 1000 - 4


def test_runs_are_deterministic(http: httpx.Client) -> None:
    first = run(http, "gpt-image-2", {"prompt": "same"}).json()["result"]
    second = run(http, "gpt-image-2", {"prompt": "same"}).json()["result"]
    other = run(http, "gpt-image-2", {"prompt": "different"}).json()["result"]
    assert first == second
    assert first != other


@pytest.mark.parametrize(
    ("model", "field"),
    [("seedance-2-i2v", "videos"), ("suno-v5", "audios"), ("kling-o3-ref2v", "videos")],
)
def test_result_shapes(http: httpx.Client, model: str, field: str) -> None:
    body = run(http, model, {"prompt": "x"}).json()
    assert len(body["result"][field]) == 1


def test_text_model(http: httpx.Client) -> None:
    body = run(http, "gpt-5-mini", {"prompt": "hello"}).json()
    assert isinstance(body["result"]["text"], str)
    assert body["cost"] == 1


def test_workflow_run_uses_defaults(http: httpx.Client, emu: Emulator) -> None:
    response = http.post(
        "/api/workflows/my-thumbnail-pipeline/run", json={"inputs": {"prompt": "p"}}
    )
    assert response.status_code == 200
    assert response.json()["result"]["images"]
    assert emu.run_count("my-thumbnail-pipeline") == 1
    bad = http.post(
        "/api/workflows/my-thumbnail-pipeline/run",
        json={"inputs": {"prompt": "p", "style": "oil"}},
    )
    assert bad.status_code == 400
    assert bad.json()["code"] == "INVALID_INPUTS"
    assert "style" in bad.json()["error"]


def test_workflow_not_found_has_message_only(http: httpx.Client) -> None:
    response = http.post("/api/workflows/nope/run", json={"inputs": {}})
    assert response.status_code == 404
    assert response.json() == {"error": "Workflow not found"}


@pytest.mark.parametrize("header", [None, "knouds_live_unknown"])
def test_missing_or_unknown_key(http: httpx.Client, header: str | None) -> None:
    headers = {"x-api-key": header} if header else {}
    client_headers = dict(http.headers)
    client_headers.pop("x-api-key")
    http.headers = httpx.Headers({**client_headers, **headers})
    response = http.get("/api/whoami")
    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized"}
    assert "x-ratelimit-limit" not in response.headers


def test_revoked_and_legacy_keys(http: httpx.Client, emu: Emulator) -> None:
    revoked = emu.create_key()
    emu.revoke_key(revoked)
    assert http.get("/api/whoami", headers={"x-api-key": revoked}).json() == {
        "error": "Unauthorized"
    }
    legacy = emu.create_key(legacy=True)
    response = http.get("/api/whoami", headers={"x-api-key": legacy})
    assert response.status_code == 401
    assert response.json()["code"] == "LEGACY_KEY_RETIRED"


def test_scope_keys(http: httpx.Client, emu: Emulator) -> None:
    deployment = emu.create_key(scope="deployment")
    denied = run(http, "gpt-image-2", {"prompt": "x"}, key=deployment)
    assert denied.status_code == 403
    assert denied.json()["code"] == "SCOPE_DENIED"
    assert denied.json()["required"] == "admin"
    assert denied.json()["actual"] == "deployment"
    flow = http.post(
        "/api/workflows/playground-demo/run",
        json={"inputs": {"prompt": "x"}},
        headers={"x-api-key": emu.create_key(scope="free")},
    )
    assert flow.status_code == 200
    admin = emu.create_key(scope="admin")
    assert run(http, "gpt-image-2", {"prompt": "x"}, key=admin).status_code == 200
    # A scope is not a role: the admin role belongs to the account.
    assert http.get("/api/whoami", headers={"x-api-key": admin}).json()["user"]["role"] == "user"
    role_admin = emu.create_key(scope="deployment", role="admin")
    assert http.get("/api/whoami", headers={"x-api-key": role_admin}).json()["user"]["role"] == (
        "admin"
    )


def test_capability_keys(http: httpx.Client, emu: Emulator) -> None:
    reader = emu.create_key(capabilities={"workflow:read"})
    denied = run(http, "gpt-image-2", {"prompt": "x"}, key=reader)
    assert denied.status_code == 403
    assert denied.json()["code"] == "CAPABILITY_DENIED"
    assert denied.json()["required"] == "model:run"
    schema = http.get("/api/workflows/my-thumbnail-pipeline/schema", headers={"x-api-key": reader})
    assert schema.status_code == 200
    one_model = emu.create_key(capabilities={"model:suno-v5:run"})
    assert run(http, "suno-v5", {"prompt": "x"}, key=one_model).status_code == 200
    assert run(http, "gpt-image-2", {"prompt": "x"}, key=one_model).status_code == 403
    one_flow = emu.create_key(capabilities={"workflow:playground-demo:run"})
    ok = http.post(
        "/api/workflows/playground-demo/run",
        json={"inputs": {"prompt": "x"}},
        headers={"x-api-key": one_flow},
    )
    assert ok.status_code == 200
    no_schema = http.get("/api/workflows/playground-demo/schema", headers={"x-api-key": one_flow})
    assert no_schema.json()["required"] == "workflow:read"
    whoami = http.get("/api/whoami", headers={"x-api-key": one_flow}).json()["user"]
    assert whoami["role"] == "user"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"not json", "INVALID_BODY"),
        (b"", "INVALID_BODY"),
        (b"[1, 2]", "INVALID_BODY"),
        (b"{}", "INVALID_INPUTS"),
        (b'{"inputs": null}', "INVALID_INPUTS"),
        (b'{"inputs": [1]}', "INVALID_INPUTS"),
        (b'{"inputs": {}}', "INVALID_INPUTS"),
        (b'{"inputs": {"prompt": 3}}', "INVALID_INPUTS"),
        (b'{"inputs": {"prompt": "x", "num_images": "2"}}', "INVALID_INPUTS"),
    ],
)
def test_body_validation(http: httpx.Client, emu: Emulator, body: bytes, code: str) -> None:
    response = http.post(
        "/api/models/gpt-image-2/run", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert emu.run_count() == 0


def test_missing_input_is_named(http: httpx.Client) -> None:
    response = run(http, "gpt-image-2", {"size": "big"})
    assert "prompt" in response.json()["error"]


@pytest.mark.parametrize("name", ["Bad_Slug", "a--b", "-a", "UPPER"])
def test_invalid_slug(http: httpx.Client, name: str) -> None:
    response = run(http, name, {"prompt": "x"})
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_SLUG"
    assert "x-ratelimit-limit" in response.headers


def test_model_not_found(http: httpx.Client) -> None:
    response = run(http, "no-such-model", {"prompt": "x"})
    assert response.status_code == 404
    assert response.json()["code"] == "MODEL_NOT_FOUND"


def test_validation_order(http: httpx.Client, emu: Emulator) -> None:
    denied_key = emu.create_key(capabilities={"workflow:read"})
    # slug before permission, permission before body
    assert run(http, "BAD", None, key=denied_key).json()["code"] == "INVALID_SLUG"
    response = http.post("/api/models/nope/run", content=b"x", headers={"x-api-key": denied_key})
    assert response.json()["code"] == "CAPABILITY_DENIED"
    # body before model lookup
    assert http.post("/api/models/nope/run", content=b"x").json()["code"] == "INVALID_BODY"


def test_tier_async_and_credits(http: httpx.Client, emu: Emulator) -> None:
    # Seedance 2.0 is in Business (the plans page): the default business key runs it.
    assert run(http, "seedance-2-0-full-access", {"prompt": "x"}).status_code == 200
    emu.add_model("studio-model", "video", min_tier="enterprise")
    tier = run(http, "studio-model", {"prompt": "x"})
    assert tier.status_code == 403
    assert tier.json()["code"] == "MODEL_TIER_REQUIRED"
    enterprise = emu.create_key(tier="enterprise")
    assert run(http, "studio-model", {"prompt": "x"}, key=enterprise).status_code == 200
    admin = emu.create_key(tier="pro", role="admin")
    assert run(http, "studio-model", {"prompt": "x"}, key=admin).status_code == 200
    no_async = run(http, "kling-o3-ref2v", {"prompt": "x"}, **{"async": "true"})
    assert no_async.status_code == 400
    assert no_async.json()["code"] == "ASYNC_NOT_SUPPORTED"
    poor = emu.create_key(credits=5)
    assert run(http, "gpt-image-2", {"prompt": "x"}, key=poor).json()["cost"] == 4
    broke = run(http, "gpt-image-2", {"prompt": "x"}, key=poor)
    assert broke.status_code == 402
    assert broke.json()["code"] == "INSUFFICIENT_CREDITS"
    assert emu.balance(poor) == 1


def test_grants(http: httpx.Client, emu: Emulator) -> None:
    key = emu.create_key(grants={"gpt-image-2": 2}, credits=0)
    for _ in range(2):
        response = run(http, "gpt-image-2", {"prompt": "x"}, key=key)
        assert response.status_code == 200
        assert response.json()["cost"] == 0
    exhausted = run(http, "gpt-image-2", {"prompt": "x"}, key=key)
    assert exhausted.status_code == 402
    assert exhausted.json()["code"] == "grant_exhausted"
    assert run(http, "suno-v5", {"prompt": "x"}, key=key).json()["code"] == "INSUFFICIENT_CREDITS"


def test_failing_model_is_not_charged(http: httpx.Client, emu: Emulator) -> None:
    emu.add_model("broken-model", "image", cost=3, fail=("PROVIDER_DOWN", "upstream said no"))
    response = run(http, "broken-model", {"prompt": "x"})
    assert response.status_code == 500
    assert response.json()["code"] == "EXECUTION_FAILED"
    assert response.json()["error"] == "upstream said no"
    assert emu.balance(emu.api_key) == 1000
    assert emu.run_count("broken-model") == 1


def test_custom_model_required_inputs(http: httpx.Client, emu: Emulator) -> None:
    emu.add_model("my-upscaler", "image", required_inputs=("image_url",))
    assert run(http, "my-upscaler", {"prompt": "x"}).status_code == 400
    assert run(http, "my-upscaler", {"image_url": "https://x/y.png"}).status_code == 200


def test_schema_and_public_schema(http: httpx.Client, emu: Emulator) -> None:
    schema = http.get("/api/workflows/my-thumbnail-pipeline/schema").json()
    names = [f["name"] for f in schema["fields"]]
    assert names == [
        "prompt",
        "style",
        "aspect_ratio",
        "negative_prompt",
        "num_images",
        "creativity",
        "add_title",
        "reference_image",
    ]
    assert schema["values"]["style"] == "photo"
    assert {"name", "description", "estimatedCreditCost"} <= schema.keys()
    assert http.get("/api/workflows/nope/schema").json() == {"error": "Workflow not found"}
    anonymous = {"x-api-key": ""}
    public = http.get("/api/workflows/playground-demo/public-schema", headers=anonymous)
    assert public.status_code == 200
    assert public.json()["fields"][0]["name"] == "prompt"
    private = http.get("/api/workflows/my-thumbnail-pipeline/public-schema", headers=anonymous)
    assert private.status_code == 404
    emu.add_workflow("open-flow", public=True, fields=[{"name": "n", "type": "number"}])
    assert http.get("/api/workflows/open-flow/public-schema").json()["fields"][0]["name"] == "n"


def test_whoami(http: httpx.Client, emu: Emulator) -> None:
    key = emu.create_key(scope="free", tier="pro", email="a@b.c")
    user = http.get("/api/whoami", headers={"x-api-key": key}).json()["user"]
    assert user == {
        "id": "usr_emulator",
        "email": "a@b.c",
        "role": "user",
        "tier": "pro",
        "approved": True,
    }


def test_unknown_route_and_method(http: httpx.Client) -> None:
    assert http.get("/api/nothing").json() == {"error": "Not found"}
    assert http.get("/api/nothing").status_code == 404
    assert http.get("/api/models/gpt-image-2/run").status_code == 405


def test_log_records_requests(http: httpx.Client, emu: Emulator) -> None:
    run(http, "gpt-image-2", {"prompt": "x"}, key=emu.api_key)
    http.get("/api/whoami")
    first, second = emu.log
    assert first.method == "POST"
    assert first.path == "/api/models/gpt-image-2/run"
    assert first.status == 200
    assert first.run == "gpt-image-2"
    assert first.body == {"inputs": {"prompt": "x"}}
    assert first.key_id == emu.key_id(emu.api_key)
    assert emu.api_key not in repr(emu.log)
    assert second.run is None
    assert second.at == emu.now()


def test_create_key_rejects_bad_arguments(emu: Emulator) -> None:
    with pytest.raises(ValueError, match="either"):
        emu.create_key(scope="admin", capabilities={"*"})
    with pytest.raises(ValueError, match="scope"):
        emu.create_key(scope="root")
    with pytest.raises(ValueError, match="kind"):
        emu.add_model("m", "hologram")

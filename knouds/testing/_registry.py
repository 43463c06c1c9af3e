"""Models and workflows the emulator knows, input validation, and deterministic results."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from knouds.testing._bodies import media_result
from knouds.testing._workflows import WorkflowSpec

KINDS = ("image", "video", "audio", "text")
"""Kinds of output a model or workflow produces."""

CANVAS_MODELS = frozenset(
    {"nano-banana-2", "seedream-v5", "kling-v3-i2v", "kling-v3-motion", "claude-sonnet"}
)
"""Built-in canvas models (Fal- and Anthropic-backed). The newer docs list them as runnable model
names without async support; the older docs say the model endpoint answers them with
``404 MODEL_NOT_FOUND`` (the emulator's ``older_docs`` mode)."""


@dataclass(frozen=True)
class ModelSpec:
    """A registry model.

    Attributes:
        name: The model's ``internalName``.
        kind: ``image``, ``video``, ``audio`` or ``text``.
        cost: Credits charged per successful run.
        async_supported: Whether ``?async=true`` is accepted.
        min_tier: The lowest plan tier allowed to run it, or ``None``.
        fail: ``(code, message)`` to make every run fail, or ``None``.
        required_inputs: Input names that must be present as strings.
    """

    name: str
    kind: str
    cost: int = 1
    async_supported: bool = True
    min_tier: str | None = None
    fail: tuple[str, str] | None = None
    required_inputs: tuple[str, ...] = ("prompt",)


def default_models() -> list[ModelSpec]:
    """Return the models every new emulator starts with."""
    return [
        ModelSpec("gpt-image-2", "image", cost=4),
        ModelSpec("seedance-2-i2v", "video", cost=20),
        ModelSpec("seedance-2-0-full-access", "video", cost=30, min_tier="business"),
        ModelSpec("kling-o3-ref2v", "video", cost=15, async_supported=False),
        ModelSpec("suno-v5", "audio", cost=10),
        ModelSpec("gpt-5-mini", "text", cost=1, async_supported=False),
        # Canvas models, Fal- or Anthropic-backed: sync only.
        ModelSpec("nano-banana-2", "image", cost=2, async_supported=False),
        ModelSpec("seedream-v5", "image", cost=3, async_supported=False),
        ModelSpec("kling-v3-i2v", "video", cost=15, async_supported=False),
        ModelSpec("kling-v3-motion", "video", cost=15, async_supported=False),
        ModelSpec("claude-sonnet", "text", cost=1, async_supported=False),
    ]


_STRING_TYPES = frozenset(
    {"text", "textarea", "string", "upload", "image", "video", "audio", "file"}
)
_NUMBER_TYPES = frozenset({"number", "slider", "integer"})
_TOGGLE_TYPES = frozenset({"boolean", "toggle"})


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _value_problem(spec: Mapping[str, object], value: object) -> str | None:
    """What the server would say is wrong with one workflow input, or ``None``.

    The emulator's own field types, in any case: ``text``/``textarea`` and the upload types
    (``upload``, ``image``, ...) take strings, ``number``/``slider``/``integer`` numbers
    (within ``min``/``max``), ``boolean``/``toggle`` true or false; a field with ``options``
    (``select``, ``pills``) one of them. Other types take anything.
    """
    options = spec.get("options")
    if isinstance(options, list) and options:
        allowed = [o.get("value") if isinstance(o, dict) else o for o in options]
        items = value if isinstance(value, list) else [value]
        for item in items:
            if not any(type(item) is type(o) and item == o for o in allowed) and not (
                _is_number(item) and any(_is_number(o) and item == o for o in allowed)
            ):
                return f"expected one of {', '.join(json.dumps(o) for o in allowed)}"
        return None
    field_type = str(spec.get("type", "text")).lower()
    if field_type in _STRING_TYPES and not isinstance(value, str):
        return "expected a string"
    if field_type in _TOGGLE_TYPES and not isinstance(value, bool):
        return "expected true or false"
    if field_type in _NUMBER_TYPES and not _is_number(value):
        return "expected a number"
    if field_type == "integer" and isinstance(value, float) and not value.is_integer():
        return "expected a whole number"
    if _is_number(value):
        low, high = spec.get("min"), spec.get("max")
        if _is_number(low) and value < low:  # type: ignore[operator]
            return f"must be at least {low}"
        if _is_number(high) and value > high:  # type: ignore[operator]
            return f"must be at most {high}"
    return None


def validate_model_inputs(spec: ModelSpec, inputs: Mapping[str, object]) -> str | None:
    """Check a model's inputs.

    Returns:
        An error message naming the first bad input, or ``None`` when valid.
    """
    for name in spec.required_inputs:
        if name not in inputs or inputs[name] is None:
            return f"Missing required input: {name}"
        if not isinstance(inputs[name], str):
            return f"Invalid input {name}: expected a string"
    count = inputs.get("num_images")
    if count is not None and (
        not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 10
    ):
        return "Invalid input num_images: expected an integer from 1 to 10"
    return None


def resolve_workflow_inputs(
    spec: WorkflowSpec, inputs: Mapping[str, object]
) -> tuple[dict[str, object], str | None]:
    """Check a workflow's inputs and fill omitted ones from the schema defaults.

    Returns:
        The merged inputs, and an error message naming the first bad input (or ``None``).
    """
    merged = dict(inputs)
    for f in spec.fields:
        name = str(f["name"])
        value = merged.get(name)
        if value is None:
            if "default" in f and f["default"] is not None:
                merged[name] = f["default"]
                continue
            if f.get("required"):
                return merged, f"Missing required input: {name}"
            continue
        problem = _value_problem(f, value)
        if problem is not None:
            return merged, f"Invalid input {name}: {problem}"
    return merged, None


def digest(name: str, inputs: Mapping[str, object]) -> str:
    """Hash a run's identity: the same model or workflow and inputs give the same digest."""
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{name}\n{canonical}".encode()).hexdigest()


def media_stem(run_digest: str) -> str:
    """The start of the names of a run's media files (``{stem}-0.png``, ``{stem}-1.png``...)."""
    return run_digest[:20]


def build_result(
    kind: str, run_digest: str, inputs: Mapping[str, object], base_url: str
) -> dict[str, object]:
    """Build a run's ``result`` with absolute media URLs served by the emulator itself."""
    stem = media_stem(run_digest)
    if kind == "image":
        count = inputs.get("num_images", 1)
        total = count if isinstance(count, int) and not isinstance(count, bool) else 1
        return media_result(images=[f"{base_url}/media/image/{stem}-{i}.png" for i in range(total)])
    if kind == "video":
        return media_result(videos=[f"{base_url}/media/video/{stem}.mp4"])
    if kind == "audio":
        return media_result(audios=[f"{base_url}/media/audio/{stem}.wav"])
    prompt = inputs.get("prompt")
    about = prompt if isinstance(prompt, str) else "your request"
    return media_result(text=f"Emulated answer {stem[:8]} to: {about}")

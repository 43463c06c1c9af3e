"""Inputs checked against a workflow's schema before sending: the rules, read tolerantly.

The schema endpoint guarantees only each field's ``name``. Where a field also has ``type``,
``options``, ``min``, ``max``, ``default`` or ``required``, they are read here, whatever their
case and however the type is spelt (``"Slider"``, ``"number"``, ``"Image Upload"``); a type name
not recognised means "no type check", and a field described only by its name is checked by name
only. No I/O: the shells fetch and cache the schema, these functions decide.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeGuard

from .._exceptions import InvalidInputsError
from .requests import short

__all__ = [
    "FieldRule",
    "InputRules",
    "Kind",
    "check_inputs",
    "did_you_mean",
    "input_error",
    "kind_of",
    "missing_input_hint",
    "problems",
    "read_field",
    "read_rules",
]

Kind = Literal["text", "upload", "number", "integer", "toggle", "choice"]
"""What a field's ``type`` says about its values (``None`` when it says nothing we know)."""

# Type names as the schema may spell them, lowercased with everything but letters and digits
# removed ("Image Upload" -> "imageupload").
_KIND_NAMES: dict[str, Kind] = {
    **dict.fromkeys(
        ("text", "textarea", "string", "str", "prompt", "longtext", "shorttext", "multiline"),
        "text",
    ),
    **dict.fromkeys(("richtext", "markdown", "email", "password", "textbox"), "text"),
    **dict.fromkeys(("upload", "file", "image", "video", "audio", "media", "url", "uri"), "upload"),
    **dict.fromkeys(("number", "float", "double", "decimal", "numeric"), "number"),
    **dict.fromkeys(("slider", "range"), "number"),
    **dict.fromkeys(("integer", "int", "long", "whole", "stepper"), "integer"),
    **dict.fromkeys(("toggle", "boolean", "bool", "checkbox", "switch", "flag"), "toggle"),
    **dict.fromkeys(
        ("pills", "pill", "select", "dropdown", "radio", "choice", "choices", "enum", "options"),
        "choice",
    ),
    **dict.fromkeys(("segmented", "segmentedcontrol", "buttons", "chips", "tabs"), "choice"),
}
_SUFFIXES = ("input", "field", "upload", "url")
_TRUE = {"true", "yes", "1", "required"}
_MISSING_INPUT = re.compile(r"missing\s+(?:required\s+)?(?:input|field)\W*([A-Za-z0-9_.:-]+)", re.I)


def kind_of(type_name: object) -> Kind | None:
    """The kind of values a ``type`` string stands for, or ``None`` when it is not one we know."""
    if not isinstance(type_name, str):
        return None
    key = re.sub(r"[^a-z0-9]", "", type_name.lower())
    if key in _KIND_NAMES:
        return _KIND_NAMES[key]
    if "upload" in key:
        return "upload"
    for suffix in _SUFFIXES:  # "numberInput", "textField", "imageUrl"
        if key.endswith(suffix) and key[: -len(suffix)] in _KIND_NAMES:
            return "upload" if suffix in ("upload", "url") else _KIND_NAMES[key[: -len(suffix)]]
    return None


@dataclass(frozen=True)
class FieldRule:
    """One input field as the checks and the type generator read it.

    Attributes:
        name: the input name.
        type_name: the ``type`` as the schema spells it, or ``None``.
        kind: what that type says about values (``None``: no type check).
        options: the allowed values, or ``None`` when the schema lists none (or lists them in a
            shape not understood).
        minimum, maximum: the allowed range of a number, where given.
        step: a slider's step, where given (shown, not checked).
        default: the default value (``None`` when there is none).
        required: whether the schema marks it required.
        label, description: text for people, where given.
    """

    name: str
    type_name: str | None = None
    kind: Kind | None = None
    options: tuple[object, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    default: object = None
    required: bool = False
    label: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class InputRules:
    """A workflow's fields, and the saved values that fill omitted inputs."""

    fields: tuple[FieldRule, ...] = ()
    saved: Mapping[str, object] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        """The field names, in schema order."""
        return [rule.name for rule in self.fields]


def _lowered(raw: Mapping[str, object]) -> dict[str, object]:
    """The field's keys in lower case (the first spelling of a key wins)."""
    out: dict[str, object] = {}
    for key, value in raw.items():
        if isinstance(key, str):
            out.setdefault(key.lower(), value)
    return out


def _first(data: Mapping[str, object], *keys: str) -> object:
    for key in keys:
        value = data.get(key)
        if value is not None:
            return value
    return None


def _number(value: object) -> float | None:
    """A finite number from a number or a numeric string; ``None`` for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return value
    return None


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _options(value: object) -> tuple[object, ...] | None:
    """The option values: scalars, or objects with a ``value`` (or ``id``, ``name``, ``label``).
    ``None`` when there are none or one of them is not understood (then nothing is checked)."""
    if not isinstance(value, (list, tuple)) or not value:
        return None
    found: list[object] = []
    for item in value:
        if isinstance(item, Mapping):
            item = _first(_lowered(item), "value", "id", "name", "label")
        if not isinstance(item, (str, int, float, bool)):
            return None
        if not any(_same(item, seen) for seen in found):
            found.append(item)
    return tuple(found)


def read_field(raw: object) -> FieldRule | None:
    """A schema field as a `FieldRule`; ``None`` when it has no usable ``name``."""
    if not isinstance(raw, Mapping):
        return None
    data = _lowered(raw)
    name = data.get("name")
    if not isinstance(name, str) or not name:
        return None
    type_name = _first(data, "type", "kind", "fieldtype", "inputtype")
    required = data.get("required")
    if isinstance(required, str):
        required = required.strip().lower() in _TRUE
    return FieldRule(
        name=name,
        type_name=type_name if isinstance(type_name, str) else None,
        kind=kind_of(type_name),
        options=_options(_first(data, "options", "choices", "enum")),
        minimum=_number(_first(data, "min", "minimum")),
        maximum=_number(_first(data, "max", "maximum")),
        step=_number(data.get("step")),
        default=_first(data, "default", "defaultvalue", "default_value"),
        required=required is True or (isinstance(required, int) and required == 1),
        label=_text(_first(data, "label", "title")),
        description=_text(_first(data, "description", "help", "helptext")),
    )


def read_rules(fields: Iterable[object], saved: Mapping[str, object] | None = None) -> InputRules:
    """The rules of a schema's ``fields`` (unreadable fields left out, a repeated name kept once)
    and its saved ``values``."""
    rules: list[FieldRule] = []
    seen: set[str] = set()
    for raw in fields:
        rule = read_field(raw)
        if rule is not None and rule.name not in seen:
            seen.add(rule.name)
            rules.append(rule)
    return InputRules(tuple(rules), dict(saved or {}))


# -- the checks ------------------------------------------------------------------------------------


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``name`` when one is close enough (difflib), else ``None``."""
    names = [c for c in candidates if isinstance(c, str)]
    by_case = {c.lower(): c for c in names}
    if name.lower() in by_case:
        return by_case[name.lower()]
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    return close[0] if close else None


def _same(a: object, b: object) -> bool:
    """Equal as JSON sees it: ``True`` is not ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _show(value: float | None) -> str:
    return f"{value:g}"


def _listing(values: Sequence[object]) -> str:
    return ", ".join(short(v) for v in values)


def _value_problem(rule: FieldRule, value: object) -> str | None:
    """What is wrong with one value, or ``None``."""
    if rule.options is not None:
        items = value if isinstance(value, list) else [value]  # a multi-choice field takes a list
        for item in items:
            if not any(_same(item, option) for option in rule.options):
                text = f"must be one of {_listing(rule.options)}; got {short(item)}"
                strings = [o for o in rule.options if isinstance(o, str)]
                close = did_you_mean(item, strings) if isinstance(item, str) else None
                return f"{text} (did you mean {close!r}?)" if close else text
        return None
    kind = rule.kind
    if kind in ("text", "upload") and not isinstance(value, str):
        what = "an HTTPS URL (a string)" if kind == "upload" else "a string"
        return f"must be {what}; got {short(value)} ({type(value).__name__})"
    if kind == "toggle" and not isinstance(value, bool):
        return f"must be true or false; got {short(value)} ({type(value).__name__})"
    if kind in ("number", "integer") and not _is_number(value):
        return f"must be a number; got {short(value)} ({type(value).__name__})"
    if kind == "integer" and isinstance(value, float) and not value.is_integer():
        return f"must be a whole number; got {short(value)}"
    if _is_number(value):
        low, high = rule.minimum, rule.maximum
        below = low is not None and value < low
        above = high is not None and value > high
        if below or above:
            if low is not None and high is not None:
                bounds = f"from {_show(low)} to {_show(high)}"
            else:
                bounds = f"at least {_show(low)}" if low is not None else f"at most {_show(high)}"
            return f"must be {bounds}; got {short(value)}"
    return None


def problems(inputs: Mapping[str, object], rules: InputRules) -> list[str]:
    """Every mistake in ``inputs`` the rules can see, as phrases (empty when none)."""
    names = rules.names
    found: list[str] = []
    unknown = [name for name in inputs if name not in names]
    if unknown:
        shown = []
        for name in unknown:
            close = did_you_mean(name, names) if isinstance(name, str) else None
            shown.append(f"{name!r} (did you mean {close!r}?)" if close else repr(name))
        field_word = "field" if len(unknown) == 1 else "fields"
        listing = ", ".join(repr(name) for name in names) or "none"
        found.append(f"no input {field_word} {', '.join(shown)}; its fields are: {listing}")
    for rule in rules.fields:
        value = inputs.get(rule.name)
        if value is None:
            # Left out: the server fills it from the saved values or the default. A required
            # field without either is left for the server to refuse: what "required" means
            # to it is not documented.
            continue
        problem = _value_problem(rule, value)
        if problem is not None:
            found.append(f"input {rule.name!r} {problem}")
    return found


def input_error(
    slug: str, inputs: Mapping[str, object], rules: InputRules, index: int | None = None
) -> InvalidInputsError | None:
    """The `InvalidInputsError` the check raises for ``inputs`` (``index``: its place in a
    batch), or ``None`` when the rules see nothing wrong."""
    found = problems(inputs, rules)
    if not found:
        return None
    where = f"Workflow {slug!r}" if index is None else f"Workflow {slug!r}, inputs_list[{index}]"
    return InvalidInputsError(f"{where}: {'; '.join(found)}", code="INVALID_INPUTS")


def check_inputs(slug: str, inputs: Mapping[str, object], rules: InputRules) -> None:
    """Refuse ``inputs`` the rules see a mistake in.

    Raises:
        InvalidInputsError: naming each bad field (``status_code`` is ``None``).
    """
    error = input_error(slug, inputs, rules)
    if error is not None:
        raise error


def missing_input_hint(message: str, inputs: Mapping[str, object]) -> str | None:
    """For a server message naming a missing input (``"Missing required input: prompt"``), a
    question naming the given inputs that look like it (``"did you mean 'prompt' instead of
    'prmpt'?"``); ``None`` when there is none."""
    match = _MISSING_INPUT.search(message)
    if match is None:
        return None
    wanted = match.group(1).strip(".:'\"")
    lookalikes = [name for name in inputs if name != wanted and did_you_mean(name, [wanted])]
    if not lookalikes:
        return None
    names = " or ".join(repr(name) for name in lookalikes)
    return f"did you mean {wanted!r} instead of {names}?"

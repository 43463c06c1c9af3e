"""``knouds types``: a Python module of ``TypedDict`` classes, one per workflow, written from the
workflows' input schemas (as read by `knouds._core.inputs`).

Deterministic: the same schemas and command give the same bytes (no timestamp; workflows in
slug order, fields in schema order). Everything taken from the server (slugs, names, labels,
descriptions, options) is written as escaped string literals or escaped docstring text, so a
schema cannot put code in the module.
"""

from __future__ import annotations

import json
import keyword
import math
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from .inputs import FieldRule, InputRules

__all__ = ["WorkflowInputs", "class_name", "render_module"]

_WIDTH = 88
# Names a class body cannot use for a field without shadowing what its annotations need.
_RESERVED = frozenset({"Literal", "TypedDict"})


@dataclass(frozen=True)
class WorkflowInputs:
    """One workflow to write a ``TypedDict`` for.

    Attributes:
        slug: the workflow's slug.
        rules: its input fields.
        name: its display name, when it has one.
        description: its description, when it has one.
    """

    slug: str
    rules: InputRules
    name: str | None = None
    description: str | None = None


def class_name(slug: str) -> str:
    """``my-thumbnail-pipeline`` -> ``MyThumbnailPipelineInputs``."""
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", slug) if p]
    base = "".join(p[:1].upper() + p[1:] for p in parts) or "Workflow"
    if not base[0].isalpha():
        base = "Workflow" + base
    return base + "Inputs"


def _py_str(text: str) -> str:
    """A Python string literal for ``text``, double-quoted where that needs no escape."""
    literal = repr(text)
    if literal.startswith("'") and '"' not in text:
        literal = '"' + literal[1:-1].replace("\\'", "'") + '"'
    return literal


def _py_value(value: object) -> str:
    """A value from the schema as Python source, for docstrings."""
    if isinstance(value, str):
        return _py_str(value)
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else "nan"
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _number(value: float) -> str:
    return f"{value:g}"


def _literal_member(option: object) -> str | None:
    """``option`` as a ``Literal`` member, or ``None`` when ``Literal`` cannot hold it."""
    if isinstance(option, str):
        return _py_str(option)
    if isinstance(option, (bool, int)):
        return repr(option)
    return None


def annotation(rule: FieldRule) -> str:
    """The type of a field's value, as source: ``Literal[...]`` for options, else what its type
    says (``str``, ``float``, ``int``, ``bool``), else ``object``."""
    if rule.options is not None:
        members = [_literal_member(option) for option in rule.options]
        if all(member is not None for member in members):
            return f"Literal[{', '.join(m for m in members if m is not None)}]"
        if all(isinstance(o, (int, float)) and not isinstance(o, bool) for o in rule.options):
            return "float"
        return "object"
    return {
        "text": "str",
        "upload": "str",
        "number": "float",
        "integer": "int",
        "toggle": "bool",
    }.get(rule.kind or "", "object")


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if text.endswith((".", "!", "?")) else text + "."


def field_notes(rule: FieldRule, saved: object = None) -> list[str]:
    """What a field's docstring says: label, description, type, range, default."""
    notes: list[str] = []
    if rule.label:
        notes.append(_sentence(rule.label))
    if rule.description:
        notes.append(_sentence(rule.description))
    if rule.type_name:
        notes.append(f"Type: {' '.join(rule.type_name.split())}.")
    if rule.kind == "upload":
        notes.append("An HTTPS URL.")
    low, high = rule.minimum, rule.maximum
    if low is not None and high is not None:
        notes.append(f"From {_number(low)} to {_number(high)}.")
    elif low is not None:
        notes.append(f"At least {_number(low)}.")
    elif high is not None:
        notes.append(f"At most {_number(high)}.")
    if rule.step is not None:
        notes.append(f"Step: {_number(rule.step)}.")
    if rule.options is not None and annotation(rule).startswith(("float", "object")):
        notes.append(f"One of: {', '.join(_py_value(o) for o in rule.options)}.")
    if rule.default is not None:
        notes.append(f"Default: {_py_value(rule.default)}.")
    elif saved is not None:
        notes.append(f"Saved value: {_py_value(saved)}.")
    if rule.required:
        notes.append("Required.")
    return notes


def _escape(text: str) -> str:
    """Text that can sit inside a triple-quoted docstring, but for its end: no control
    characters, backslashes and triple quotes escaped."""
    text = "".join(ch if ch.isprintable() or ch == "\n" else " " for ch in text)
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


def _doc_safe(text: str) -> str:
    """Text that can end a triple-quoted docstring too (a last quote is escaped)."""
    text = _escape(text)
    return text[:-1] + '\\"' if text.endswith('"') else text


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)


def _docstring(paragraphs: Sequence[str], indent: str) -> list[str]:
    """A docstring's lines at ``indent``; the first paragraph opens it."""
    lines: list[str] = []
    for number, paragraph in enumerate(p for p in paragraphs if p.strip()):
        if number:
            lines.append("")
        wrapped = _wrap(_doc_safe(paragraph), _WIDTH - len(indent) - 3) or [""]
        lines.extend(wrapped)
    if not lines:
        return []
    if len(lines) == 1 and len(lines[0]) + len(indent) + 6 <= _WIDTH:
        return [f'{indent}"""{lines[0]}"""']
    out = [f'{indent}"""{lines[0]}']
    out.extend(f"{indent}{line}" if line else "" for line in lines[1:])
    out.append(f'{indent}"""')
    return out


def _class_syntax_fits(rules: InputRules) -> bool:
    return all(
        name.isidentifier()
        and not keyword.iskeyword(name)
        and name not in _RESERVED
        and not name.startswith("__")
        for name in rules.names
    )


def _about(workflow: WorkflowInputs) -> list[str]:
    title = f"Inputs of the workflow {_py_str(workflow.slug)}"
    if workflow.name and workflow.name != workflow.slug:
        title += f" ({' '.join(workflow.name.split())})"
    return [title + ".", workflow.description or ""]


def _typed_dict(workflow: WorkflowInputs, name: str) -> list[str]:
    rules = workflow.rules
    if _class_syntax_fits(rules):
        lines = [f"class {name}(TypedDict, total=False):"]
        lines.extend(_docstring(_about(workflow), "    "))
        for rule in rules.fields:
            lines.append("")
            lines.append(f"    {rule.name}: {annotation(rule)}")
            lines.extend(
                _docstring([" ".join(field_notes(rule, rules.saved.get(rule.name)))], "    ")
            )
        return lines
    # Names that are not identifiers ("aspect-ratio", "class"): the functional syntax, with the
    # fields described in the docstring.
    lines = [f"{name} = TypedDict(", f"    {_py_str(name)},", "    {"]
    lines.extend(f"        {_py_str(rule.name)}: {annotation(rule)}," for rule in rules.fields)
    lines.extend(["    },", "    total=False,", ")"])
    notes = [
        f"{rule.name}: {' '.join(field_notes(rule, rules.saved.get(rule.name)))}"
        for rule in rules.fields
    ]
    lines.extend(_docstring([*_about(workflow), *notes], ""))
    return lines


def render_module(workflows: Sequence[WorkflowInputs], command: str) -> str:
    """The source of a module with one ``TypedDict`` (``total=False``) per workflow and a
    ``WorkflowSlug`` ``Literal`` of their slugs.

    Args:
        workflows: the workflows (written in slug order; a slug given twice is written once).
        command: the command that wrote it, for the header (``knouds types ...``).

    Raises:
        ValueError: no workflow was given.
    """
    unique = {w.slug: w for w in reversed(workflows)}
    ordered = [unique[slug] for slug in sorted(unique)]
    if not ordered:
        raise ValueError("no workflow to write types for")
    names: dict[str, str] = {}
    taken: set[str] = set()
    for workflow in ordered:
        name, number = class_name(workflow.slug), 1
        while name in taken:
            number += 1
            name = f"{class_name(workflow.slug)}{number}"
        taken.add(name)
        names[workflow.slug] = name
    first = ordered[0]
    about = (
        f"Generated by `{command}` from the input schemas of: "
        f"{', '.join(w.slug for w in ordered)}. Do not edit by hand: run the command again "
        "when a schema changes. A type checker then catches a misspelt input name, or an "
        "option that does not exist:"
    )
    lines = ['"""Typed inputs of Knouds workflows: one TypedDict per workflow.', ""]
    lines.extend(_wrap(_escape(about), _WIDTH))
    lines.extend(
        [
            "",
            f"    inputs: {names[first.slug]} = {{...}}",
            f"    client.workflows.run({_escape(_py_str(first.slug))}, inputs)",
            '"""',
            "",
        ]
    )
    lines.extend(
        [
            "from __future__ import annotations",
            "",
            "from typing import Literal, TypedDict",
            "",
            "__all__ = [",
            *(f"    {_py_str(n)}," for n in sorted([*names.values(), "WorkflowSlug"])),
            "]",
            "",
            "WorkflowSlug = Literal[",
            *(f"    {_py_str(w.slug)}," for w in ordered),
            "]",
            '"""The slugs of the workflows this module describes."""',
        ]
    )
    for workflow in ordered:
        lines.extend(["", ""])
        lines.extend(_typed_dict(workflow, names[workflow.slug]))
    return "\n".join(lines) + "\n"

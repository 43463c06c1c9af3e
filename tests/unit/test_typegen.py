"""The TypedDict module ``knouds types`` writes (``knouds._core.typegen``), from schemas alone."""

from __future__ import annotations

import ast
import sys
import types
import typing

import pytest

from knouds._core.inputs import read_rules
from knouds._core.typegen import WorkflowInputs, class_name, render_module


def workflow(slug: str, *fields: dict[str, object], **about: str) -> WorkflowInputs:
    return WorkflowInputs(slug, read_rules(fields), about.get("name"), about.get("description"))


def hints(namespace: dict[str, typing.Any], name: str) -> dict[str, object]:
    return typing.get_type_hints(namespace[name], globalns=namespace)


def load(source: str) -> dict[str, typing.Any]:
    """Run the module as ``knouds_types`` (TypedDict resolves its annotations in its module)."""
    module = types.ModuleType("knouds_types")
    sys.modules[module.__name__] = module
    exec(compile(source, "knouds_types.py", "exec"), module.__dict__)
    return module.__dict__


@pytest.mark.parametrize(
    ("slug", "name"),
    [
        ("my-thumbnail-pipeline", "MyThumbnailPipelineInputs"),
        ("a", "AInputs"),
        ("3d-product-shots", "Workflow3dProductShotsInputs"),
        ("v2-x-ray", "V2XRayInputs"),
    ],
)
def test_class_names(slug: str, name: str) -> None:
    assert class_name(slug) == name


def test_types_follow_the_schema() -> None:
    source = render_module(
        [
            workflow(
                "thumbs",
                {"name": "prompt", "type": "Textarea", "label": "Prompt", "required": True},
                {"name": "ratio", "type": "Pills", "options": ["16:9", "1:1"], "default": "1:1"},
                {"name": "n", "type": "integer", "min": 1, "max": 4},
                {"name": "scale", "type": "Slider", "min": 0, "max": 2, "step": 0.1},
                {"name": "hdr", "type": "TOGGLE"},
                {"name": "picks", "options": [1, 2, True]},
                {"name": "gamma", "options": [0.5, 1, 2.2]},
                {"name": "ref", "type": "Image Upload"},
                {"name": "seed", "type": "dice"},
                {"name": "notes"},
            )
        ],
        "knouds types thumbs",
    )
    assert hints(load(source), "ThumbsInputs") == {
        "prompt": str,
        "ratio": typing.Literal["16:9", "1:1"],
        "n": int,
        "scale": float,
        "hdr": bool,
        "picks": typing.Literal[1, 2, True],
        "gamma": float,  # Literal cannot hold 0.5: the options go in the docstring
        "ref": str,
        "seed": object,
        "notes": object,
    }
    flat = " ".join(source.split())
    assert '"""Prompt. Type: Textarea. Required."""' in flat
    assert "From 0 to 2. Step: 0.1." in flat
    assert "One of: 0.5, 1, 2.2." in flat
    assert "An HTTPS URL." in flat
    assert load(source)["ThumbsInputs"].__total__ is False


def test_the_module_is_the_same_whatever_the_order() -> None:
    one = workflow("b-flow", {"name": "x", "type": "text"})
    two = workflow("a-flow", {"name": "y", "type": "number"})

    first = render_module([one, two], "knouds types a-flow b-flow")

    assert first == render_module([two, one, two], "knouds types a-flow b-flow")
    assert first.index("class AFlowInputs") < first.index("class BFlowInputs")
    assert load(first)["__all__"] == ["AFlowInputs", "BFlowInputs", "WorkflowSlug"]
    assert typing.get_args(load(first)["WorkflowSlug"]) == ("a-flow", "b-flow")


def test_names_that_are_not_identifiers_use_the_functional_syntax() -> None:
    source = render_module(
        [
            workflow(
                "odd",
                {"name": "aspect-ratio", "options": ["a", "b"], "label": "Aspect"},
                {"name": "class", "type": "text"},
            ),
            workflow("clash", {"name": "Literal", "type": "text"}),
        ],
        "knouds types clash odd",
    )
    namespace = load(source)

    assert hints(namespace, "OddInputs") == {
        "aspect-ratio": typing.Literal["a", "b"],
        "class": str,
    }
    assert hints(namespace, "ClashInputs") == {"Literal": str}
    assert "aspect-ratio: Aspect." in source


def test_colliding_class_names_are_numbered() -> None:
    source = render_module(
        [workflow("my-1"), workflow("my1"), workflow("my-1-")], "knouds types --all"
    )
    names = load(source)["__all__"]

    assert names == ["My1Inputs", "My1Inputs2", "My1Inputs3", "WorkflowSlug"]


HOSTILE = [
    '"""\nimport os\nos.system("echo pwned")\n"""',
    "a\\",
    'ends with a quote"',
    "\x00\x1b[31m\u2028 control \ud800",
    "'''",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_schema_text_never_becomes_code(text: str) -> None:
    source = render_module(
        [
            workflow(
                "evil",
                {"name": "x", "label": text, "description": text, "options": [text, "ok"]},
                {"name": text, "default": text, "type": text},
                name=text,
                description=text,
            )
        ],
        "knouds types evil",
    )
    source.encode("utf-8")  # no lone surrogate reaches the file

    tree = ast.parse(source)
    kinds = [type(node).__name__ for node in tree.body]
    assert kinds == [
        "Expr",  # the module docstring
        "ImportFrom",
        "ImportFrom",
        "Assign",  # __all__
        "Assign",  # WorkflowSlug
        "Expr",
        "Assign",  # the functional TypedDict: the field name is not an identifier
        "Expr",
    ]
    namespace = load(source)
    assert typing.get_args(hints(namespace, "EvilInputs")["x"]) == (text, "ok")


def test_no_workflow_is_refused() -> None:
    with pytest.raises(ValueError, match="no workflow"):
        render_module([], "knouds types --all")

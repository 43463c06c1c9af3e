"""Workflow definitions: storage, slugs, the JSON shapes of the CRUD routes, and the seeds.

A workflow is its canvas (``nodes``, ``edges``, ``viewport``) plus metadata. What the run and
schema endpoints need is read from the nodes, by this emulator's convention:

* a node of type ``requestInput`` lists the input fields in ``data.fields`` (each with ``name``
  and usually ``type``, ``required``, ``default``, ``options``);
* a node whose type ends in ``Generator`` (``imageGenerator``, ``videoGenerator``,
  ``musicGenerator``, ``textGenerator``) or is ``assistant`` is a generator: the first one decides
  the kind of output, and each costs ``data.credits`` (default 1) per run. The published
  ``estimatedCreditCost`` sums the generators' ``data.estimatedCredits`` where present, else
  their ``credits`` (so an estimate can differ from the charge). A workflow without generators
  has ``estimatedCreditCost: null`` and runs for free.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from knouds.testing._bodies import schema_body, workflow_body, workflow_summary_body
from knouds.testing._keys import DEFAULT_USER

TEMPLATE_OWNER = "usr_knouds_templates"
"""The user owning the platform templates every account can see."""

UNTITLED = "Untitled workflow"
"""The name a workflow created with a blank name gets."""

_KIND_OF_GENERATOR = {
    "imagegenerator": "image",
    "videogenerator": "video",
    "musicgenerator": "audio",
    "textgenerator": "text",
    "assistant": "text",
}
_DERIVED = ("slug", "createdBy", "updatedAt", "isTemplate", "estimatedCreditCost")


def _is_generator(node: dict[str, Any]) -> bool:
    kind = str(node.get("type", "")).lower()
    return kind in _KIND_OF_GENERATOR or kind.endswith("generator")


@dataclass
class WorkflowSpec:
    """A stored workflow: the definition the CRUD routes read and write, and what runs need.

    Attributes:
        slug: The permanent slug.
        name: Display name.
        description: Description.
        tags: Tags.
        nodes: Canvas nodes (plain JSON data).
        edges: Connections between nodes (plain JSON data).
        viewport: The saved canvas view.
        public: ``publicPlayground``: the public-schema endpoint serves it without a key.
        owner: The owning user id (``createdBy``).
        is_template: A template: listed and readable for every account.
        hidden: Hidden from the owner's dashboard list.
        archived: Archived.
        folder_id: Its folder, or ``None`` at the root.
        updated_at: Emulator time of the last change (epoch seconds).
        extra: Fields the emulator does not know, kept and sent back as they came.
    """

    slug: str
    name: str = ""
    description: str = ""
    tags: list[str] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[dict[str, Any]] = field(default_factory=list)
    viewport: dict[str, Any] = field(default_factory=lambda: {"x": 0, "y": 0, "zoom": 1})
    public: bool = False
    owner: str = DEFAULT_USER
    is_template: bool = False
    hidden: bool = False
    archived: bool = False
    folder_id: str | None = None
    updated_at: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def fields(self) -> tuple[dict[str, object], ...]:
        """The input fields of its ``requestInput`` nodes."""
        found: list[dict[str, object]] = []
        for node in self.nodes:
            data = node.get("data")
            if node.get("type") == "requestInput" and isinstance(data, dict):
                found.extend(f for f in data.get("fields") or [] if isinstance(f, dict))
        return tuple(found)

    @property
    def kind(self) -> str:
        """The kind of output: that of its first generator, ``image`` without one."""
        for node in self.nodes:
            if _is_generator(node):
                return _KIND_OF_GENERATOR.get(str(node.get("type")).lower(), "image")
        return "image"

    @property
    def cost(self) -> int | None:
        """Credits per run: the sum of its generators' ``data.credits``; ``None`` without any."""
        costs = []
        for node in self.nodes:
            if _is_generator(node):
                data = node.get("data")
                credits = data.get("credits", 1) if isinstance(data, dict) else 1
                costs.append(credits if isinstance(credits, int) else 1)
        return sum(costs) if costs else None

    @property
    def estimated_credit_cost(self) -> int | float | None:
        """The published estimate: the generators' ``data.estimatedCredits``, else ``credits``."""
        if self.cost is None:
            return None
        total: int | float = 0
        for node in self.nodes:
            if _is_generator(node):
                data = node.get("data")
                data = data if isinstance(data, dict) else {}
                estimate: object = data.get("estimatedCredits", data.get("credits", 1))
                if isinstance(estimate, (int, float)) and not isinstance(estimate, bool):
                    total += estimate
                else:
                    total += 1
        return total

    def visible_to(self, user_id: str) -> bool:
        """Whether a user may read or run it: its owner, or anyone for a template."""
        return self.owner == user_id or self.is_template

    def body(self) -> dict[str, object]:
        """The full workflow JSON of ``GET /api/workflows/{slug}``: the shape ``POST`` takes."""
        return workflow_body(
            self.slug,
            name=self.name,
            description=self.description,
            tags=self.tags,
            nodes=self.nodes,
            edges=self.edges,
            viewport=self.viewport,
            public_playground=self.public,
            extra=self.extra,
        )

    def summary(self) -> dict[str, object]:
        """One entry of ``GET /api/workflows``."""
        return workflow_summary_body(
            self.slug,
            name=self.name,
            description=self.description,
            tags=self.tags,
            updated_at=iso8601(self.updated_at),
            estimated_credit_cost=self.estimated_credit_cost,
            folder_id=self.folder_id,
            is_template=self.is_template,
            hidden=self.hidden,
            archived=self.archived,
            created_by=self.owner,
        )

    def schema(self) -> dict[str, object]:
        """The body of the schema endpoints."""
        return schema_body(
            self.slug,
            self.fields,
            name=self.name or self.slug,
            description=self.description,
            estimated_credit_cost=self.estimated_credit_cost,
        )


def iso8601(epoch: float) -> str:
    """An epoch time as ISO 8601 in UTC with milliseconds, as JavaScript prints it."""
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def slugify(name: str) -> str:
    """Lowercase letters and digits, other runs of characters turned into single hyphens."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or "untitled-workflow"


def unique_slug(name: str, taken: object) -> str:
    """The slug of ``name``, with ``-2``, ``-3``... appended while it is taken."""
    base = slugify(name)
    candidate, number = base, 1
    while candidate in taken:  # type: ignore[operator]
        number += 1
        candidate = f"{base}-{number}"
    return candidate


def check_definition(payload: object) -> tuple[dict[str, Any] | None, str | None]:
    """Check a ``POST``/``PUT`` body.

    Returns:
        The body, and ``None``; or ``None`` and a message naming what is wrong.
    """
    if not isinstance(payload, dict):
        return None, "The request body must be a JSON object."
    expected: dict[str, tuple[type, ...]] = {
        "name": (str,),
        "description": (str,),
        "tags": (list,),
        "nodes": (list,),
        "edges": (list,),
        "viewport": (dict,),
        "publicPlayground": (bool,),
    }
    for name, types in expected.items():
        if name in payload and payload[name] is not None and not isinstance(payload[name], types):
            return None, f"'{name}' has the wrong type."
    for name in ("nodes", "edges"):
        if any(not isinstance(item, dict) for item in payload.get(name) or []):
            return None, f"Every item of '{name}' must be an object."
    if any(not isinstance(tag, str) for tag in payload.get("tags") or []):
        return None, "'tags' must be an array of strings."
    return payload, None


def apply_definition(spec: WorkflowSpec, payload: dict[str, Any], now: float) -> None:
    """Set the fields a body carries (a partial update: absent fields keep their value)."""
    for name, value in payload.items():
        if name in _DERIVED or value is None:
            continue
        if name == "name":
            spec.name = value.strip() or UNTITLED
        elif name == "publicPlayground":
            spec.public = value
        elif name == "description":
            spec.description = value
        elif name in ("tags", "nodes", "edges"):
            setattr(spec, name, list(value))
        elif name == "viewport":
            spec.viewport = dict(value)
        else:
            spec.extra[name] = value
    spec.updated_at = now


def simple_workflow(
    slug: str,
    fields: list[dict[str, object]] | tuple[dict[str, object], ...],
    *,
    kind: str = "image",
    cost: int = 1,
    name: str = "",
    description: str = "",
    public: bool = False,
    owner: str = DEFAULT_USER,
    is_template: bool = False,
    tags: list[str] | None = None,
    estimate: float | None = None,
) -> WorkflowSpec:
    """A three-node workflow: request input -> one generator of ``kind`` -> response output.

    ``estimate``, when given, is published as the estimate instead of ``cost``."""
    generator = {"image": "imageGenerator", "video": "videoGenerator", "audio": "musicGenerator"}
    nodes: list[dict[str, Any]] = [
        {
            "id": "input",
            "type": "requestInput",
            "position": {"x": 0, "y": 0},
            "data": {"fields": [dict(f) for f in fields]},
        },
        {
            "id": "generate",
            "type": generator.get(kind, "textGenerator"),
            "position": {"x": 320, "y": 0},
            "data": {"credits": cost}
            if estimate is None
            else {"credits": cost, "estimatedCredits": estimate},
        },
        {"id": "output", "type": "responseOutput", "position": {"x": 640, "y": 0}, "data": {}},
    ]
    edges: list[dict[str, Any]] = [
        {"id": "e1", "source": "input", "target": "generate", "sourceHandle": "prompt",
         "targetHandle": "prompt"},
        {"id": "e2", "source": "generate", "target": "output", "sourceHandle": "result",
         "targetHandle": "result"},
    ]  # fmt: skip
    return WorkflowSpec(
        slug,
        name=name or slug,
        description=description,
        tags=list(tags or []),
        nodes=nodes,
        edges=edges,
        public=public,
        owner=owner,
        is_template=is_template,
    )


PROMPT_FIELD: dict[str, object] = {
    "name": "prompt",
    "type": "text",
    "label": "Prompt",
    "required": True,
}


# One field of every kind the editor offers (Text, Textarea, Number, Slider, Pills, Toggle, an
# upload), spelt as the editor names them: the API documents no type strings, so clients must
# read them in any case.
THUMBNAIL_FIELDS: tuple[dict[str, object], ...] = (
    {
        "name": "aspect_ratio",
        "type": "Pills",
        "label": "Aspect ratio",
        "options": ["16:9", "9:16", "1:1"],
        "default": "16:9",
    },
    {
        "name": "negative_prompt",
        "type": "Textarea",
        "label": "Negative prompt",
        "description": "What to keep out of the picture.",
    },
    {
        "name": "num_images",
        "type": "Number",
        "label": "Number of images",
        "min": 1,
        "max": 4,
        "default": 1,
    },
    {
        "name": "creativity",
        "type": "Slider",
        "label": "Creativity",
        "description": "How far the picture may stray from the prompt.",
        "min": 0,
        "max": 1,
        "step": 0.05,
        "default": 0.5,
    },
    {"name": "add_title", "type": "Toggle", "label": "Add the title", "default": False},
    {
        "name": "reference_image",
        "type": "Upload",
        "label": "Reference image",
        "description": "An HTTPS URL of an image whose look to follow.",
    },
)
"""The fields ``my-thumbnail-pipeline`` has besides ``prompt`` and ``style``."""


def default_workflows() -> list[WorkflowSpec]:
    """The workflows every new emulator starts with, those of the documentation's examples."""
    style: dict[str, object] = {
        "name": "style",
        "type": "select",
        "label": "Style",
        "required": False,
        "options": ["photo", "illustration", "3d"],
        "default": "photo",
    }
    return [
        simple_workflow(
            "my-pipeline",
            (PROMPT_FIELD,),
            kind="image",
            cost=4,
            name="My pipeline",
            description="Turns a prompt into an image.",
            tags=["docs"],
        ),
        simple_workflow(
            "my-thumbnail-pipeline",
            (PROMPT_FIELD, style, *THUMBNAIL_FIELDS),
            kind="image",
            cost=5,
            name="My thumbnail pipeline",
            description="Generates a video thumbnail from a prompt.",
            tags=["docs", "thumbnails"],
        ),
        simple_workflow(
            "playground-demo",
            (PROMPT_FIELD,),
            public=True,
            kind="text",
            cost=1,
            name="Playground demo",
            description="A public playground workflow.",
        ),
        simple_workflow(
            "product-shot-template",
            (PROMPT_FIELD,),
            kind="image",
            cost=4,
            name="Product shot template",
            description="A platform template: every account can read and run it, none can edit it.",
            owner=TEMPLATE_OWNER,
            is_template=True,
            tags=["template"],
        ),
    ]

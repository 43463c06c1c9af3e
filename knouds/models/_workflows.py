"""Workflow definitions: the summaries of ``GET /api/workflows`` and the full workflow JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationError, model_validator
from pydantic_core.core_schema import ValidatorFunctionWrapHandler

from ._base import KnoudsModel as _Model

__all__ = ["Workflow", "WorkflowSummary"]

# The fields of a workflow that ``create`` takes as keyword arguments, API name -> Python name.
_CREATE_FIELDS = {
    "name": "name",
    "description": "description",
    "tags": "tags",
    "nodes": "nodes",
    "edges": "edges",
    "viewport": "viewport",
    "publicPlayground": "public_playground",
}


def _tags(value: object) -> list[str]:
    """Tags as sent, tolerantly: ``null`` is no tags, a lone string one tag, numbers as text."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple)):
        return []
    return [item if isinstance(item, str) else str(item) for item in value if item is not None]


def _objects(value: object) -> list[dict[str, Any]]:
    """A list of JSON objects, tolerantly: ``null`` (or anything else) is an empty list, and
    items that are not objects are left out."""
    if not isinstance(value, (list, tuple)):
        return []
    return [item for item in value if isinstance(item, dict)]


_Tags = Annotated[list[str], BeforeValidator(_tags)]
_Objects = Annotated[list[dict[str, Any]], BeforeValidator(_objects)]


class _Tolerant(_Model):
    """A model read tolerantly: a field with a value of an unexpected type falls back to its
    default instead of failing the whole answer (only ``slug`` is required to be right)."""

    @model_validator(mode="wrap")
    @classmethod
    def _tolerate(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(data)
        except ValidationError as error:
            if not isinstance(data, dict):
                raise
            odd = {e["loc"][0] for e in error.errors() if e["loc"]}
            if not odd or "slug" in odd:
                raise
            return handler({k: v for k, v in data.items() if k not in odd})


class WorkflowSummary(_Tolerant):
    """One entry of ``client.workflows.list()`` (``GET /api/workflows``).

    Fields the API adds later are kept (``model_extra``). Odd values never fail a listing:
    ``null`` tags become ``[]`` and a field of an unexpected type reads as its default.

    Attributes:
        slug: the workflow's permanent slug.
        name, description: as set by its owner.
        tags: its tags.
        updated_at: when it last changed (a ``datetime`` when the server sends ISO 8601).
        estimated_credit_cost: credits a run is expected to cost; ``None`` when the workflow has
            no generator nodes.
        folder_id: its folder, ``None`` at the root.
        is_template: whether it is a template (templates of other users are listed too).
        hidden, archived: visibility flags.
        cover: ``{"image": ..., "video": ...}`` when set (any other value is kept as sent).
        thumbnail: a legacy thumbnail value or an S3 URL.
        created_by: the owner's user id.
    """

    slug: str
    name: str | None = None
    description: str | None = None
    tags: _Tags = Field(default_factory=list)
    # A datetime when the server sends ISO 8601, else the string as sent.
    updated_at: datetime | str | None = Field(
        default=None, alias="updatedAt", union_mode="left_to_right"
    )
    estimated_credit_cost: int | float | None = Field(default=None, alias="estimatedCreditCost")
    folder_id: str | None = Field(default=None, alias="folderId")
    is_template: bool | None = Field(default=None, alias="isTemplate")
    hidden: bool | None = None
    archived: bool | None = None
    # Usually {"image": ..., "video": ...}; kept as sent whatever its shape.
    cover: Any = None
    thumbnail: Any = None
    created_by: str | None = Field(default=None, alias="createdBy")


class Workflow(_Tolerant):
    """A whole workflow (``client.workflows.get``), in the shape ``create`` accepts.

    Nodes and edges stay plain JSON data (``dict``), exactly as the server sent them, and fields
    the SDK does not know are kept. A workflow unpacks into ``create``: ``keys()`` lists the
    arguments ``create`` takes (``name``, ``description``, ``tags``, ``nodes``, ``edges``,
    ``viewport``, ``public_playground`` when set, and ``extra_body`` with any other field), so
    ``client.workflows.create(**client.workflows.get("my-pipeline"))`` copies a workflow (the copy
    gets a new slug such as ``my-pipeline-2``).

    Attributes:
        slug: the permanent slug.
        name, description, tags: as set by its owner.
        nodes: the canvas nodes (each with ``id``, ``type``, ``position``, ``data``).
        edges: the connections (``id``, ``source``, ``target``, ``sourceHandle``,
            ``targetHandle``).
        viewport: the canvas view (``x``, ``y``, ``zoom``), when sent.
        public_playground: whether the public schema is readable without a key, when sent.
    """

    slug: str
    name: str | None = None
    description: str | None = None
    tags: _Tags = Field(default_factory=list)
    nodes: _Objects = Field(default_factory=list)
    edges: _Objects = Field(default_factory=list)
    viewport: dict[str, Any] | None = None
    public_playground: bool | None = Field(default=None, alias="publicPlayground")

    def to_body(self) -> dict[str, Any]:
        """The workflow as JSON data in the API's field names (what ``GET`` returned)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")

    def _create_arguments(self) -> dict[str, Any]:
        body = self.to_body()
        body.pop("slug", None)
        arguments = {_CREATE_FIELDS[k]: body.pop(k) for k in list(body) if k in _CREATE_FIELDS}
        if body:
            arguments["extra_body"] = body
        return arguments

    def keys(self) -> list[str]:
        """The ``create`` arguments this workflow fills, so ``create(**workflow)`` works."""
        return list(self._create_arguments())

    def __getitem__(self, key: str) -> Any:
        """One ``create`` argument by name (see `keys`)."""
        return self._create_arguments()[key]

    def __repr__(self) -> str:
        return (
            f"Workflow(slug={self.slug!r}, name={self.name!r}, nodes={len(self.nodes)}, "
            f"edges={len(self.edges)})"
        )

"""Workflow definitions: the summaries of ``GET /api/workflows`` and the full workflow JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

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


class WorkflowSummary(_Model):
    """One entry of ``client.workflows.list()`` (``GET /api/workflows``).

    Fields the API adds later are kept (``model_extra``).

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
        cover: ``{"image": ..., "video": ...}`` when set.
        thumbnail: a legacy thumbnail value or an S3 URL.
        created_by: the owner's user id.
    """

    slug: str
    name: str | None = None
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    # A datetime when the server sends ISO 8601, else the string as sent.
    updated_at: datetime | str | None = Field(
        default=None, alias="updatedAt", union_mode="left_to_right"
    )
    estimated_credit_cost: int | float | None = Field(default=None, alias="estimatedCreditCost")
    folder_id: str | None = Field(default=None, alias="folderId")
    is_template: bool | None = Field(default=None, alias="isTemplate")
    hidden: bool | None = None
    archived: bool | None = None
    cover: dict[str, Any] | None = None
    thumbnail: Any = None
    created_by: str | None = Field(default=None, alias="createdBy")


class Workflow(_Model):
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
    tags: list[str] = Field(default_factory=list)
    nodes: list[dict[str, Any]] = Field(default_factory=list)
    edges: list[dict[str, Any]] = Field(default_factory=list)
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

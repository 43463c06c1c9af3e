"""The workflow definition routes: ``GET``/``POST /api/workflows`` and
``GET``/``PUT``/``DELETE /api/workflows/{slug}``.

Reads list or return what the key's account owns plus the platform templates. Writes need
ownership (``createdBy`` is the caller's user), with no admin override: a template or another
account's workflow that the key can see answers ``403``, one it cannot see ``404`` with a message
only, like the run endpoint. The response bodies of the writes are not documented; the emulator
answers ``201`` with the full workflow to ``POST``, ``200`` with it to ``PUT``, and
``200 {"success": true, "slug": ...}`` to ``DELETE``.
"""

from __future__ import annotations

import json

from knouds.testing import _bodies as bodies
from knouds.testing._http import Request, Response, api_error, json_response
from knouds.testing._keys import ApiKey
from knouds.testing._state import EmulatorState
from knouds.testing._workflows import (
    UNTITLED,
    WorkflowSpec,
    apply_definition,
    check_definition,
    unique_slug,
)

Headers = list[tuple[str, str]]

CRUD_ROUTES = frozenset(
    {"workflow_list", "workflow_create", "workflow_get", "workflow_update", "workflow_delete"}
)
"""The routes this module answers."""


def handle_crud(
    state: EmulatorState,
    route: str,
    key: ApiKey,
    slug: str,
    request: Request,
    headers: Headers,
    now: float,
) -> Response:
    """Answer one workflow definition request (permission and rate limit already checked)."""
    if route == "workflow_list":
        visible = [w.summary() for w in state.workflows.values() if w.visible_to(key.user_id)]
        return json_response(200, visible, headers)
    if route == "workflow_create":
        return _create(state, key, request, headers, now)
    workflow = state.workflows.get(slug)
    if workflow is None or not workflow.visible_to(key.user_id):
        return api_error(bodies.workflow_not_found(), headers)
    if route == "workflow_get":
        return json_response(200, workflow.body(), headers)
    if workflow.owner != key.user_id:
        return api_error(bodies.workflow_not_owned(slug), headers)
    if route == "workflow_delete":
        del state.workflows[slug]
        return json_response(200, bodies.workflow_deleted_body(slug), headers)
    payload, problem = check_definition(_json(request.body))
    if payload is None:
        return api_error(bodies.invalid_body(problem), headers)
    apply_definition(workflow, payload, now)
    return json_response(200, workflow.body(), headers)


def _create(
    state: EmulatorState, key: ApiKey, request: Request, headers: Headers, now: float
) -> Response:
    payload, problem = check_definition(_json(request.body))
    if payload is None:
        return api_error(bodies.invalid_body(problem), headers)
    name = payload.get("name")
    name = name.strip() if isinstance(name, str) and name.strip() else UNTITLED
    workflow = WorkflowSpec(unique_slug(name, state.workflows), owner=key.user_id)
    apply_definition(workflow, {**payload, "name": name}, now)
    state.workflows[workflow.slug] = workflow
    return json_response(201, workflow.body(), headers)


def _json(body: bytes) -> object:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None

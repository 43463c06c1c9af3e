"""Sans-I/O request handling: one function from a request to an outcome, shared by transports.

Validation order on the run endpoints (each step answers before the next is tried):

1. API key: missing, unknown or revoked ``401 {"error": "Unauthorized"}``; retired
   ``401 LEGACY_KEY_RETIRED``.
2. Slug format: ``400 INVALID_SLUG``.
3. Permission: ``403 SCOPE_DENIED`` (scoped keys) or ``403 CAPABILITY_DENIED``.
4. Rate limit: ``429 RATE_LIMIT_EXCEEDED``. Only requests reaching this step are counted;
   responses from step 2 on carry the ``X-RateLimit-*`` headers.
5. Body: not JSON or not an object ``400 INVALID_BODY``; ``inputs`` missing, null or not an object
   ``400 INVALID_INPUTS``.
6. Lookup: unknown model (or, in ``older_docs`` mode, a built-in canvas model)
   ``404 MODEL_NOT_FOUND``; a workflow that is neither the account's nor a template ``404`` with
   a message only.
7. Inputs against the model or workflow (needs the lookup): ``400 INVALID_INPUTS`` naming the input.
8. Plan tier: ``403 MODEL_TIER_REQUIRED`` (the ``admin`` role is never refused for its tier).
9. ``?async=true`` on a model without async support: ``400 ASYNC_NOT_SUPPORTED``.
10. Trial grant used up ``402 grant_exhausted``; balance below cost ``402 INSUFFICIENT_CREDITS``.
11. The run. Successful sync runs are charged; failing ones answer ``500 EXECUTION_FAILED``
    uncharged. Async runs are counted and charged at submission (a failing one is not charged).

Permissions follow the newer docs for capability keys (``*`` for the admin role only,
``<resource>:*``, per-slug capabilities; capabilities above the key's tier have no effect) and the
older docs for scoped keys (``admin`` for model runs and workflow writes). The ``admin`` role also
bypasses rate limits. The workflow definition routes are answered by `_crud`.

Executions: an id that matches no execution of the key's user, including one that is not a UUID,
answers ``404 EXECUTION_NOT_FOUND``. Cancelling a running execution answers ``cancel_requested``;
it becomes ``cancelled`` when it would have finished. Cancelled runs are not refunded.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from knouds.testing import _bodies as bodies
from knouds.testing._clock import http_date
from knouds.testing._crud import CRUD_ROUTES, handle_crud
from knouds.testing._executions import Execution
from knouds.testing._faults import Fault, render, unwrap
from knouds.testing._http import (
    Outcome,
    Request,
    Response,
    api_error,
    error_response,
    json_response,
)
from knouds.testing._keys import ApiKey, check_permission, tier_rank
from knouds.testing._media import media_response
from knouds.testing._registry import (
    CANVAS_MODELS,
    ModelSpec,
    build_result,
    digest,
    media_stem,
    resolve_workflow_inputs,
    validate_model_inputs,
)
from knouds.testing._state import EmulatorState, LoggedRequest
from knouds.testing._webhooks import WebhookDispatcher, WebhookJob

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
"""The slug and internalName format."""

_ROUTES = {
    "workflow_list": ("GET", "definitions", "workflow:read"),
    "workflow_create": ("POST", "definitions", "workflow:write"),
    "workflow_get": ("GET", "definitions", "workflow:read"),
    "workflow_update": ("PUT", "definitions", "workflow:write"),
    "workflow_delete": ("DELETE", "definitions", "workflow:write"),
    "model_run": ("POST", "models", "model:run"),
    "workflow_run": ("POST", "workflows", "workflow:run"),
    "schema": ("GET", "schema", "workflow:read"),
    "execution_get": ("GET", "executions", "execution:read"),
    "execution_cancel": ("POST", "executions", "execution:cancel"),
    "whoami": ("GET", "whoami", "whoami"),
}


@dataclass
class _Context:
    key_id: str | None = None
    run: str | None = None
    sync_run: bool = False
    watch: bool = False
    jobs: tuple[WebhookJob, ...] = ()


_DEFINITIONS = {"GET": "workflow_list", "POST": "workflow_create"}
_DEFINITION = {"GET": "workflow_get", "PUT": "workflow_update", "DELETE": "workflow_delete"}


def _match(segments: list[str], method: str) -> tuple[str, str | None] | None:
    if segments == ["api", "whoami"]:
        return "whoami", None
    if segments == ["api", "workflows"]:
        return _DEFINITIONS.get(method, "workflow_list"), None
    if len(segments) < 3 or segments[0] != "api":
        return None
    family, target, rest = segments[1], segments[2], segments[3:]
    if family == "workflows" and not rest:
        return _DEFINITION.get(method, "workflow_get"), target
    if family == "models" and rest == ["run"]:
        return "model_run", target
    if family == "workflows" and rest == ["run"]:
        return "workflow_run", target
    if family == "workflows" and rest == ["schema"]:
        return "schema", target
    if family == "workflows" and rest == ["public-schema"]:
        return "public_schema", target
    if family == "executions" and not rest:
        return "execution_get", target
    if family == "executions" and rest == ["cancel"]:
        return "execution_cancel", target
    return None


def _parsed_body(body: bytes) -> object:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


class App:
    """Answers emulator requests; holds no I/O and is safe to call from many threads.

    Args:
        state: The emulator's state.
        dispatcher: Sends webhook deliveries.
    """

    def __init__(self, state: EmulatorState, dispatcher: WebhookDispatcher) -> None:
        self.state = state
        self.dispatcher = dispatcher

    def handle(self, request: Request) -> Outcome:
        """Answer one request.

        Returns:
            The response (``None`` to drop the connection) and how long to hold it first.
        """
        state = self.state
        ctx = _Context()
        with state.lock:
            now = state.now()
            fault = state.take_fault(request)
        delay, final = unwrap(fault) if fault is not None else (0.0, None)
        response: Response | None
        if final is not None:
            response = self._fault_response(request, final, now)
        elif request.path.startswith("/media/"):
            response = media_response(request, self._prompt_of)
        else:
            with state.lock:
                response = self._route(request, ctx, now)
                if ctx.watch or request.path.startswith("/api/executions/"):
                    ctx.jobs = tuple(state.due_webhooks())
        if response is not None:
            response.headers.append(("Date", http_date(now)))
        self._log(request, response, ctx, fault, now)
        if ctx.jobs:
            self.dispatcher.send(list(ctx.jobs))
        if ctx.watch:
            self.dispatcher.watch()
        if ctx.sync_run:
            delay += state.settings.run_delay
        return Outcome(response, delay)

    def _prompt_of(self, stem: str) -> str | None:
        with self.state.lock:
            return self.state.prompts.get(stem)

    def _log(
        self,
        request: Request,
        response: Response | None,
        ctx: _Context,
        fault: Fault | None,
        now: float,
    ) -> None:
        entry = LoggedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            status=None if response is None else response.status,
            key_id=ctx.key_id,
            body=_parsed_body(request.body),
            run=ctx.run,
            fault=None if fault is None else fault.name,
            at=now,
        )
        with self.state.lock:
            self.state.log.append(entry)

    def _fault_response(self, request: Request, fault: Fault, now: float) -> Response | None:
        with self.state.lock:
            key = self.state.find_key(request.headers.get("x-api-key"))
            limit = (self.state.key_limit(key) if key else None) or 1000
            tier = key.tier if key else "business"
        return render(fault, now, limit, tier)

    def _route(self, request: Request, ctx: _Context, now: float) -> Response:
        state = self.state
        found = _match(request.path.split("/")[1:], request.method)
        if found is None:
            return error_response(404, "Not found")
        route, target = found
        if route == "public_schema":
            return self._public_schema(request, target or "")
        method, bucket, action = _ROUTES[route]
        if request.method != method:
            return error_response(405, "Method not allowed")
        key = state.find_key(request.headers.get("x-api-key"))
        if key is None or key.revoked:
            return api_error(bodies.unauthorized())
        ctx.key_id = key.key_id
        if key.legacy:
            return api_error(bodies.legacy_key_retired())
        limit = state.key_limit(key)
        window = state.settings.window
        headers = (
            []
            if limit is None
            else state.limiter.peek(key.account_id, bucket, limit, window, now).headers()
        )
        needs_slug = route in ("model_run", "workflow_run", "schema") or (
            route in CRUD_ROUTES and target is not None
        )
        if needs_slug and not SLUG.match(target or ""):
            return api_error(bodies.invalid_slug(), headers)
        denial = check_permission(key, action, target)
        if denial is not None:
            return api_error(denial, headers)
        if limit is not None:
            allowed, status = state.limiter.hit(key.account_id, bucket, limit, window, now)
            headers = status.headers()
            if not allowed:
                wait = status.retry_after()
                return api_error(
                    bodies.rate_limit_exceeded(wait, limit, key.tier),
                    [*headers, bodies.retry_after_header(wait)],
                )
        if route == "whoami":
            body = bodies.identity_body(key.user_id, key.email, key.role, key.tier, True)
            return json_response(200, body, headers)
        if route in CRUD_ROUTES:
            return handle_crud(state, route, key, target or "", request, headers, now)
        if route in ("execution_get", "execution_cancel"):
            return self._execution(key, target or "", route == "execution_cancel", headers, now)
        if route == "schema":
            spec = state.workflows.get(target or "")
            if spec is None or not spec.visible_to(key.user_id):
                return api_error(bodies.workflow_not_found(), headers)
            return json_response(200, spec.schema(), headers)
        return self._run(request, ctx, key, target or "", route == "workflow_run", headers, now)

    def _public_schema(self, request: Request, slug: str) -> Response:
        if request.method != "GET":
            return error_response(405, "Method not allowed")
        if not SLUG.match(slug):
            return api_error(bodies.invalid_slug())
        spec = self.state.workflows.get(slug)
        if spec is None or not spec.public:
            return api_error(bodies.workflow_not_found())
        return json_response(200, spec.schema())

    def _execution(
        self,
        key: ApiKey,
        execution_id: str,
        cancel: bool,
        headers: list[tuple[str, str]],
        now: float,
    ) -> Response:
        execution = self.state.executions.get(execution_id)
        if execution is None or execution.user_id != key.user_id:
            return api_error(bodies.execution_not_found(), headers)
        execution.advance(now)
        if cancel and execution.status == "processing":
            execution.status = "cancel_requested"
        return json_response(200, execution.body(), headers)

    def _run(
        self,
        request: Request,
        ctx: _Context,
        key: ApiKey,
        name: str,
        workflow: bool,
        headers: list[tuple[str, str]],
        now: float,
    ) -> Response:
        state = self.state
        try:
            payload = json.loads(request.body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return api_error(bodies.invalid_body(), headers)
        inputs = payload.get("inputs")
        if not isinstance(inputs, dict):
            return api_error(bodies.invalid_inputs(), headers)
        is_async = request.query.get("async", "").lower() in ("true", "1")
        fail: tuple[str, str] | None = None
        model: ModelSpec | None = None
        if workflow:
            flow = state.workflows.get(name)
            if flow is None or not flow.visible_to(key.user_id):
                return api_error(bodies.workflow_not_found(), headers)
            inputs, problem = resolve_workflow_inputs(flow, inputs)
            kind, cost = flow.kind, flow.cost or 0
        else:
            model = state.models.get(name)
            unreachable = state.settings.older_docs and name in CANVAS_MODELS
            if model is None or unreachable:
                return api_error(bodies.model_not_found(name), headers)
            problem = validate_model_inputs(model, inputs)
            kind, cost, fail = model.kind, model.cost, model.fail
        if problem is not None:
            return api_error(bodies.invalid_inputs(problem), headers)
        if model is not None:
            below = model.min_tier and tier_rank(key.tier) < tier_rank(model.min_tier)
            if below and not key.is_admin:
                tier = str(model.min_tier)
                return api_error(bodies.model_tier_required(name, tier), headers)
            if is_async and not model.async_supported:
                return api_error(bodies.async_not_supported(name), headers)
        grant = key.grants.get(name)
        if grant is not None and grant <= 0:
            return api_error(bodies.grant_exhausted(name), headers)
        price = 0 if grant is not None else cost
        if key.credits < price:
            return api_error(bodies.insufficient_credits(price, key.credits), headers)
        run_digest = digest(name, inputs)
        result = build_result(kind, run_digest, inputs, request.base_url)
        prompt = inputs.get("prompt")
        if isinstance(prompt, str):
            state.prompts[media_stem(run_digest)] = prompt
        # What the emulator takes for the run: the sync run's delay (held before answering), or
        # the time an async execution stays processing.
        delay = state.settings.execution_delay if is_async else state.settings.run_delay
        ms = round(delay * 1000)
        state.runs[name] += 1
        ctx.run = name
        if fail is None:
            if grant is not None:
                key.grants[name] = grant - 1
            key.credits -= price
        if is_async:
            return self._submit(ctx, key, name, workflow, result, price, ms, fail, headers, now)
        ctx.sync_run = True
        if fail is not None:
            return api_error(bodies.execution_failed(fail[1], fail[0]), headers)
        return json_response(200, bodies.run_body(result, price, ms), headers)

    def _submit(
        self,
        ctx: _Context,
        key: ApiKey,
        name: str,
        workflow: bool,
        result: dict[str, object],
        price: int,
        ms: int,
        fail: tuple[str, str] | None,
        headers: list[tuple[str, str]],
        now: float,
    ) -> Response:
        state = self.state
        webhook = (
            (key.webhook_url, key.webhook_secret)
            if key.webhook_url and key.webhook_secret
            else None
        )
        execution = Execution(
            id=state.new_uuid(),
            request_id=f"req_{state.new_id()}",
            user_id=key.user_id,
            key_id=key.key_id,
            workflow_slug=name if workflow else None,
            model_ids=[] if workflow else [name],
            created_at=now,
            due_at=now + state.settings.execution_delay,
            result=None if fail else result,
            cost=0 if fail else price,
            ms=ms,
            error=None if fail is None else {"code": fail[0], "message": fail[1]},
            webhook=webhook,
        )
        state.executions[execution.id] = execution
        ctx.watch = webhook is not None
        body = bodies.submit_body(
            execution.id, execution.request_id, None if webhook is None else webhook[0]
        )
        return json_response(202, body, headers)

"""The public ``Emulator``: a real local Knouds API server for tests and offline development."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from types import TracebackType

from knouds.testing._app import App
from knouds.testing._clock import Clock
from knouds.testing._faults import Fault, FaultRule
from knouds.testing._keys import KEY_SCOPES, ROLES, ApiKey, default_capabilities
from knouds.testing._registry import KINDS, ModelSpec
from knouds.testing._server import EmulatorHTTPServer
from knouds.testing._state import DEFAULT_USER, EmulatorState, LoggedRequest, Settings
from knouds.testing._transport import EmulatorTransport
from knouds.testing._webhooks import WebhookDelivery, WebhookDispatcher
from knouds.testing._workflows import simple_workflow


class Emulator:
    """A local Knouds API: models, workflows, executions, keys, credits, limits and faults.

    Use it as a context manager to serve over real sockets, or call ``transport()`` to serve
    httpx clients in-process without starting anything.

    Generated images are 256x256 PNG pictures drawn from the run's prompt (its colour words
    colour them, "a red fox in the snow" shows a red shape on white hills); videos are a short
    bundled clip, audio a tone. A run's ``ms`` is the time the emulator spends on it.

    Args:
        host: Interface to bind; keep the loopback default.
        port: Port to bind; 0 picks a free one.
        rate_limit: Requests per window for every key without its own limit; ``None`` uses the
            tier default (free 10, pro 100, business 1000, enterprise unlimited).
        window: Rate-limit window in seconds (short windows such as 0.05 suit tests).
        execution_delay: Emulator seconds an async execution stays ``processing``; also its
            ``ms`` in milliseconds.
        run_delay: Real seconds each sync run is held before answering; also its ``ms`` (so
            ``ms`` is 0 by default: the emulator answers at once).
        clock: Returns the current epoch time; inject a ``ManualClock`` to control time.
        clock_skew: Seconds added to the clock, making the emulator's ``Date`` differ from yours.
        credits: Starting balance of every key.
        seed: Seed for ids and random fault selection, for reproducible runs.
        older_docs: Follow the older documentation where the two generations disagree: built-in
            canvas models (``nano-banana-2``, ``seedream-v5``, ``kling-v3-i2v``, ...) answer
            ``404 MODEL_NOT_FOUND`` on the model endpoint instead of running (sync only).

    Example:
        >>> with Emulator() as emu:
        ...     client = knouds.Client(api_key=emu.api_key, base_url=emu.base_url)
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: int | None = None,
        window: float = 60.0,
        execution_delay: float = 0.2,
        run_delay: float = 0.0,
        clock: Clock | None = None,
        clock_skew: float = 0.0,
        credits: int = 1000,
        seed: int | None = 0,
        older_docs: bool = False,
    ) -> None:
        if window <= 0:
            raise ValueError("window must be positive")
        settings = Settings(
            rate_limit=rate_limit,
            window=window,
            execution_delay=execution_delay,
            run_delay=run_delay,
            credits=credits,
            clock=clock or time.time,
            clock_skew=clock_skew,
            older_docs=older_docs,
        )
        self._state = EmulatorState(settings, seed=seed)
        self._dispatcher = WebhookDispatcher(
            self._state.due_webhooks, self._state.webhooks_pending, self._state.record_delivery
        )
        self._app = App(self._state, self._dispatcher)
        self._address = (host, port)
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.api_key: str = self.create_key(email="dev@emulator.local")
        """A ``business``-tier key of role ``user`` holding every capability of its tier
        (``workflow:*``, ``model:*``, ``execution:*``, ``agent:*``, ``webhook:receive``)."""

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Emulator:
        """Start serving in a daemon thread; returns ``self``. Starting twice is a no-op."""
        if self._server is None:
            self._server = EmulatorHTTPServer(self._address, self._app)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.01},
                name="knouds-emulator",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close open connections. Stopping a stopped emulator is a no-op."""
        self._dispatcher.stop()
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """The server's URL, e.g. ``http://127.0.0.1:54321``.

        Raises:
            RuntimeError: If the emulator is not started.
        """
        if self._server is None:
            raise RuntimeError("The emulator is not running; use `with emulator:` or start().")
        return f"http://{self._server.server_name}:{self._server.server_port}"

    def transport(self) -> EmulatorTransport:
        """An httpx transport (sync and async) serving requests in-process, no sockets needed."""
        return EmulatorTransport(self._app)

    # -- keys ------------------------------------------------------------------------------

    def create_key(
        self,
        *,
        scope: str | None = None,
        capabilities: Iterable[str] | None = None,
        tier: str = "business",
        role: str = "user",
        legacy: bool = False,
        credits: int | None = None,
        grants: dict[str, int] | None = None,
        rate_limit: int | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        email: str | None = None,
        user: str | None = None,
        account: str | None = None,
    ) -> str:
        """Create an API key and return its secret value.

        Args:
            scope: ``free``, ``deployment`` or ``admin`` for an older-generation key.
            capabilities: Capabilities for a newer-generation key; default: every capability of
                the tier, as wildcards (``workflow:*``, ``model:*``...). Matching follows the
                docs: ``*`` (admin role only), the capability itself, ``<resource>:*``, and
                per-target ones such as ``workflow:<slug>:run``. Capabilities above the tier
                (``model:run`` below ``business``) have no effect.
            tier: Plan tier: ``free``, ``pro``, ``business``, ``enterprise`` or a custom id.
            role: ``user`` or ``admin``; the admin role bypasses tier gates and rate limits.
            legacy: Make a retired key answering ``401 LEGACY_KEY_RETIRED``.
            credits: Starting balance (default: the emulator's ``credits``).
            grants: Free trial runs per model or workflow, e.g. ``{"gpt-image-2": 2}``.
            rate_limit: Requests per window for this key.
            webhook_url: Loopback URL receiving this key's execution events.
            webhook_secret: Secret signing those events.
            email: The email ``whoami`` reports.
            user: Owning user id (default: ``account``, else the emulator's one user): workflows
                and executions are visible only to keys of the same user, and ``whoami`` reports
                it.
            account: The account the key belongs to. Keys created with the same account share
                one rate-limit window per route, as on Knouds, and (unless ``user`` says
                otherwise) own the same workflows and executions; by default each key counts its
                rate limit as an account of its own.

        Raises:
            ValueError: If both or an unknown scope is given, or an unknown role.
        """
        if scope is not None and capabilities is not None:
            raise ValueError("give either scope (older keys) or capabilities (newer keys)")
        if scope is not None and scope not in KEY_SCOPES:
            raise ValueError(f"scope must be one of {', '.join(KEY_SCOPES)}")
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if scope is not None:
            caps = None
        elif capabilities is None:
            caps = frozenset({"*"}) if role == "admin" else default_capabilities(tier)
        else:
            caps = frozenset(capabilities)
        with self._state.lock:
            key_id = f"key_{self._state.new_id(48)}"
            secret = f"knouds_live_{self._state.new_id(128)}"
            self._state.keys[secret] = ApiKey(
                key_id=key_id,
                secret=secret,
                user_id=user or account or DEFAULT_USER,
                email=email or f"{user or account or 'dev'}@emulator.local",
                tier=tier,
                scope=scope,
                capabilities=caps,
                role=role,
                legacy=legacy,
                credits=self._state.settings.credits if credits is None else credits,
                grants=dict(grants or {}),
                rate_limit=rate_limit,
                webhook_url=webhook_url,
                webhook_secret=webhook_secret,
                account=account or "",
            )
        return secret

    def revoke_key(self, key: str) -> None:
        """Revoke a key; it then answers a plain 401.

        Raises:
            KeyError: If the key is unknown.
        """
        with self._state.lock:
            self._state.keys[key].revoked = True

    def key_id(self, key: str) -> str:
        """The public id of a key, as it appears in ``log``."""
        with self._state.lock:
            return self._state.keys[key].key_id

    def balance(self, key: str) -> int:
        """A key's credit balance."""
        with self._state.lock:
            return self._state.keys[key].credits

    def set_balance(self, key: str, credits: int) -> None:
        """Set a key's credit balance."""
        with self._state.lock:
            self._state.keys[key].credits = credits

    # -- registry --------------------------------------------------------------------------

    def add_model(
        self,
        name: str,
        kind: str,
        *,
        cost: int = 1,
        async_supported: bool = True,
        min_tier: str | None = None,
        fail: tuple[str, str] | None = None,
        required_inputs: tuple[str, ...] = ("prompt",),
    ) -> None:
        """Add or replace a registry model.

        Args:
            name: The model's ``internalName``.
            kind: ``image``, ``video``, ``audio`` or ``text``.
            cost: Credits per run.
            async_supported: Whether ``?async=true`` is accepted.
            min_tier: Lowest plan tier allowed to run it.
            fail: ``(code, message)`` to make runs fail.
            required_inputs: Inputs that must be present as strings.
        """
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        spec = ModelSpec(name, kind, cost, async_supported, min_tier, fail, tuple(required_inputs))
        with self._state.lock:
            self._state.models[name] = spec

    def add_workflow(
        self,
        slug: str,
        *,
        fields: list[dict[str, object]] | None = None,
        public: bool = False,
        kind: str = "image",
        cost: int = 1,
        name: str | None = None,
        description: str | None = None,
        user: str | None = None,
        template: bool = False,
        estimate: float | None = None,
    ) -> None:
        """Add or replace a workflow (a request input, one generator, a response output).

        Args:
            slug: The workflow's slug.
            fields: Input fields, each with ``name`` and usually ``type`` (in any case:
                ``text``, ``textarea``, ``select`` or ``pills`` with ``options``, ``number`` or
                ``slider`` with ``min``/``max``, ``boolean`` or ``toggle``, ``image`` or
                ``upload`` for an HTTPS URL), ``required``, ``default``. A run whose input breaks
                them gets ``400 INVALID_INPUTS``; names the schema does not list are ignored, as
                Knouds does. Default: one required text field ``prompt``.
            public: Serve it on the public-schema endpoint (``publicPlayground``).
            kind: The kind of output.
            cost: Credits charged per run.
            name: Display name.
            description: Description.
            user: The owning user (default: the one of ``api_key``); other users' keys get 404.
            template: Make it a platform template every account can read and run (not edit).
            estimate: The ``estimatedCreditCost`` its schema and listing publish, when it should
                differ from ``cost`` (the credits actually charged); default: ``cost``.
        """
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        chosen = (
            fields
            if fields is not None
            else [{"name": "prompt", "type": "text", "label": "Prompt", "required": True}]
        )
        spec = simple_workflow(
            slug,
            chosen,
            kind=kind,
            cost=cost,
            name=name or slug,
            description=description or "",
            public=public,
            owner=user or DEFAULT_USER,
            is_template=template,
            estimate=estimate,
        )
        with self._state.lock:
            spec.updated_at = self._state.now()
            self._state.workflows[slug] = spec

    def workflow(self, slug: str) -> dict[str, object]:
        """A workflow's full JSON as ``GET /api/workflows/{slug}`` returns it, plus its
        ``createdBy``.

        Raises:
            KeyError: If no workflow has this slug.
        """
        with self._state.lock:
            spec = self._state.workflows[slug]
            return {**spec.body(), "createdBy": spec.owner}

    # -- faults, limits, observation ---------------------------------------------------------

    def inject(
        self,
        fault: Fault,
        *,
        times: int | None = None,
        rate: float | None = None,
        path: str | None = None,
        method: str | None = None,
    ) -> None:
        """Apply a fault to upcoming requests, before normal handling.

        Args:
            fault: What to do, built with the ``Fault`` class methods.
            times: How many matching requests get it; default 1, or unlimited with ``rate``.
            rate: Apply to this random fraction of matching requests (seeded).
            path: Only requests whose path starts with this.
            method: Only requests with this method.
        """
        remaining = times if times is not None else (None if rate is not None else 1)
        with self._state.lock:
            self._state.rules.append(FaultRule(fault, remaining, rate, path, method))

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        with self._state.lock:
            self._state.rules.clear()

    def reset_rate_limits(self) -> None:
        """Refill every rate-limit bucket."""
        with self._state.lock:
            self._state.limiter.reset()

    @property
    def log(self) -> list[LoggedRequest]:
        """A snapshot of every request answered so far, oldest first."""
        with self._state.lock:
            return list(self._state.log)

    def run_count(self, name: str | None = None) -> int:
        """How many runs were executed (sync runs and async submissions), optionally of one name."""
        with self._state.lock:
            if name is None:
                return sum(self._state.runs.values())
            return self._state.runs[name]

    def now(self) -> float:
        """The emulator's current time (its clock plus the skew)."""
        return self._state.now()

    @property
    def webhook_deliveries(self) -> list[WebhookDelivery]:
        """A snapshot of the webhook deliveries attempted so far."""
        with self._state.delivered:
            return list(self._state.deliveries)

    def wait_for_webhooks(self, count: int = 1, timeout: float = 5.0) -> list[WebhookDelivery]:
        """Block until at least ``count`` deliveries were attempted, or the timeout passes.

        Returns:
            The deliveries attempted so far.
        """
        with self._state.delivered:
            self._state.delivered.wait_for(lambda: len(self._state.deliveries) >= count, timeout)
            return list(self._state.deliveries)

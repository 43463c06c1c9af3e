"""Everything the emulator remembers, guarded by one lock."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from knouds.testing._clock import Clock
from knouds.testing._executions import Execution
from knouds.testing._faults import Fault, FaultRule
from knouds.testing._http import Request
from knouds.testing._keys import DEFAULT_USER, ApiKey
from knouds.testing._limits import TIER_LIMITS, FixedWindowLimiter
from knouds.testing._registry import ModelSpec, default_models
from knouds.testing._webhooks import WebhookDelivery, WebhookJob
from knouds.testing._workflows import WorkflowSpec, default_workflows

__all__ = ["DEFAULT_USER", "EmulatorState", "LoggedRequest", "Settings"]


@dataclass(frozen=True)
class LoggedRequest:
    """One request the emulator answered (or dropped).

    Attributes:
        method: HTTP method.
        path: Request path.
        query: Query parameters.
        status: Response status, or ``None`` when the connection was dropped.
        key_id: The public id of the key used, never the key itself; ``None`` if unknown.
        body: The parsed JSON body, or ``None``.
        run: The model or workflow actually executed, or ``None``.
        fault: The name of the injected fault applied, or ``None``.
        at: Emulator time when the request arrived.
    """

    method: str
    path: str
    query: dict[str, str]
    status: int | None
    key_id: str | None
    body: object
    run: str | None
    fault: str | None
    at: float


@dataclass
class Settings:
    """Emulator-wide options."""

    rate_limit: int | None = None
    window: float = 60.0
    execution_delay: float = 0.2
    run_delay: float = 0.0
    credits: int = 1000
    clock: Clock = time.time
    clock_skew: float = 0.0
    older_docs: bool = False


@dataclass
class EmulatorState:
    """Keys, registries, executions, limits, faults and the request log."""

    settings: Settings
    seed: int | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)
    keys: dict[str, ApiKey] = field(default_factory=dict)
    models: dict[str, ModelSpec] = field(default_factory=dict)
    workflows: dict[str, WorkflowSpec] = field(default_factory=dict)
    executions: dict[str, Execution] = field(default_factory=dict)
    limiter: FixedWindowLimiter = field(default_factory=FixedWindowLimiter)
    rules: list[FaultRule] = field(default_factory=list)
    log: list[LoggedRequest] = field(default_factory=list)
    runs: Counter[str] = field(default_factory=Counter)
    # The prompt of each run, by the name stem of its media files: images are drawn from it.
    prompts: dict[str, str] = field(default_factory=dict)
    deliveries: list[WebhookDelivery] = field(default_factory=list)
    delivered: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        self.rng: random.Random = random.Random(self.seed)
        self.models = {m.name: m for m in default_models()}
        self.workflows = {w.slug: w for w in default_workflows()}
        for workflow in self.workflows.values():
            workflow.updated_at = self.now()

    def now(self) -> float:
        """Emulator time: the clock plus the configured skew."""
        return self.settings.clock() + self.settings.clock_skew

    def new_id(self, bits: int = 64) -> str:
        """A random hex id from the seeded generator."""
        return f"{self.rng.getrandbits(bits):0{bits // 4}x}"

    def new_uuid(self) -> str:
        """A random version-4 UUID string from the seeded generator."""
        raw = self.new_id(128)
        variant = "89ab"[int(raw[16], 16) % 4]
        return f"{raw[:8]}-{raw[8:12]}-4{raw[13:16]}-{variant}{raw[17:20]}-{raw[20:32]}"

    def find_key(self, secret: str | None) -> ApiKey | None:
        """Look a key up by its secret value."""
        if not secret:
            return None
        return self.keys.get(secret)

    def key_limit(self, key: ApiKey) -> int | None:
        """The key's requests per window, or ``None`` when unlimited (the admin role is)."""
        if key.is_admin:
            return None
        if key.rate_limit is not None:
            return key.rate_limit
        if self.settings.rate_limit is not None:
            return self.settings.rate_limit
        return TIER_LIMITS.get(key.tier, TIER_LIMITS["free"])

    def take_fault(self, request: Request) -> Fault | None:
        """The first injected fault applying to a request, consuming one use of it."""
        for rule in self.rules:
            if rule.take(request, self.rng):
                return rule.fault
        return None

    def due_webhooks(self) -> list[WebhookJob]:
        """Finish due executions and return the webhook deliveries they trigger."""
        with self.lock:
            now = self.now()
            jobs = []
            for execution in self.executions.values():
                execution.advance(now)
                if execution.terminal and execution.webhook and not execution.webhook_sent:
                    execution.webhook_sent = True
                    url, secret = execution.webhook
                    jobs.append(WebhookJob(url, secret, execution.event(), int(now)))
            return jobs

    def webhooks_pending(self) -> bool:
        """Whether any webhook-enabled execution has not been delivered yet."""
        with self.lock:
            return any(e.webhook and not e.webhook_sent for e in self.executions.values())

    def record_delivery(self, delivery: WebhookDelivery) -> None:
        """Remember a finished delivery and wake anyone waiting for it."""
        with self.delivered:
            self.deliveries.append(delivery)
            self.delivered.notify_all()

"""API keys of both generations (scoped and capability-based) and the permission rules."""

from __future__ import annotations

from dataclasses import dataclass, field

KEY_SCOPES = ("free", "deployment", "admin")
"""Older-generation scopes, weakest first."""

TIERS = ("free", "pro", "business", "enterprise")
"""Plan tiers, lowest first."""


def tier_rank(tier: str) -> int:
    """Rank a plan tier; an unknown (custom) tier ranks with ``free``."""
    return TIERS.index(tier) if tier in TIERS else 0


@dataclass
class ApiKey:
    """One API key and the account state attached to it.

    Attributes:
        key_id: A public identifier used in logs (never the secret).
        secret: The value sent in ``x-api-key``.
        user_id: The owning user; executions are visible only to keys of the same user.
        email: The user's email, reported by ``whoami``.
        tier: Plan tier.
        scope: Older-generation scope, or ``None`` for a capability key.
        capabilities: Newer-generation capabilities, or ``None`` for a scoped key.
        legacy: A retired key that answers ``401 LEGACY_KEY_RETIRED``.
        credits: Credit balance.
        grants: Remaining free trial runs per model or workflow name.
        rate_limit: Requests per window, overriding the emulator and tier defaults.
        webhook_url: Where execution events are delivered.
        webhook_secret: The secret signing those deliveries.
        revoked: A revoked key answers a plain 401.
        account: The account the key belongs to; rate limits are counted per account, so all
            keys of one account share one budget. Empty: the key is an account of its own.
    """

    key_id: str
    secret: str
    user_id: str
    email: str
    tier: str = "business"
    scope: str | None = None
    capabilities: frozenset[str] | None = None
    legacy: bool = False
    credits: int = 1000
    grants: dict[str, int] = field(default_factory=dict)
    rate_limit: int | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    revoked: bool = False
    account: str = ""

    @property
    def account_id(self) -> str:
        """The id rate limits are counted under."""
        return f"account:{self.account}" if self.account else self.key_id

    @property
    def role(self) -> str:
        """``admin`` for an admin-scope or all-capability key, else ``user``."""
        if self.scope == "admin" or (self.capabilities is not None and "*" in self.capabilities):
            return "admin"
        return "user"

    @property
    def webhook_configured(self) -> bool:
        """Whether executions submitted with this key trigger webhook deliveries."""
        return bool(self.webhook_url and self.webhook_secret)


@dataclass(frozen=True)
class Denial:
    """Why a key may not do something: the error code and the body's context fields."""

    code: str
    message: str
    extra: dict[str, str]


def check_permission(key: ApiKey, action: str, target: str | None = None) -> Denial | None:
    """Decide whether a key may perform an action.

    Args:
        key: The authenticated key.
        action: One of ``model:run``, ``workflow:run``, ``workflow:read``, ``execution:read``,
            ``execution:cancel``, or ``whoami``.
        target: The model name or workflow slug, for per-resource run capabilities.

    Returns:
        ``None`` when allowed, else the denial to report.
    """
    if action == "whoami":
        return None
    if key.capabilities is None:
        if action != "model:run" or key.scope == "admin":
            return None
        return Denial(
            "SCOPE_DENIED",
            "This endpoint requires an API key with the admin scope.",
            {"required": "admin", "actual": key.scope or "free"},
        )
    caps = key.capabilities
    if "*" in caps or action in caps:
        return None
    if target is not None and action.endswith(":run"):
        family = action.split(":", 1)[0]
        if f"{family}:{target}:run" in caps:
            return None
    return Denial(
        "CAPABILITY_DENIED",
        f"This API key lacks the {action} capability.",
        {"required": action},
    )

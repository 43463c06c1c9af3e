"""API keys of both generations (scoped and capability-based) and the permission rules."""

from __future__ import annotations

from dataclasses import dataclass, field

from knouds.testing._bodies import ApiError, capability_denied, scope_denied

DEFAULT_USER = "usr_emulator"
"""The user owning keys unless another is named."""

KEY_SCOPES = ("free", "deployment", "admin")
"""Older-generation scopes, weakest first."""

TIERS = ("free", "pro", "business", "enterprise")
"""Plan tiers, lowest first."""


ROLES = ("user", "admin")
"""Account roles; ``admin`` bypasses tier gates and rate limits."""

_PRO_CEILING = frozenset({"workflow", "webhook", "execution"})
TIER_CEILINGS: dict[str, frozenset[str]] = {
    "free": frozenset({"execution"}),
    "pro": _PRO_CEILING,
    "business": _PRO_CEILING | {"model", "agent"},
    "enterprise": _PRO_CEILING | {"model", "agent"},
}
"""The capability families each tier's keys can use (the plans page). A capability above the
key's tier has no effect; ``*`` works for the ``admin`` role only."""


def tier_rank(tier: str) -> int:
    """Rank a plan tier; an unknown (custom) tier ranks with ``free``."""
    return TIERS.index(tier) if tier in TIERS else 0


def default_capabilities(tier: str) -> frozenset[str]:
    """Everything a key of this tier can hold, as ``<resource>:*`` wildcards."""
    families = TIER_CEILINGS.get(tier, TIER_CEILINGS["free"])
    return frozenset(
        "webhook:receive" if family == "webhook" else f"{family}:*" for family in families
    )


@dataclass
class ApiKey:
    """One API key and the account state attached to it.

    Attributes:
        key_id: A public identifier used in logs (never the secret).
        secret: The value sent in ``x-api-key``.
        user_id: The owning user; executions and workflows are visible only to keys of the same
            user.
        email: The user's email, reported by ``whoami``.
        tier: Plan tier.
        scope: Older-generation scope, or ``None`` for a capability key.
        capabilities: Newer-generation capabilities, or ``None`` for a scoped key.
        role: ``user`` or ``admin`` (the account's role: admin bypasses tier gates and rate
            limits, and is the only role for which the ``*`` capability works).
        legacy: A retired key that answers ``401 LEGACY_KEY_RETIRED``.
        credits: Credit balance.
        grants: Remaining free trial runs per model or workflow name.
        rate_limit: Requests per window, overriding the emulator and tier defaults.
        webhook_url: Where execution events are delivered.
        webhook_secret: The secret signing those deliveries.
        revoked: A revoked key answers a plain 401.
        account: The account the key belongs to; rate limits are counted per account, so all
            keys of one account share one rate-limit window. Empty: the key is an account of its
            own.
    """

    key_id: str
    secret: str
    user_id: str
    email: str
    tier: str = "business"
    scope: str | None = None
    capabilities: frozenset[str] | None = None
    role: str = "user"
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
    def is_admin(self) -> bool:
        """Whether the account has the admin role."""
        return self.role == "admin"

    @property
    def webhook_configured(self) -> bool:
        """Whether executions submitted with this key trigger webhook deliveries."""
        return bool(self.webhook_url and self.webhook_secret)


def capability_matches(held: str, action: str, target: str | None) -> bool:
    """Whether one held capability grants ``action`` (``<resource>:<verb>``) on ``target``.

    The match, as documented: ``*``; the capability itself; ``<resource>:*``; and the
    per-target forms ``<resource>:<target>:<verb>`` and ``<resource>:<target>:*``.
    """
    resource, _, verb = action.partition(":")
    if held in ("*", action, f"{resource}:*"):
        return True
    return target is not None and held in (f"{resource}:{target}:{verb}", f"{resource}:{target}:*")


def _effective(key: ApiKey) -> frozenset[str]:
    caps = key.capabilities or frozenset()
    if key.is_admin:
        return caps
    ceiling = TIER_CEILINGS.get(key.tier, TIER_CEILINGS["free"])
    return frozenset(c for c in caps if c != "*" and c.split(":", 1)[0] in ceiling)


def check_permission(key: ApiKey, action: str, target: str | None = None) -> ApiError | None:
    """Decide whether a key may perform an action.

    Args:
        key: The authenticated key.
        action: One of ``model:run``, ``workflow:run``, ``workflow:read``, ``workflow:write``,
            ``execution:read``, ``execution:cancel``, or ``whoami``.
        target: The model name or workflow slug, for per-resource capabilities.

    Returns:
        ``None`` when allowed, else the 403 error to answer.
    """
    if action == "whoami":
        return None
    if key.capabilities is None:
        if action not in ("model:run", "workflow:write") or key.scope == "admin":
            return None
        return scope_denied("admin", key.scope or "free")
    if any(capability_matches(held, action, target) for held in _effective(key)):
        return None
    return capability_denied(action)

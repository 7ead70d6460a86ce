"""Per-API-key rate limits and per-organization concurrency at the gateway.

* every authenticated request (REST and gRPC) takes a token from its API
  key's bucket: the plan's ``rate_limit_requests_per_second`` and
  ``rate_limit_burst``, plus the key's own ``rate_limit`` (requests per
  minute) when set; shared across replicas through Redis when ``REDIS_URL``
  is set, per replica otherwise (see :mod:`.limiter`);
* unauthenticated requests take from a per-client-IP bucket
  (``RATE_LIMIT_REQUESTS_PER_SECOND`` / ``RATE_LIMIT_BURST_SIZE``);
* over a limit: 429 ``RATE_LIMIT_EXCEEDED`` with ``Retry-After``; gRPC:
  RESOURCE_EXHAUSTED "Rate limit exceeded" with a ``retry-after`` trailer;
* every ``/api/v1`` response carries ``X-RateLimit-Limit``, ``-Remaining``,
  ``-Reset`` (unix seconds) and ``-Scope`` (``api_key`` | ``ip``);
* an organization has at most ``SPOOLED_ORG_MAX_INFLIGHT`` requests in
  progress per replica; more wait, so one tenant's flood queues behind
  itself, not in front of everyone else.

Login brute force is a separate, Postgres-backed limit (auth/throttle.py).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from spooled_gateway.auth.principal import Principal
from spooled_gateway.ratelimit.buckets import Decision, Rule
from spooled_gateway.ratelimit.limiter import InflightGate, Limiter, Slot, rate_limited

__all__ = [
    "Decision",
    "InflightGate",
    "Limiter",
    "RequestLimits",
    "Rule",
    "admit",
    "rate_limited",
    "rules_for",
]

#: Key of the per-request holder in the ASGI scope's state.
STATE_KEY = "rate_limit"


class RequestLimits:
    """What the middleware needs at the end of a request: headers and a slot to free."""

    def __init__(self) -> None:
        self.decision: Decision | None = None
        self.slot: Slot | None = None

    def release(self) -> None:
        if self.slot is not None:
            self.slot.release()
            self.slot = None


def rules_for(principal: Principal) -> list[Rule]:
    """The buckets of one API key (JWTs count against the key they were issued for)."""
    limits = principal.limits
    tag = f"{{k:{principal.api_key_id}}}"
    rules = [
        Rule(
            f"spooled:rl:{tag}:plan",
            float(limits.rate_limit_requests_per_second),
            limits.rate_limit_burst,
        )
    ]
    if principal.rate_limit:
        rules.append(
            Rule(f"spooled:rl:{tag}:own", principal.rate_limit / 60.0, principal.rate_limit)
        )
    return rules


async def take(app: Any, principal: Principal) -> Decision:
    """Take a token from ``principal``'s buckets (the decision says whether it got one)."""
    decision: Decision = await app.state.limiter.take(rules_for(principal), "api_key")
    return decision


async def check(app: Any, principal: Principal) -> Decision:
    """Like :func:`take`, raising the 429 when the buckets are empty (gRPC)."""
    decision = await take(app, principal)
    if not decision.allowed:
        raise rate_limited(decision)
    return decision


async def admit(request: Request, principal: Principal) -> None:
    """Rate-limit an authenticated REST request and take its organization's slot."""
    app = request.app
    holder = request.scope.setdefault("state", {}).get(STATE_KEY)
    if holder is None:  # the middleware is not installed (an app built for a test)
        holder = RequestLimits()
    holder.decision = await take(app, principal)
    if not holder.decision.allowed:
        raise rate_limited(holder.decision)
    holder.slot = await app.state.inflight.enter(principal.org_id)

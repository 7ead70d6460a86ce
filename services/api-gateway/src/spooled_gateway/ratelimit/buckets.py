"""Token buckets: the rules, the decision, and the in-process implementation.

A request takes one token from every bucket that applies to it (the key's
plan bucket, plus the key's own per-minute bucket when it has one), all or
nothing. A bucket holds up to ``burst`` tokens and refills at ``rate`` per
second, so a client may burst to the plan's burst size and sustain its rps.

:class:`LocalBuckets` keeps the buckets in this process: what each gateway
replica enforces on its own when Redis is absent or down (then N replicas
admit up to N times the rate in total). :mod:`.redis_buckets` shares them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rule:
    key: str
    #: Tokens added per second.
    rate: float
    #: Bucket size: the most requests admitted at once after a pause.
    burst: int


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    #: X-RateLimit-Limit: the size of the binding bucket.
    limit: int
    #: X-RateLimit-Remaining: whole tokens left in it.
    remaining: int
    #: Seconds until that bucket is full again (X-RateLimit-Reset = now + this).
    reset_after: float
    #: Seconds until a refused request could succeed (Retry-After).
    retry_after: float
    #: X-RateLimit-Scope: what the buckets are keyed by (api_key, ip).
    scope: str = ""
    #: True when the decision came from the buckets shared through Redis.
    shared: bool = False

    def headers(self, now: float | None = None) -> list[tuple[bytes, bytes]]:
        reset_at = math.ceil((time.time() if now is None else now) + self.reset_after)
        out = [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(self.remaining).encode()),
            (b"x-ratelimit-reset", str(reset_at).encode()),
        ]
        if self.scope:
            out.append((b"x-ratelimit-scope", self.scope.encode()))
        return out

    @property
    def retry_after_secs(self) -> int:
        return max(1, math.ceil(self.retry_after))


def decide(rules: Sequence[Rule], tokens: Sequence[float], allowed: bool) -> Decision:
    """The decision reported for ``tokens`` left in each bucket after the attempt."""
    if allowed:
        # The bucket closest to empty is the one the client should watch.
        i = min(range(len(rules)), key=lambda k: tokens[k] / rules[k].burst)
    else:
        # The bucket that refused, and of those the one that takes longest to admit.
        i = max(
            (k for k in range(len(rules)) if tokens[k] < 1),
            key=lambda k: (1 - tokens[k]) / rules[k].rate,
        )
    rule, left = rules[i], tokens[i]
    return Decision(
        allowed=allowed,
        limit=rule.burst,
        remaining=max(0, math.floor(left)),
        reset_after=max(0.0, (rule.burst - left) / rule.rate),
        retry_after=0.0 if allowed else max(0.0, (1 - left) / rule.rate),
    )


class LocalBuckets:
    """Buckets in this process (one event loop: no lock needed)."""

    def __init__(self, max_keys: int = 100_000, clock: object = time.monotonic) -> None:
        self._state: dict[str, tuple[float, float]] = {}
        self._max_keys = max_keys
        self._clock = clock

    def take(self, rules: Sequence[Rule]) -> Decision:
        now = self._clock()  # type: ignore[operator]
        tokens = []
        for rule in rules:
            left, at = self._state.get(rule.key, (float(rule.burst), now))
            tokens.append(min(float(rule.burst), left + max(0.0, now - at) * rule.rate))
        allowed = all(t >= 1 for t in tokens)
        if allowed:
            tokens = [t - 1 for t in tokens]
        if len(self._state) >= self._max_keys:
            # Idle buckets are full ones; forgetting them changes nothing.
            self._state.clear()
        for rule, left in zip(rules, tokens, strict=True):
            self._state[rule.key] = (left, now)
        return decide(rules, tokens, allowed)

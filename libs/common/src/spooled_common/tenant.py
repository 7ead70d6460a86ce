"""The caller's tenant and key scope, as every service sees it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Tenant:
    org_id: str
    #: Queues the API key may touch; None means every queue.
    queues: frozenset[str] | None = None

    @classmethod
    def from_scope(cls, org_id: str, queues: list[str] | tuple[str, ...] | None) -> Tenant:
        """Build from an API key's ``queues`` list: empty or containing "*" is unrestricted."""
        if not queues or "*" in queues:
            return cls(org_id, None)
        return cls(org_id, frozenset(queues))

    def allows(self, queue: str) -> bool:
        return self.queues is None or queue in self.queues

    def scope_header(self) -> str:
        return "*" if self.queues is None else ",".join(sorted(self.queues))

    @classmethod
    def from_headers(cls, org_id: str, scope: str | None) -> Tenant:
        if not scope or scope == "*":
            return cls(org_id, None)
        return cls(org_id, frozenset(q for q in scope.split(",") if q))

"""Why a fenced settlement matched nothing (API.md §3.4).

complete / fail / heartbeat succeed only for the worker holding the job's
current, unexpired lease. When the fenced UPDATE touches no row, the job's
state says which error the worker gets:

* processing, lease expired          → LeaseExpired "Job lease expired ..."
* processing, another lease/worker   → LeaseExpired "lease_id does not match ..."
* pending | scheduled (requeued)     → LeaseExpired "Job lease expired ..."
* completed | failed | deadletter | cancelled → Conflict "Job is already <status>"
* no such job (or outside the scope) → NotFound
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from spooled_common import errors
from spooled_common.tenant import Tenant

Operation = Literal["complete", "fail", "heartbeat"]

EXPIRED: dict[Operation, str] = {
    "complete": "Job lease expired before completion",
    "fail": "Job lease expired before failure was reported",
    "heartbeat": "Job lease expired and cannot be extended",
}
MISMATCH = "lease_id does not match the job's current lease; this worker no longer holds it"
LEASE_REQUIRED = "lease_id is required for job settlement"


def miss_error(op: Operation, state: Mapping[str, Any] | None, tenant: Tenant) -> errors.AppError:
    """The error for a settlement that matched no row, given the job's current state."""
    if state is None or not tenant.allows(state["queue_name"]):
        return errors.NotFound("Job not found or not owned by worker")
    status = state["status"]
    if status == "processing":
        return errors.LeaseExpired(EXPIRED[op] if not state["lease_live"] else MISMATCH)
    if status in ("pending", "scheduled"):
        return errors.LeaseExpired(EXPIRED[op])
    return errors.Conflict(f"Job is already {status}")

"""Classification of settlement misses (API.md §3.4)."""

from __future__ import annotations

from typing import Any

import pytest
from spooled_common import errors
from spooled_common.tenant import Tenant
from spooled_queue_core.leases import fencing

TENANT = Tenant("org")


def state(status: str, *, live: bool = True, queue: str = "q") -> dict[str, Any]:
    return {"status": status, "lease_live": live, "queue_name": queue}


class TestMissError:
    def test_missing_job_is_not_found(self) -> None:
        assert type(fencing.miss_error("complete", None, TENANT)) is errors.NotFound

    def test_out_of_scope_job_is_not_found(self) -> None:
        scoped = Tenant("org", frozenset({"other"}))
        assert type(fencing.miss_error("complete", state("processing"), scoped)) is errors.NotFound

    @pytest.mark.parametrize("op", ["complete", "fail", "heartbeat"])
    def test_expired_lease(self, op: fencing.Operation) -> None:
        err = fencing.miss_error(op, state("processing", live=False), TENANT)
        assert isinstance(err, errors.LeaseExpired) and err.message == fencing.EXPIRED[op]
        assert "lease expired" in err.message.lower()

    def test_live_lease_held_by_someone_else(self) -> None:
        err = fencing.miss_error("complete", state("processing"), TENANT)
        assert isinstance(err, errors.LeaseExpired)
        assert "does not match the job's current lease" in err.message

    @pytest.mark.parametrize("status", ["pending", "scheduled"])
    def test_requeued_job(self, status: str) -> None:
        assert isinstance(fencing.miss_error("fail", state(status), TENANT), errors.LeaseExpired)

    @pytest.mark.parametrize("status", ["completed", "failed", "deadletter", "cancelled"])
    def test_terminal_job_is_conflict(self, status: str) -> None:
        err = fencing.miss_error("complete", state(status), TENANT)
        assert type(err) is errors.Conflict and err.message == f"Job is already {status}"
        assert err.status == 409 and err.code == "CONFLICT"

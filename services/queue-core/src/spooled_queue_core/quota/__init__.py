"""Plan limits inside queue-core: one admission path for every way a job enters.

Jobs become active through create/bulk (REST, gRPC, the scheduler firing,
incoming webhooks: all of them call CreateJob/CreateJobs), DLQ retry, operator
retry and workflows. Each goes through :class:`~.admission.Admission`:

1. reserve the jobs on billing's daily counter (atomic; payload size checked
   first) — that reply also carries the org's effective limits;
2. in the insert transaction, under the per-org advisory lock, check the
   active-jobs (and new-queue) caps against the same limits;
3. refund whatever was reserved but not created (failed insert, rejected
   items, idempotent duplicates).

Over a limit is the upstream 429 ``QUOTA_EXCEEDED`` body (gRPC
RESOURCE_EXHAUSTED "… limit reached (…)").
"""

from __future__ import annotations

from spooled_common import sql

#: Named queries of ``queries.sql`` in this package.
QUERIES = sql.Queries.load(__name__)

"""Per-connection filtering: tenant, key scope, queue/job subscriptions, event names."""

from __future__ import annotations

import pytest
from spooled_common import errors
from spooled_common.tenant import Tenant
from spooled_realtime.envelope import Envelope, Event
from spooled_realtime.filters import Filter, parse_events


def job_event(org: str = "o1", queue: str = "emails", job: str = "j1") -> Event:
    return Event(
        org,
        "job.failed",
        queue,
        job,
        "failed",
        (Envelope("JobStatusChange", {"job_id": job}), Envelope("JobFailed", {"job_id": job})),
    )


def worker_event(org: str = "o1", queue: str = "emails") -> Event:
    return Event(
        org,
        "worker.registered",
        queue,
        None,
        None,
        (Envelope("WorkerRegistered", {"worker_id": "w"}),),
    )


def types(flt: Filter, event: Event) -> list[str]:
    return [e.type for e in flt.envelopes(event)]


class TestTenancy:
    def test_other_orgs_see_nothing(self) -> None:
        assert types(Filter(Tenant("o2")), job_event("o1")) == []

    def test_scoped_key_sees_only_its_queues_and_no_worker_events(self) -> None:
        flt = Filter(Tenant("o1", frozenset({"emails"})))
        assert types(flt, job_event(queue="emails")) == ["JobStatusChange", "JobFailed"]
        assert types(flt, job_event(queue="billing")) == []
        assert types(flt, worker_event()) == []

    def test_unrestricted_key_sees_worker_events(self) -> None:
        assert types(Filter(Tenant("o1")), worker_event()) == ["WorkerRegistered"]


class TestQuery:
    def test_queue_job_and_event_filters(self) -> None:
        flt = Filter.from_query(Tenant("o1"), {"queue": "emails", "events": "JOB.failed"})
        assert types(flt, job_event()) == ["JobFailed"]
        assert types(flt, job_event(queue="other")) == []
        by_job = Filter.from_query(Tenant("o1"), {"job_id": "j2"})
        assert types(by_job, job_event(job="j1")) == []
        assert types(by_job, job_event(job="j2")) == ["JobStatusChange", "JobFailed"]

    def test_glob_queue(self) -> None:
        flt = Filter.from_query(Tenant("o1"), {"queue": "email*"})
        assert types(flt, job_event(queue="emails-eu")) != []
        assert types(flt, job_event(queue="billing")) == []

    def test_queue_outside_scope_is_403_and_bad_queue_400(self) -> None:
        with pytest.raises(errors.AccessDenied):
            Filter.from_query(Tenant("o1", frozenset({"a"})), {"queue": "b"})
        with pytest.raises(errors.ValidationError):
            Filter.from_query(Tenant("o1"), {"queue": "bad queue!"})

    def test_events_parsing(self) -> None:
        assert parse_events(None) is None
        assert parse_events("*") is None
        assert parse_events(" Job.Created, ping ,") == frozenset({"job.created", "ping"})


class TestSubscriptions:
    def test_subscribe_adds_and_unsubscribe_removes(self) -> None:
        flt = Filter(Tenant("o1"))
        flt.subscribe("emails", None)
        flt.subscribe(None, "j7")
        assert types(flt, job_event(queue="emails")) != []
        assert types(flt, job_event(queue="x", job="j7")) != []
        assert types(flt, job_event(queue="x", job="j8")) == []
        flt.unsubscribe("emails", None)
        assert types(flt, job_event(queue="emails")) == []
        flt.unsubscribe(None, None)
        assert types(flt, job_event(queue="x")) != []

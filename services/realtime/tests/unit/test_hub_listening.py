"""Events of organizations nobody here listens to are dropped on their subject."""

from __future__ import annotations

from spooled_realtime.hub import SUBJECT_PREFIX, Hub, token

ORG, OTHER = "0b6f7c3e-1d7e-4a53-9d0e-2f1c9b8a7e61", "org with spaces/and.dots"


def subject(org: str, queue: str = "emails", event: str = "job.completed") -> str:
    return f"{SUBJECT_PREFIX}.{token(org)}.{token(queue)}.{event}"


def test_only_organizations_with_a_subscriber_are_listened_to() -> None:
    hub = Hub("nats://unused")
    assert not hub.listening(subject(ORG))
    first, second = hub.register(ORG), hub.register(ORG)
    assert hub.listening(subject(ORG))
    assert not hub.listening(subject(OTHER))
    hub.unregister(first)
    assert hub.listening(subject(ORG)), "another subscriber of the org is still there"
    hub.unregister(second)
    assert not hub.listening(subject(ORG))


def test_escaped_organization_tokens_match_the_relay_subjects() -> None:
    hub = Hub("nats://unused")
    hub.register(OTHER)
    assert hub.listening(subject(OTHER, queue="a.b c"))
    assert not hub.listening(f"{SUBJECT_PREFIX}.{OTHER}.q.job.created")  # unescaped: not ours


def test_malformed_subjects_are_not_listened_to() -> None:
    hub = Hub("nats://unused")
    hub.register(ORG)
    assert not hub.listening("spooled.events")
    assert not hub.listening("")

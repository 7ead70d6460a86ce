"""Realtime's copy of the subject scheme must match the relay's (they are separate packages)."""

from __future__ import annotations

import pytest
from spooled_realtime import hub

wire = pytest.importorskip("spooled_queue_core.outbox.wire")


@pytest.mark.parametrize("value", ["org-1", "emails.v2", "a b*>", "ünïcode", "", "x_y-z"])
def test_token_escaping_matches(value: str) -> None:
    assert hub.token(value) == wire.token(value)


def test_stream_and_org_subject_match() -> None:
    assert hub.STREAM == wire.STREAM
    assert hub.org_subject("o.1") == wire.org_subject("o.1")

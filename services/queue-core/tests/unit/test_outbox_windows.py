"""How the relay cuts a batch into windows of publishes that may be in flight together."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest
from spooled_queue_core.outbox.settings import RelaySettings
from spooled_queue_core.outbox.windows import sequence_key, windows


def cut(keys: str, size: int = 256) -> list[str]:
    return ["".join(w) for w in windows(keys, size, key=lambda k: k)]


def test_a_repeated_aggregate_starts_the_next_window() -> None:
    assert cut("abcad") == ["abc", "ad"]
    assert cut("abab") == ["ab", "ab"]
    assert cut("aaa") == ["a", "a", "a"]


def test_windows_keep_every_row_once_in_order() -> None:
    keys = "abcabdcaeffb"
    got = cut(keys, 3)
    assert "".join(got) == keys
    assert all(len(w) <= 3 and len(set(w)) == len(w) for w in got)


def test_the_window_size_caps_a_run_of_distinct_aggregates() -> None:
    assert cut("abcdefg", 3) == ["abc", "def", "g"]
    assert cut("abc", 1) == ["a", "b", "c"]
    assert cut("") == []


def row(org: str, aggregate: str) -> dict[str, Any]:
    return {"organization_id": org, "aggregate": aggregate}


def test_the_same_aggregate_in_two_organizations_is_two_sequences() -> None:
    rows = [row("o1", "emails"), row("o2", "emails"), row("o1", "emails")]
    assert [len(w) for w in windows(rows, 256, key=sequence_key)] == [2, 1]


def test_the_window_setting_is_at_least_one() -> None:
    assert RelaySettings(NATS_URL="").publish_window == 256
    assert RelaySettings(NATS_URL="", OUTBOX_PUBLISH_WINDOW=1).publish_window == 1
    with pytest.raises(pydantic.ValidationError):
        RelaySettings(NATS_URL="", OUTBOX_PUBLISH_WINDOW=0)

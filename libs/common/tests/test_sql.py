from __future__ import annotations

import pytest
from spooled_common.sql import Queries, parse


def test_parse_splits_named_blocks_and_strips_semicolons() -> None:
    text = """
-- preamble comment is ignored
-- name: first
SELECT 1;

-- name: second
-- a comment inside the query stays
SELECT 2
FROM t;
"""
    q = parse(text)
    assert q == {
        "first": "SELECT 1",
        "second": "-- a comment inside the query stays\nSELECT 2\nFROM t",
    }


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate query name 'a'"):
        parse("-- name: a\nSELECT 1\n-- name: a\nSELECT 2")


def test_unknown_query_is_an_attribute_error() -> None:
    q = Queries({"known": "SELECT 1"})
    assert q.known == "SELECT 1"
    with pytest.raises(AttributeError, match="no query named 'missing'"):
        _ = q.missing

"""Named SQL queries kept in ``.sql`` files.

A file holds blocks headed by ``-- name: <query_name>``; the text up to the next
header is the query. Keeping SQL out of Python strings lets it be read,
reviewed and EXPLAINed as SQL, and each name maps to one prepared statement.
"""

from __future__ import annotations

import re
from importlib import resources

_HEADER = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


def parse(text: str) -> dict[str, str]:
    """Split a queries file into {name: sql}."""
    parts = _HEADER.split(text)
    queries: dict[str, str] = {}
    # parts = [preamble, name1, body1, name2, body2, ...]
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"duplicate query name {name!r}")
        queries[name] = body.strip().rstrip(";")
    return queries


class Queries:
    """Attribute access to named queries: ``q.claim_jobs``."""

    def __init__(self, queries: dict[str, str]) -> None:
        self._queries = queries

    @classmethod
    def load(cls, package: str, filename: str = "queries.sql") -> Queries:
        text = resources.files(package).joinpath(filename).read_text(encoding="utf-8")
        return cls(parse(text))

    def __getattr__(self, name: str) -> str:
        try:
            return self._queries[name]
        except KeyError:
            raise AttributeError(f"no query named {name!r}") from None

    def names(self) -> list[str]:
        return sorted(self._queries)

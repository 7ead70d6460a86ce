from __future__ import annotations

from spooled_common.tenant import Tenant


def test_empty_or_star_scope_is_unrestricted() -> None:
    assert Tenant.from_scope("o", []).queues is None
    assert Tenant.from_scope("o", ["a", "*"]).queues is None
    assert Tenant.from_scope("o", None).allows("anything")


def test_scoped_tenant_allows_only_its_queues_and_survives_the_header() -> None:
    t = Tenant.from_scope("o", ["emails", "sms"])
    assert t.allows("emails") and not t.allows("billing")
    back = Tenant.from_headers("o", t.scope_header())
    assert back == t
    assert Tenant.from_headers("o", "*").queues is None

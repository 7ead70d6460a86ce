"""API key material, the auth cache and the admin-key comparison."""

from __future__ import annotations

import base64
import hashlib
import time

import pytest
from spooled_gateway.auth import keys
from spooled_gateway.auth.cache import TtlCache
from spooled_gateway.auth.deps import admin_key_matches


class TestMint:
    def test_format_is_prefix_env_and_43_base64url_chars(self) -> None:
        key = keys.mint("test")
        assert key.raw.startswith("sp_test_")
        body = key.raw[len("sp_test_") :]
        assert len(body) == 43 and "=" not in body
        assert len(base64.urlsafe_b64decode(body + "=")) == 32

    def test_only_a_sha256_and_a_display_prefix_are_derived(self) -> None:
        key = keys.mint("live")
        assert key.lookup_hash == hashlib.sha256(key.raw.encode()).hexdigest()
        assert key.key_prefix == key.raw[:12]
        assert key.raw.startswith("sp_live_")

    def test_keys_are_unique(self) -> None:
        assert len({keys.mint("test").raw for _ in range(200)}) == 200


@pytest.mark.parametrize(
    ("raw", "ok"),
    [
        ("sp_test_abcdefgh", True),
        ("sk_live_legacykey", True),
        ("sp_", False),
        ("Bearer sp_x", False),
        ("pk_test_abcdefghij", False),
        ("sp_" + "a" * 400, False),
    ],
)
def test_plausible(raw: str, ok: bool) -> None:
    assert keys.plausible(raw) is ok


class TestTtlCache:
    def test_entries_expire(self) -> None:
        cache: TtlCache[int] = TtlCache(ttl_s=0.05)
        cache.put("a", 1)
        assert cache.get("a") == 1
        time.sleep(0.06)
        assert cache.get("a") is None

    def test_ttl_is_capped_so_revocations_apply(self) -> None:
        with pytest.raises(ValueError):
            TtlCache(ttl_s=30)

    def test_size_is_bounded(self) -> None:
        cache: TtlCache[int] = TtlCache(max_entries=3)
        for i in range(10):
            cache.put(i, i)
        assert len(cache) <= 3


def test_admin_key_comparison() -> None:
    assert admin_key_matches("s3cret-admin", "s3cret-admin")
    assert not admin_key_matches("s3cret-admin", "s3cret-admin ")
    assert not admin_key_matches("s3cret-admin", "")

"""JWT minting and verification: only our HS256 tokens with sane claims pass."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from spooled_common import errors
from spooled_gateway.auth import tokens

SECRET = "unit-test-secret-" + "x" * 64


def _claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "sub": "org-1",
        "org_id": "org-1",
        "api_key_id": "key-1",
        "queues": ["*"],
        "iat": now,
        "exp": now + 60,
        "nbf": now,
        "jti": "j-1",
        "token_type": "access",
        "sid": "s-1",
    }
    base.update(over)
    return base


class TestIssuePair:
    def test_access_and_refresh_share_a_session_but_not_an_id(self) -> None:
        pair = tokens.issue_pair(SECRET, 2, org_id="o", api_key_id="k", queues=("a", "b"))
        access = tokens.decode(SECRET, pair.access_token)
        refresh = tokens.decode(SECRET, pair.refresh_token)
        assert access.sid == refresh.sid
        assert access.jti != refresh.jti
        assert (access.token_type, refresh.token_type) == ("access", "refresh")
        assert access.queues == ("a", "b")
        assert access.exp - access.iat == 2 * 3600
        assert refresh.exp - refresh.iat == 2 * 3600 * tokens.REFRESH_FACTOR
        raw = jwt.decode(pair.access_token, SECRET, algorithms=["HS256"])
        assert set(raw) == {
            "sub",
            "org_id",
            "api_key_id",
            "queues",
            "iat",
            "exp",
            "nbf",
            "jti",
            "token_type",
            "sid",
        }
        assert jwt.get_unverified_header(pair.access_token)["alg"] == "HS256"

    def test_lifetimes_follow_jwt_expiration_hours(self) -> None:
        assert tokens.lifetimes(24) == (86_400, 86_400 * 24)


class TestDecodeRefuses:
    @pytest.mark.parametrize(
        "token",
        [
            pytest.param(jwt.encode(_claims(), None, algorithm="none"), id="alg-none"),
            pytest.param(
                jwt.encode(_claims(), SECRET + "x" * 40, algorithm="HS512"), id="hs512-other-secret"
            ),
            pytest.param(jwt.encode(_claims(), SECRET, algorithm="HS512"), id="hs512-same-secret"),
            pytest.param(
                jwt.encode(_claims(), "another-secret-entirely-0123456789", algorithm="HS256"),
                id="wrong-secret",
            ),
            pytest.param(
                jwt.encode(_claims(exp=int(time.time()) - 5), SECRET, algorithm="HS256"),
                id="expired",
            ),
            pytest.param(
                jwt.encode(_claims(nbf=int(time.time()) + 600), SECRET, algorithm="HS256"),
                id="not-yet-valid",
            ),
            pytest.param(
                jwt.encode(
                    {k: v for k, v in _claims().items() if k != "exp"}, SECRET, algorithm="HS256"
                ),
                id="no-exp",
            ),
            pytest.param(
                jwt.encode(_claims(token_type="admin"), SECRET, algorithm="HS256"),
                id="unknown-type",
            ),
            pytest.param(
                jwt.encode(_claims(sub="org-2"), SECRET, algorithm="HS256"), id="sub-not-org"
            ),
            pytest.param(
                jwt.encode(_claims(queues="*"), SECRET, algorithm="HS256"), id="queues-not-list"
            ),
            pytest.param("eyJhbGciOiJIUzI1NiJ9.garbage.garbage", id="garbage"),
            pytest.param("", id="empty"),
        ],
    )
    def test_bad_tokens(self, token: str) -> None:
        with pytest.raises(errors.Unauthorized) as info:
            tokens.decode(SECRET, token)
        assert info.value.message == "Invalid token"

    def test_valid_token_round_trips(self) -> None:
        claims = tokens.decode(SECRET, jwt.encode(_claims(), SECRET, algorithm="HS256"))
        assert claims.org_id == "org-1" and claims.sid == "s-1"

    def test_token_without_sid_is_its_own_session(self) -> None:
        raw = {k: v for k, v in _claims().items() if k != "sid"}
        assert tokens.decode(SECRET, jwt.encode(raw, SECRET, algorithm="HS256")).sid == "j-1"

"""Security of credentials: JWTs that must be refused, API keys stored only hashed.

JWTs (API.md §2.3) are HS256 with ``JWT_SECRET``; upstream tokens carry no issuer or
audience, so there is none to check. Every token below reaches a protected route and must
get 401 ``UNAUTHORIZED``: a wrong or missing algorithm, a wrong key, an expired or
not-yet-valid token, a refresh token used as an access token, a tampered payload, a token
whose session was revoked by logout, and one whose API key was revoked.

API keys: after creating keys every way the API offers, no table or column of any schema
holds a raw key (nor a 16-character piece of one), as the superuser sees the database.
(Secrets in logs: test_secrets_not_logged.py.)
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import warnings
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import jwt
import pytest
from spooled_testing import reliability
from spooled_testing.postgres import SUPERUSER
from spooled_testing.stack import Stack

from .conftest import API, Org, expect

pytestmark = pytest.mark.e2e


def _b64(doc: dict[str, Any] | bytes) -> str:
    raw = doc if isinstance(doc, bytes) else json.dumps(doc, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def hand_signed(header: dict[str, Any], claims: dict[str, Any], key: bytes | None) -> str:
    """A JWT built by hand, so any ``alg`` header can be paired with any signature."""
    signing_input = f"{_b64(header)}.{_b64(claims)}"
    if key is None:
        return signing_input + "."
    sig = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(sig)}"


@pytest.fixture(scope="module")
def jwt_secret(stack: Stack) -> str:
    return (stack.base / "jwt_secret").read_text().strip()


def login(stack: Stack, api_key: str) -> dict[str, Any]:
    r = httpx.post(f"{stack.base_url}{API}/auth/login", json={"api_key": api_key}, timeout=30)
    return dict(expect(r, 200))


def get_jobs(stack: Stack, token: str) -> httpx.Response:
    return httpx.get(
        f"{stack.base_url}{API}/jobs", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


@pytest.fixture(scope="module")
def session(stack: Stack, make_org: Any) -> Iterator[tuple[Org, dict[str, Any]]]:
    org = make_org("jwt")
    yield org, login(stack, org.api_key)


def test_jwts_that_must_be_refused(
    stack: Stack, session: tuple[Org, dict[str, Any]], jwt_secret: str, make_org: Any
) -> None:
    org, tokens = session
    good = tokens["access_token"]
    expect(get_jobs(stack, good), 200)  # the baseline: a real access token works
    claims = jwt.decode(good, options={"verify_signature": False})
    now = int(time.time())
    secret = jwt_secret.encode()
    other = make_org("jwt-other")

    def signed(alg: str = "HS256", key: str = jwt_secret, **changes: Any) -> str:
        body = {**claims, **changes}
        with warnings.catch_warnings():  # PyJWT's advice on key length is not for forgers
            warnings.simplefilter("ignore")
            return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm=alg)

    header, payload, signature = good.split(".")
    tampered_claims = {**claims, "org_id": other.id, "sub": other.id}
    refused = {
        "alg none": hand_signed({"alg": "none", "typ": "JWT"}, claims, None),
        "alg none, signature kept": hand_signed({"alg": "none"}, claims, None) + signature,
        "alg None (case)": hand_signed({"alg": "None", "typ": "JWT"}, claims, None),
        "HS256, wrong secret": signed(key="not-the-secret-" + "x" * 32),
        "HS512 with the right secret": signed(alg="HS512"),
        "HS384 with the right secret": signed(alg="HS384"),
        # RS256 confusion: an RS256 header over an HMAC made with the server's key.
        "RS256 header, HMAC signature": hand_signed({"alg": "RS256", "typ": "JWT"}, claims, secret),
        "ES256 header, HMAC signature": hand_signed({"alg": "ES256", "typ": "JWT"}, claims, secret),
        "expired": signed(iat=now - 7200, nbf=now - 7200, exp=now - 3600),
        "not yet valid (nbf)": signed(nbf=now + 3600, exp=now + 7200),
        "no exp": signed(exp=None),
        "refresh token as access": tokens["refresh_token"],
        "payload swapped to another org": f"{header}.{_b64(tampered_claims)}.{signature}",
        "signature stripped": f"{header}.{payload}.",
        "garbage after eyJ": "eyJ" + "A" * 40,
    }
    for name, token in refused.items():
        doc = expect(get_jobs(stack, token), 401, "UNAUTHORIZED")
        assert "Traceback" not in doc["message"], (name, doc)

    # Revocation: logout ends the session (access and refresh token alike).
    r = httpx.post(
        f"{stack.base_url}{API}/auth/logout",
        headers={"Authorization": f"Bearer {good}"},
        json={"refresh_token": tokens["refresh_token"]},
        timeout=30,
    )
    expect(r, 204)
    expect(get_jobs(stack, good), 401, "UNAUTHORIZED")
    r = httpx.post(
        f"{stack.base_url}{API}/auth/refresh",
        json={"refresh_token": tokens["refresh_token"]},
        timeout=30,
    )
    expect(r, 401)

    # A JWT dies with its API key.
    extra = expect(org.http().post("/api-keys", json={"name": "short lived"}), 201)
    keyed = login(stack, extra["key"])["access_token"]
    expect(get_jobs(stack, keyed), 200)
    expect(org.http().delete(f"/api-keys/{extra['id']}"), 204)
    expect(get_jobs(stack, keyed), 401, "UNAUTHORIZED")

    reliability.record(
        "security",
        "forged, expired, revoked and misused JWTs",
        "401 UNAUTHORIZED on a protected route for each; the genuine token works until logout",
        f"{len(refused) + 2} tokens refused: " + "; ".join(refused) + "; logged out; key revoked",
        requests=len(refused) + 6,
    )


# -- API keys at rest ----------------------------------------------------------------
TEXTUAL = {"text", "character varying", "character", "json", "jsonb", "name", "ARRAY"}


async def _scan(dsn: str, needles: list[str]) -> tuple[int, list[str]]:
    """(columns scanned, "schema.table.column" holding any needle) over every schema."""
    conn = await asyncpg.connect(dsn)
    try:
        columns = await conn.fetch(
            """
            SELECT c.table_schema, c.table_name, c.column_name, c.data_type
            FROM information_schema.columns c
            JOIN information_schema.tables t
              ON t.table_schema = c.table_schema AND t.table_name = c.table_name
            WHERE t.table_type = 'BASE TABLE'
              AND c.table_schema NOT IN ('pg_catalog', 'information_schema')
              AND c.table_schema NOT LIKE 'pg_toast%'
            """
        )
        found = []
        scanned = 0
        for col in columns:
            ident = ".".join(
                '"{}"'.format(part.replace('"', '""'))
                for part in (col["table_schema"], col["table_name"], col["column_name"])
            )
            table = ident.rsplit(".", 1)[0]
            column = ident.rsplit(".", 1)[1]
            if col["data_type"] == "bytea":
                sql = f"SELECT count(*) FROM {table} WHERE position($1::bytea IN {column}) > 0"
                hits = [await conn.fetchval(sql, n.encode()) for n in needles]
            elif col["data_type"] in TEXTUAL:
                sql = f"SELECT count(*) FROM {table} WHERE strpos({column}::text, $1) > 0"
                hits = [await conn.fetchval(sql, n) for n in needles]
            else:
                continue
            scanned += 1
            if any(hits):
                found.append(ident)
        return scanned, found
    finally:
        await conn.close()


def _pieces(key: str) -> list[str]:
    """The key, its random part, and 16-character windows of it."""
    body = key.split("_", 2)[-1]
    return [key, body, *(body[i : i + 16] for i in range(0, len(body) - 15, 9))]


def test_api_keys_are_stored_only_hashed(stack: Stack, make_org: Any, org: Org) -> None:
    fresh = make_org("hashed")
    raw = [fresh.api_key, org.api_key]
    raw.append(expect(fresh.http().post("/api-keys", json={"name": "second"}), 201)["key"])
    raw.append(
        expect(
            fresh.http().post("/api-keys", json={"name": "scoped", "queues": ["only-this"]}), 201
        )["key"]
    )
    admin = httpx.post(
        f"{stack.base_url}{API}/admin/organizations/{fresh.id}/api-keys",
        json={"name": "by admin"},
        headers={"X-Admin-Key": stack.admin_key},
        timeout=30,
    )
    raw.append(expect(admin, 201)["key"])
    for key in raw:  # each is a working key (so the scan looks for real ones)
        expect(get_jobs(stack, key), 200)

    assert stack.postgres is not None
    dsn = stack.postgres.dsn_for(stack.database_url.rsplit("/", 1)[1], SUPERUSER)
    needles = [piece for key in raw for piece in _pieces(key)]
    scanned, found = asyncio.run(_scan(dsn, needles))
    assert scanned > 50, f"only {scanned} text columns scanned"
    assert not found, f"raw API key material stored in: {found}"
    # ...and what is stored is the SHA-256 of each key.
    hashes = [hashlib.sha256(k.encode()).hexdigest() for k in raw]
    _, holders = asyncio.run(_scan(dsn, hashes))
    assert holders == ['"gateway"."api_keys"."lookup_hash"'], holders

    reliability.record(
        "security",
        "API keys at rest",
        "no raw key (nor any 16-character piece of one) in any column of any schema; "
        "only their SHA-256 in gateway.api_keys.lookup_hash",
        f"{len(raw)} keys (sign-up, API, scoped, admin) searched in {scanned} text/json/bytea "
        "columns: none found",
        keys=len(raw),
        columns=scanned,
    )

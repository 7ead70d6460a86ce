"""The published OpenAPI document says what the gateway really answers.

Errors are the upstream ``{code, message, details?}`` body under ``default`` on every
operation (FastAPI's 422 ``HTTPValidationError`` is never sent: validation is 400), and
each operation names the credentials it needs. tests/e2e/test_openapi_fuzz.py checks
live responses against this document.
"""

from __future__ import annotations

from typing import Any

import pytest
from spooled_gateway.app import create_app
from spooled_gateway.schemas import common, listing
from spooled_gateway.settings import GatewaySettings

METHODS = ("get", "put", "post", "delete", "patch")
PUBLIC = {
    ("get", "/health"),
    ("get", "/health/live"),
    ("get", "/health/ready"),
    ("get", "/ready"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/auth/validate"),
    ("post", "/api/v1/organizations"),
    ("get", "/api/v1/organizations/check-slug"),
    ("post", "/api/v1/organizations/generate-slug"),
    # Authenticated by the provider's signature or the org's webhook token.
    ("post", "/api/v1/webhooks/{org_id}/{provider}"),
    ("post", "/api/v1/billing/webhook"),
}


#: Operations whose success is not a JSON body, and why; every other 2xx has a schema.
UNTYPED_SUCCESS = {
    ("get", "/api/v1/events"): "an SSE stream (text/event-stream)",
    ("get", "/api/v1/events/jobs/{job_id}"): "an SSE stream (text/event-stream)",
    ("get", "/api/v1/events/queues/{name}"): "an SSE stream (text/event-stream)",
    ("post", "/api/v1/workers/{worker_id}/heartbeat"): "200 with an empty body, as upstream",
    ("post", "/api/v1/organizations/webhook-token/clear"): "always 400, as upstream",
}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    app = create_app(GatewaySettings(DATABASE_URL="postgresql://unused/unused"))  # type: ignore[call-arg]
    return app.openapi()


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def test_every_error_is_the_upstream_body(doc: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    body = doc["components"]["schemas"]["ErrorBody"]
    assert body["required"] == ["code", "message"]
    for method, path, op in operations(doc):
        assert "422" not in op["responses"], (method, path)
        ref = op["responses"]["default"]["content"]["application/json"]["schema"]["$ref"]
        assert ref == "#/components/schemas/ErrorBody", (method, path)


def test_operations_name_their_credentials(doc: dict[str, Any]) -> None:
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["adminKey"]["name"] == "X-Admin-Key"
    for method, path, op in operations(doc):
        names = {name for req in op.get("security", []) for name in req}
        if (method, path) in PUBLIC:
            assert not names, (method, path)
        elif path.startswith("/api/v1/admin/"):
            assert names == {"adminKey"}, (method, path)
        elif path.startswith("/api/v1/events"):
            assert names == {"bearerAuth", "tokenQuery", "apiKeyQuery"}, (method, path)
        else:
            assert names == {"bearerAuth"}, (method, path)


def test_bodies_are_described_as_sent(doc: dict[str, Any]) -> None:
    heartbeat = doc["paths"]["/api/v1/workers/{worker_id}/heartbeat"]["post"]["responses"]
    assert "content" not in heartbeat["200"]  # 200 with an empty body, as upstream
    for path in ("/api/v1/events", "/api/v1/events/jobs/{job_id}"):
        assert list(doc["paths"][path]["get"]["responses"]["200"]["content"]) == [
            "text/event-stream"
        ]
    job = doc["paths"]["/api/v1/jobs"]["post"]["requestBody"]["content"]["application/json"]
    pattern = job["schema"]["properties"]["queue_name"]["pattern"]
    assert pattern == "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$"


def test_offsets_are_clamped_to_int32() -> None:
    assert listing.page_offset(-5) == 0
    assert listing.page_offset(10**30) == listing.MAX_OFFSET == 2**31 - 1
    assert listing.list_request(offset=2**63).offset == 2**31 - 1


@pytest.mark.parametrize("value", ["0.5", "1700000000", " -1 ", "+3"])
def test_query_timestamps_refuse_numbers(value: str) -> None:
    from pydantic import TypeAdapter, ValidationError

    with pytest.raises(ValidationError):
        TypeAdapter(common.QueryTimestamp).validate_python(value)
    assert TypeAdapter(common.QueryTimestamp).validate_python("2026-01-01T00:00:00Z").year == 2026


def _json_schema(response: dict[str, Any]) -> dict[str, Any]:
    return response.get("content", {}).get("application/json", {}).get("schema", {})


def test_every_success_body_has_a_schema(doc: dict[str, Any]) -> None:
    """schemathesis checks live 2xx bodies only against a schema the document gives."""
    untyped = set()
    for method, path, op in operations(doc):
        success = {c: r for c, r in op["responses"].items() if c.startswith("2")}
        assert success, (method, path)
        if not any(code == "204" or _json_schema(r) for code, r in success.items()):
            untyped.add((method, path))
    assert untyped == set(UNTYPED_SUCCESS)


def test_success_bodies_allow_fields_added_later(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    for method, path, op in operations(doc):
        for code, response in op["responses"].items():
            schema = _json_schema(response) if code.startswith("2") else {}
            ref = schema.get("$ref") or schema.get("items", {}).get("$ref")
            if ref:
                body = schemas[ref.removeprefix("#/components/schemas/")]
                assert body.get("additionalProperties") is True, (method, path, ref)


def test_readiness_documents_its_503_body(doc: dict[str, Any]) -> None:
    for path in ("/ready", "/health/ready"):
        responses = doc["paths"][path]["get"]["responses"]
        assert _json_schema(responses["503"]) == _json_schema(responses["200"])

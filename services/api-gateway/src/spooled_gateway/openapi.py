"""The published OpenAPI document: FastAPI's, corrected to say what the API really answers.

FastAPI documents a 422 ``HTTPValidationError`` on every operation with
parameters, but :mod:`spooled_gateway.http_errors` answers every failure
(validation included) with the upstream ``{code, message, details?}`` body and
upstream status codes (400, 401, 403, 404, 409, 413, 429, 503, ...). Here the
422 goes and each operation gets a ``default`` response with that body, so the
document describes every error a client can receive.

Guarded by tests/e2e/test_openapi_fuzz.py (schemathesis checks each response
against this document) and tests/unit/test_openapi_doc.py.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

ERROR_SCHEMA = "ErrorBody"
#: The error body of API.md §1.2; other fields (error, resource, limit, ...) may follow.
ERROR_BODY: dict[str, Any] = {
    "title": ERROR_SCHEMA,
    "type": "object",
    "required": ["code", "message"],
    "properties": {
        "code": {"type": "string", "description": "VALIDATION_ERROR, NOT_FOUND, ..."},
        "message": {"type": "string"},
        "details": {"description": "Field errors or other context"},
    },
    "additionalProperties": True,
}
_ERROR_RESPONSE = {
    "description": "An error: 4xx for the request, 503 (with Retry-After) when a dependency "
    "is down",
    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}}},
}
#: FastAPI's own validation schemas, never sent by this API.
_UNUSED = ("HTTPValidationError", "ValidationError")
_METHODS = ("get", "put", "post", "delete", "patch", "options", "head")


def correct(doc: dict[str, Any]) -> dict[str, Any]:
    """Replace FastAPI's 422 with the upstream error body on every operation."""
    for item in doc.get("paths", {}).values():
        for method in _METHODS:
            op = item.get(method)
            if op is None:
                continue
            responses = op.setdefault("responses", {})
            responses.pop("422", None)
            responses.setdefault("default", _ERROR_RESPONSE)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in _UNUSED:
        schemas.pop(name, None)
    schemas[ERROR_SCHEMA] = ERROR_BODY
    return doc


def install(app: FastAPI) -> None:
    """Serve the corrected document at ``/openapi.json`` and ``/docs``."""
    build = app.openapi  # FastAPI's: builds once and caches (the same dict each time)

    def document() -> dict[str, Any]:
        return correct(build())  # idempotent, so correcting the cached dict again is harmless

    app.openapi = document  # type: ignore[method-assign]

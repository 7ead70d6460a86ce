"""One place that turns every failure into the upstream `{code, message, details}` body.

FastAPI raises three kinds of errors on its own (bad JSON, failed validation,
unknown route/method); our code raises AppError. All four render here, so no
handler builds an error body by hand.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from spooled_common import db, errors
from starlette.exceptions import HTTPException as StarletteHTTPException

from spooled_gateway.responses import OrjsonResponse

log = logging.getLogger(__name__)

_STATUS_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "ACCESS_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    408: "REQUEST_TIMEOUT",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMIT_EXCEEDED",
    503: "SERVICE_UNAVAILABLE",
}


def render(err: errors.AppError) -> OrjsonResponse:
    return OrjsonResponse(err.body(), status_code=err.status, headers=err.headers or None)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def validation_details(exc: RequestValidationError) -> tuple[str, list[dict[str, str]], bool]:
    """(message, details, is_json_error) for a FastAPI validation failure."""
    details: list[dict[str, str]] = []
    json_error = False
    for e in exc.errors():
        kind = str(e.get("type", "invalid"))
        if kind == "json_invalid":
            json_error = True
            details.append(
                {"field": "body", "message": "Invalid JSON format", "code": "PARSE_ERROR"}
            )
            continue
        field = _field(tuple(e.get("loc", ())))
        msg = str(e.get("msg", "invalid value"))
        if kind == "extra_forbidden":
            msg = f"Unknown field '{field}'"
        elif kind == "missing":
            msg = f"Missing required field '{field}'"
        details.append({"field": field, "message": msg, "code": kind.upper()})
    first = details[0] if details else {"field": "body", "message": "Invalid request"}
    return f"{first['field']}: {first['message']}", details, json_error


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.AppError)
    async def _app_error(_: Request, exc: errors.AppError) -> OrjsonResponse:
        if exc.status >= 500:
            log.error("request failed: %s %s", exc.code, exc.message)
        return render(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> OrjsonResponse:
        message, details, json_error = validation_details(exc)
        if json_error:
            body = {
                "code": "INVALID_JSON",
                "error": "Invalid JSON",
                "message": message,
                "details": details,
            }
        else:
            body = {
                "code": "VALIDATION_ERROR",
                "error": "Validation failed",
                "message": message,
                "details": details,
            }
        return OrjsonResponse(body, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> OrjsonResponse:
        code = _STATUS_CODES.get(exc.status_code, "ERROR")
        if exc.status_code == 404 and exc.detail == "Not Found":
            message = "No route matches this path"
        elif exc.status_code == 405:
            message = "This path does not support the request method"
        else:
            message = str(exc.detail)
        return OrjsonResponse(
            {"code": code, "message": message},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unhandled(_: Request, exc: Exception) -> OrjsonResponse:
        # A database outage that escaped the DB edge is a 503 with Retry-After, never a 500.
        down = db.unavailable(exc)
        if down is not None:
            log.error("request failed: database unavailable: %r", exc)
            return render(down)
        log.exception("unhandled error", exc_info=exc)
        return render(errors.InternalError())

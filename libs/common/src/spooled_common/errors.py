"""Errors every Spooled service raises, with the HTTP status and code they render as.

Hierarchy::

    AppError                      base: status, code, message, details
    ├── ValidationError           400 VALIDATION_ERROR
    ├── BadRequest                400 BAD_REQUEST
    ├── Unauthorized              401 UNAUTHORIZED
    ├── AccessDenied              403 ACCESS_DENIED
    │   └── FeatureDisabled       403 FEATURE_DISABLED
    ├── NotFound                  404 NOT_FOUND
    ├── Conflict                  409 CONFLICT
    │   └── LeaseExpired          409 LEASE_EXPIRED
    ├── PayloadTooLarge           413 PAYLOAD_TOO_LARGE
    ├── RateLimited               429 RATE_LIMIT_EXCEEDED
    ├── QuotaExceeded             429 QUOTA_EXCEEDED
    ├── ServiceUnavailable        503 SERVICE_UNAVAILABLE
    └── InternalError             500 INTERNAL_ERROR

The same error crosses internal gRPC (``to_grpc_status``/``from_rpc_error``) so a
404 raised in queue-core reaches the REST client as the same 404 body. The
docstring of each class is its default message.
"""

from __future__ import annotations

from typing import Any, ClassVar

import grpc
import orjson

#: Trailer that carries the rendered error body across internal gRPC.
ERROR_TRAILER = "x-spooled-error-bin"


class AppError(Exception):
    """An unexpected error occurred."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "INTERNAL_ERROR"
    grpc_code: ClassVar[grpc.StatusCode] = grpc.StatusCode.INTERNAL

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Any = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.message = message or (self.__doc__ or "").strip()
        self.details = details
        self.headers = headers or {}
        #: Additional top-level body fields (quota bodies carry resource/limit/plan).
        self.extra = extra or {}
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            out["details"] = self.details
        out.update(self.extra)
        return out


class ValidationError(AppError):
    """The request is invalid."""

    status = 400
    code = "VALIDATION_ERROR"
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT


class BadRequest(AppError):
    """Bad request."""

    status = 400
    code = "BAD_REQUEST"
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT


class Unauthorized(AppError):
    """Missing or invalid credentials."""

    status = 401
    code = "UNAUTHORIZED"
    grpc_code = grpc.StatusCode.UNAUTHENTICATED


class AccessDenied(AppError):
    """Access denied."""

    status = 403
    code = "ACCESS_DENIED"
    grpc_code = grpc.StatusCode.PERMISSION_DENIED


class FeatureDisabled(AccessDenied):
    """This feature is not available on the organization's plan."""

    code = "FEATURE_DISABLED"


class NotFound(AppError):
    """Resource not found."""

    status = 404
    code = "NOT_FOUND"
    grpc_code = grpc.StatusCode.NOT_FOUND


class Conflict(AppError):
    """The resource is in a state that does not allow this."""

    status = 409
    code = "CONFLICT"
    grpc_code = grpc.StatusCode.FAILED_PRECONDITION


class AlreadyExists(Conflict):
    """The resource already exists."""

    grpc_code = grpc.StatusCode.ALREADY_EXISTS


class LeaseExpired(Conflict):
    """Job lease expired before completion."""

    code = "LEASE_EXPIRED"


class PayloadTooLarge(AppError):
    """Payload too large."""

    status = 413
    code = "PAYLOAD_TOO_LARGE"
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT


class RateLimited(AppError):
    """Rate limit exceeded."""

    status = 429
    code = "RATE_LIMIT_EXCEEDED"
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED


class QuotaExceeded(AppError):
    """Plan limit reached."""

    status = 429
    code = "QUOTA_EXCEEDED"
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED


class ServiceUnavailable(AppError):
    """A dependency is unavailable; retry shortly."""

    status = 503
    code = "SERVICE_UNAVAILABLE"
    grpc_code = grpc.StatusCode.UNAVAILABLE


class InternalError(AppError):
    """An internal error occurred."""


_BY_CODE: dict[tuple[int, str], type[AppError]] = {
    (cls.status, cls.code): cls
    for cls in (
        ValidationError,
        BadRequest,
        Unauthorized,
        AccessDenied,
        FeatureDisabled,
        NotFound,
        Conflict,
        LeaseExpired,
        PayloadTooLarge,
        RateLimited,
        QuotaExceeded,
        ServiceUnavailable,
        InternalError,
    )
}


def encode(err: AppError) -> bytes:
    """Serialize an error for the internal gRPC trailer."""
    return orjson.dumps(
        {
            "status": err.status,
            "code": err.code,
            "message": err.message,
            "details": err.details,
            "headers": err.headers,
            "extra": err.extra,
        }
    )


def decode(raw: bytes) -> AppError:
    """Rebuild the AppError a peer service raised from its trailer."""
    doc = orjson.loads(raw)
    cls = _BY_CODE.get((doc["status"], doc["code"]), AppError)
    err = cls(
        doc["message"],
        details=doc.get("details"),
        headers=doc.get("headers"),
        extra=doc.get("extra"),
    )
    if cls is AppError:
        # Keep an unknown peer code verbatim rather than flattening it to 500.
        err.status = doc["status"]  # type: ignore[misc]
        err.code = doc["code"]  # type: ignore[misc]
    return err


def from_rpc_error(exc: grpc.RpcError) -> AppError:
    """Translate a failed internal call into the AppError it carried.

    A peer that is down or overloaded becomes 503 (so clients retry), never 500.
    """
    trailers = getattr(exc, "trailing_metadata", lambda: None)() or ()
    for key, value in trailers:
        if key == ERROR_TRAILER:
            return decode(value if isinstance(value, bytes) else value.encode())
    code = exc.code() if hasattr(exc, "code") else None
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return ServiceUnavailable(headers={"Retry-After": "1"})
    return InternalError()

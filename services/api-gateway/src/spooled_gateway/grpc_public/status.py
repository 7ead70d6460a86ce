"""How an AppError reaches a public gRPC client: status code, details text, trailers.

The official SDK classifies errors by code *and* text, so a few texts are fixed:

* a lost lease is ``FAILED_PRECONDITION`` whose details are exactly
  ``lease expired`` or contain ``does not match the job's current lease``; the
  SDK turns both into ``LEASE_EXPIRED`` (anything else under that code is a
  plain conflict, e.g. "Job is already completed");
* ``RESOURCE_EXHAUSTED`` is a plan quota when the text says ``limit reached``
  and no ``retry-after`` trailer is present, otherwise a rate limit.

Inside a ProcessJobs stream the same errors become ``ErrorResponse{code,
message}`` and the stream lives on.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import grpc
from spooled_common import db, errors
from spooled_proto.spooled.v1 import spooled_pb2 as pb

log = logging.getLogger(__name__)

#: The SDK's snippet for a superseded lease; queue-core's message contains it.
LEASE_MISMATCH_SNIPPET = "does not match the job's current lease"
#: Every other lost-lease case, in the one spelling the SDK matches exactly.
LEASE_EXPIRED_TEXT = "lease expired"

#: In-band codes that differ from the gRPC status name (upstream's spelling).
_INBAND_CODES: dict[type[errors.AppError], str] = {
    errors.LeaseExpired: "LEASE_EXPIRED",
    errors.RateLimited: "RATE_LIMIT_EXCEEDED",
    errors.QuotaExceeded: "QUOTA_EXCEEDED",
}


def details_for(err: errors.AppError) -> str:
    if isinstance(err, errors.LeaseExpired):
        return err.message if LEASE_MISMATCH_SNIPPET in err.message else LEASE_EXPIRED_TEXT
    return err.message


def trailers_for(err: errors.AppError) -> tuple[tuple[str, str], ...]:
    """A ``retry-after`` trailer for rate limits only (its absence marks a quota)."""
    if isinstance(err, errors.QuotaExceeded):
        return ()
    retry_after = {k.lower(): v for k, v in err.headers.items()}.get("retry-after")
    return (("retry-after", str(retry_after)),) if retry_after else ()


def error_response(err: errors.AppError) -> pb.ProcessResponse:
    """The in-band form used by ProcessJobs."""
    code = _INBAND_CODES.get(type(err)) or err.grpc_code.name
    return pb.ProcessResponse(error=pb.ErrorResponse(code=code, message=details_for(err)))


def internal_error(where: str) -> errors.AppError:
    log.exception("unhandled error in gRPC %s", where)
    return errors.InternalError("Internal server error")


async def abort(context: grpc.aio.ServicerContext, err: errors.AppError) -> NoReturn:
    """End the call with ``err``; raises (``context.abort`` never returns)."""
    trailers = trailers_for(err)
    if trailers:
        context.set_trailing_metadata(trailers)
    await context.abort(err.grpc_code, details_for(err))
    raise AssertionError("context.abort() returned")  # pragma: no cover


F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


def unary(fn: F) -> F:
    """Servicer method decorator: AppError → status; anything unexpected → INTERNAL."""

    @functools.wraps(fn)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await fn(self, request, context)
        except errors.AppError as err:
            await abort(context, err)
        except (grpc.aio.AbortError, grpc.RpcError):
            raise  # context.abort() raises AbortError; let it through untouched
        except Exception as exc:
            # A database outage that escaped the DB edge is UNAVAILABLE, never INTERNAL.
            await abort(context, db.unavailable(exc) or internal_error(fn.__name__))

    return wrapper  # type: ignore[return-value]

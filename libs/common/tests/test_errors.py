from __future__ import annotations

import grpc
import pytest
from spooled_common import errors


@pytest.mark.parametrize(
    ("cls", "status", "code"),
    [
        (errors.ValidationError, 400, "VALIDATION_ERROR"),
        (errors.Unauthorized, 401, "UNAUTHORIZED"),
        (errors.AccessDenied, 403, "ACCESS_DENIED"),
        (errors.NotFound, 404, "NOT_FOUND"),
        (errors.Conflict, 409, "CONFLICT"),
        (errors.LeaseExpired, 409, "LEASE_EXPIRED"),
        (errors.PayloadTooLarge, 413, "PAYLOAD_TOO_LARGE"),
        (errors.QuotaExceeded, 429, "QUOTA_EXCEEDED"),
        (errors.ServiceUnavailable, 503, "SERVICE_UNAVAILABLE"),
    ],
)
def test_round_trip_through_the_internal_trailer(
    cls: type[errors.AppError], status: int, code: str
) -> None:
    err = cls("boom", details={"field": "x"}, headers={"Retry-After": "2"}, extra={"limit": 5})
    back = errors.decode(errors.encode(err))
    assert type(back) is cls
    assert (back.status, back.code, back.message) == (status, code, "boom")
    assert back.details == {"field": "x"}
    assert back.headers == {"Retry-After": "2"}
    assert back.body() == {"code": code, "message": "boom", "details": {"field": "x"}, "limit": 5}


def test_default_message_is_the_docstring_and_details_are_omitted_when_none() -> None:
    assert errors.NotFound().body() == {"code": "NOT_FOUND", "message": "Resource not found."}


def test_unknown_peer_code_is_kept_verbatim() -> None:
    raw = b'{"status": 418, "code": "TEAPOT", "message": "short and stout"}'
    err = errors.decode(raw)
    assert (err.status, err.code, err.message) == (418, "TEAPOT", "short and stout")


class _FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, trailers: tuple[tuple[str, bytes], ...] = ()) -> None:
        self._code, self._trailers = code, trailers

    def code(self) -> grpc.StatusCode:
        return self._code

    def trailing_metadata(self) -> tuple[tuple[str, bytes], ...]:
        return self._trailers


def test_unreachable_peer_is_503_with_retry_after_never_500() -> None:
    err = errors.from_rpc_error(_FakeRpcError(grpc.StatusCode.UNAVAILABLE))
    assert err.status == 503 and err.headers == {"Retry-After": "1"}


def test_peer_error_trailer_wins_over_status() -> None:
    trailer = errors.encode(errors.LeaseExpired("stale"))
    err = errors.from_rpc_error(
        _FakeRpcError(grpc.StatusCode.FAILED_PRECONDITION, ((errors.ERROR_TRAILER, trailer),))
    )
    assert isinstance(err, errors.LeaseExpired) and err.message == "stale"

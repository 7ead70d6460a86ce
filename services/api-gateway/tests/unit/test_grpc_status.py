"""AppError → gRPC status / in-band ErrorResponse, with the texts the SDK matches on."""

from __future__ import annotations

from typing import Any

import asyncpg
import grpc
import pytest
from spooled_common import errors
from spooled_gateway.grpc_public import auth, status


class FakeContext:
    def __init__(self, metadata: tuple[tuple[str, str], ...] = ()) -> None:
        self.metadata = metadata
        self.code: grpc.StatusCode | None = None
        self.details: str | None = None
        self.trailers: Any = ()

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self.metadata

    def set_trailing_metadata(self, trailers: Any) -> None:
        self.trailers = trailers

    async def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.code, self.details = code, details
        raise grpc.aio.AbortError()


class TestDetails:
    def test_lease_expired_becomes_exact_text(self) -> None:
        err = errors.LeaseExpired("Job lease expired before completion")
        assert status.details_for(err) == "lease expired"
        assert err.grpc_code == grpc.StatusCode.FAILED_PRECONDITION

    def test_lease_mismatch_keeps_upstream_text(self) -> None:
        text = "lease_id does not match the job's current lease; this worker no longer holds it"
        assert status.details_for(errors.LeaseExpired(text)) == text

    def test_other_errors_keep_their_message(self) -> None:
        assert status.details_for(errors.Conflict("Job is already completed")) == (
            "Job is already completed"
        )


class TestTrailers:
    def test_rate_limit_carries_retry_after(self) -> None:
        err = errors.RateLimited(headers={"Retry-After": "3"})
        assert status.trailers_for(err) == (("retry-after", "3"),)

    def test_quota_never_carries_retry_after(self) -> None:
        err = errors.QuotaExceeded(
            "jobs_per_day limit reached (10/10)", headers={"Retry-After": "3"}
        )
        assert status.trailers_for(err) == ()

    def test_plain_errors_have_none(self) -> None:
        assert status.trailers_for(errors.NotFound()) == ()


class TestErrorResponse:
    @pytest.mark.parametrize(
        ("err", "code", "message"),
        [
            (errors.LeaseExpired("Job lease expired"), "LEASE_EXPIRED", "lease expired"),
            (errors.NotFound("Job not found"), "NOT_FOUND", "Job not found"),
            (
                errors.ValidationError("lease_id is required for job settlement"),
                "INVALID_ARGUMENT",
                "lease_id is required for job settlement",
            ),
            (
                errors.Conflict("Job is already completed"),
                "FAILED_PRECONDITION",
                "Job is already completed",
            ),
            (errors.AccessDenied("nope"), "PERMISSION_DENIED", "nope"),
            (errors.RateLimited(), "RATE_LIMIT_EXCEEDED", "Rate limit exceeded."),
            (
                errors.QuotaExceeded("queues limit reached (2/2)"),
                "QUOTA_EXCEEDED",
                "queues limit reached (2/2)",
            ),
        ],
    )
    def test_codes(self, err: errors.AppError, code: str, message: str) -> None:
        resp = status.error_response(err)
        assert resp.WhichOneof("response") == "error"
        assert resp.error.code == code
        assert resp.error.message == message


class TestUnaryDecorator:
    class Servicer:
        def __init__(self, exc: BaseException | None) -> None:
            self.exc = exc

        @status.unary
        async def Call(self, request: Any, context: Any) -> str:
            if self.exc is not None:
                raise self.exc
            return "ok"

    async def test_success_passes_through(self) -> None:
        assert await self.Servicer(None).Call(None, FakeContext()) == "ok"

    async def test_app_error_aborts_with_its_code(self) -> None:
        ctx = FakeContext()
        with pytest.raises(grpc.aio.AbortError):
            await self.Servicer(errors.LeaseExpired("Job lease expired")).Call(None, ctx)
        assert ctx.code == grpc.StatusCode.FAILED_PRECONDITION
        assert ctx.details == "lease expired"

    async def test_rate_limit_sets_trailer(self) -> None:
        ctx = FakeContext()
        err = errors.RateLimited(headers={"Retry-After": "2"})
        with pytest.raises(grpc.aio.AbortError):
            await self.Servicer(err).Call(None, ctx)
        assert ctx.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert ctx.trailers == (("retry-after", "2"),)

    async def test_database_outage_is_unavailable_with_retry_after(self) -> None:
        ctx = FakeContext()
        down = asyncpg.AdminShutdownError("terminating connection due to administrator command")
        with pytest.raises(grpc.aio.AbortError):
            await self.Servicer(down).Call(None, ctx)
        assert ctx.code == grpc.StatusCode.UNAVAILABLE
        assert ctx.trailers == (("retry-after", "1"),)

    async def test_unexpected_error_is_internal(self) -> None:
        ctx = FakeContext()
        with pytest.raises(grpc.aio.AbortError):
            await self.Servicer(RuntimeError("secret detail")).Call(None, ctx)
        assert ctx.code == grpc.StatusCode.INTERNAL
        assert ctx.details == "Internal server error"


class TestCredentials:
    def test_x_api_key(self) -> None:
        assert auth.credentials((("x-api-key", "sp_test_abc"),)) == "sp_test_abc"

    def test_x_api_key_wins(self) -> None:
        md = (("authorization", "Bearer other"), ("x-api-key", "sp_test_abc"))
        assert auth.credentials(md) == "sp_test_abc"

    @pytest.mark.parametrize(
        "value", ["Bearer sp_test_abc", "bearer sp_test_abc", "sp_test_abc", "Bearer  sp_test_abc "]
    )
    def test_authorization(self, value: str) -> None:
        assert auth.credentials((("authorization", value),)) == "sp_test_abc"

    @pytest.mark.parametrize(
        "md", [(), (("x-api-key", ""),), (("authorization", "Bearer "),), (("other", "x"),), None]
    )
    def test_missing(self, md: Any) -> None:
        with pytest.raises(errors.Unauthorized) as exc:
            auth.credentials(md)
        assert exc.value.message == "Missing x-api-key or authorization header"

"""Request bodies of /auth and /api-keys (and the admin key route), upstream constraints.

Unknown fields are refused (``extra="forbid"`` → 400). Integers and booleans
are strict: ``"5"`` is not a rate limit.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

_FORBID = ConfigDict(extra="forbid")

#: Key names: letters, digits, space and ``_ . ( ) -``.
KEY_NAME_PATTERN = r"^[A-Za-z0-9 _.()\-]+$"
QueueEntry = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.\-*]+$")
]
QueueScope = Annotated[list[QueueEntry], Field(max_length=50)]
KeyName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=KEY_NAME_PATTERN)]


class LoginRequest(BaseModel):
    model_config = _FORBID
    api_key: str = Field(min_length=10)


class RefreshRequest(BaseModel):
    model_config = _FORBID
    refresh_token: str = Field(min_length=1)


class LogoutRequest(BaseModel):
    model_config = _FORBID
    refresh_token: str | None = None


class ValidateRequest(BaseModel):
    model_config = _FORBID
    token: str


def _future(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if value <= datetime.now(UTC):
        raise ValueError("expires_at must be in the future")
    return value


class ApiKeyCreate(BaseModel):
    model_config = _FORBID
    name: KeyName
    #: Omitted = every queue (stored as ["*"]).
    queues: QueueScope | None = None
    #: Requests per minute.
    rate_limit: int | None = Field(default=None, ge=1, le=10_000, strict=True)
    expires_at: datetime | None = None

    @field_validator("expires_at")
    @classmethod
    def _expires_in_future(cls, value: datetime | None) -> datetime | None:
        return _future(value)


class ApiKeyUpdate(BaseModel):
    model_config = _FORBID
    name: KeyName | None = None
    queues: QueueScope | None = None
    rate_limit: int | None = Field(default=None, ge=1, le=10_000, strict=True)
    is_active: bool | None = Field(default=None, strict=True)

"""Request bodies of /organizations and /admin/organizations (API.md §2.1, §11).

Slug rules (upstream): 3-50 characters, ``^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$``
(lowercase letter first, single hyphens between alphanumerics, none at either
end), and not a reserved word.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

_FORBID = ConfigDict(extra="forbid")

RESERVED_SLUGS = frozenset(
    {
        "admin",
        "api",
        "app",
        "auth",
        "dashboard",
        "docs",
        "help",
        "internal",
        "login",
        "logout",
        "metrics",
        "root",
        "settings",
        "signup",
        "status",
        "support",
        "system",
        "test",
        "www",
    }
)
SLUG_MIN, SLUG_MAX = 3, 50
_SLUG = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
_SLUG_CHARS = re.compile(r"^[a-z0-9-]+$")
#: Deliberately loose (one @, a dot in the domain, no spaces); deliverability
#: is the mail server's business.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: Largest ``settings`` document accepted, serialized.
MAX_SETTINGS_BYTES = 64 * 1024

PlanTier = Literal["free", "starter", "pro", "enterprise"]


def slug_problem(slug: str) -> str | None:
    """Why ``slug`` is not acceptable, or None when it is."""
    if not SLUG_MIN <= len(slug) <= SLUG_MAX:
        return f"Slug must be between {SLUG_MIN} and {SLUG_MAX} characters"
    if not _SLUG_CHARS.match(slug):
        return "Slug may only contain lowercase letters, numbers and hyphens"
    if slug.startswith("-") or slug.endswith("-"):
        return "Slug cannot start or end with a hyphen"
    if not _SLUG.match(slug):
        return "Slug must start with a letter and may not contain consecutive hyphens"
    if slug in RESERVED_SLUGS:
        return f"Slug '{slug}' is reserved"
    return None


def _check_slug(value: str) -> str:
    problem = slug_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _check_email(value: str | None) -> str | None:
    if value is not None and (len(value) > 254 or not _EMAIL.match(value)):
        raise ValueError("Invalid email address")
    return value


def _check_json(value: dict[str, Any] | None, field: str) -> dict[str, Any] | None:
    """A JSON object we can store: at most MAX_SETTINGS_BYTES, numbers within 64 bits
    (JSON allows any integer; orjson, Postgres clients and billing do not)."""
    if value is None:
        return value
    try:
        raw = orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        raise ValueError(f"{field}: {exc}") from None
    if len(raw) > MAX_SETTINGS_BYTES:
        raise ValueError(f"{field} must be at most {MAX_SETTINGS_BYTES} bytes of JSON")
    return value


def _check_settings(value: dict[str, Any] | None) -> dict[str, Any] | None:
    return _check_json(value, "settings")


def _check_custom_limits(value: dict[str, Any] | None) -> dict[str, Any] | None:
    return _check_json(value, "custom_limits")


class OrgCreate(BaseModel):
    model_config = _FORBID
    name: str = Field(min_length=3, max_length=100)
    slug: str
    billing_email: str | None = None

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        return _check_slug(value)

    @field_validator("billing_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return _check_email(value)


class OrgUpdate(BaseModel):
    model_config = _FORBID
    name: str | None = Field(default=None, min_length=3, max_length=100)
    billing_email: str | None = None
    settings: dict[str, Any] | None = None

    @field_validator("billing_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return _check_email(value)

    @field_validator("settings")
    @classmethod
    def _settings(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _check_settings(value)


class AdminOrgCreate(OrgCreate):
    plan_tier: PlanTier = "free"
    settings: dict[str, Any] | None = None
    custom_limits: dict[str, Any] | None = None

    @field_validator("settings")
    @classmethod
    def _settings(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _check_settings(value)

    @field_validator("custom_limits")
    @classmethod
    def _limits(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _check_custom_limits(value)


class AdminOrgPatch(OrgUpdate):
    plan_tier: PlanTier | None = None
    #: An object replaces the overrides; JSON null or {} clears them.
    custom_limits: dict[str, Any] | None = None

    @field_validator("custom_limits")
    @classmethod
    def _limits(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return _check_custom_limits(value)


class GenerateSlug(BaseModel):
    model_config = _FORBID
    name: str = Field(min_length=1, max_length=200)

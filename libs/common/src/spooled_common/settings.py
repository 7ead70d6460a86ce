"""Settings shared by every service, read from the environment.

Each service subclasses :class:`ServiceSettings` with its own prefix-free
fields; the names below are the ones every deployment sets once for the suite.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Development-only shared secret between services; production must override it.
DEV_INTERNAL_TOKEN = "spooled-dev-internal-token"


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    #: development | staging | production
    environment: str = Field(default="development", alias="SPOOLED_ENV")
    database_url: str = Field(
        default="postgresql://spooled@127.0.0.1:5432/spooled", alias="DATABASE_URL"
    )
    database_max_connections: int = Field(default=10, alias="DATABASE_MAX_CONNECTIONS")
    database_min_connections: int = Field(default=2, alias="DATABASE_MIN_CONNECTIONS")
    #: Shared secret every internal gRPC call carries.
    internal_token: str = Field(default=DEV_INTERNAL_TOKEN, alias="SPOOLED_INTERNAL_TOKEN")
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    json_logs: bool = Field(default=False, alias="JSON_LOGS")

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    def check(self) -> None:
        """Fail fast on settings that are unsafe where they are used."""
        if self.is_production and self.internal_token == DEV_INTERNAL_TOKEN:
            raise SystemExit(
                "SPOOLED_INTERNAL_TOKEN must be set to a secret in production "
                "(it is still the development default)"
            )

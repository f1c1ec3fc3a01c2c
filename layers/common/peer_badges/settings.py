"""Runtime settings: one validated model, read from the environment on first use and cached."""

from __future__ import annotations

import os
from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    # Local and test runs: a libpq-style URL (postgresql://user:pw@host:port/db or ?host=/socket/dir).
    database_url: str | None = None
    # AWS: host (an RDS Proxy endpoint), database and a Secrets Manager secret with username/password.
    db_host: str | None = None
    db_port: int = Field(default=5432, ge=1, le=65535)
    db_name: str = "postgres"
    db_secret_arn: str | None = None
    db_sslmode: Literal["disable", "require", "verify-full"] = "verify-full"
    db_ca_file: str | None = None
    db_statement_timeout_ms: int = Field(default=5000, ge=100, le=300_000)
    db_connect_timeout_s: float = Field(default=5.0, gt=0, le=60)
    secret_max_age_s: int = Field(default=300, ge=0)

    event_bus_name: str = "peer-badges"
    definitions_cache_ttl_s: float = Field(default=300.0, ge=0)
    # Finished outbox rows (evaluations done, events published) are deleted after this many days.
    outbox_retention_days: int = Field(default=14, ge=1, le=3650)

    # Open Badges credentials (SPEC 8.6): the public https origin (plus optional path prefix) that
    # issuer, achievement and status list URLs are built from, and where the signing keys live.
    # Checked where it is used (peer_badges.credentials): a bad value disables credentials, not the API.
    public_base_url: str | None = None
    credential_keys_secret_arn: str | None = None
    credential_keys_file: str | None = None
    # Badge icons are names from the app's icon set; with this (e.g. https://cdn.example.org/icons/{icon}.svg)
    # an achievement gets an image. Icons that are already absolute URLs are used as they are.
    credential_icon_url_template: str | None = None

    @model_validator(mode="after")
    def _one_database_source(self) -> Settings:
        if not self.database_url and not (self.db_host and self.db_secret_arn):
            raise ValueError("set DATABASE_URL, or DB_HOST and DB_SECRET_ARN, to reach the database")
        return self


def _from_environment() -> Settings:
    values = {name: os.environ[name.upper()] for name in Settings.model_fields if name.upper() in os.environ}
    return Settings.model_validate(values)


@cache
def get_settings() -> Settings:
    return _from_environment()

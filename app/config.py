"""Typed configuration from the environment (and a ``.env`` file). A bad value stops start-up with one line."""

from __future__ import annotations

import secrets
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.durations import parse_duration

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/privacy.db"


def _duration(value: object) -> object:
    if isinstance(value, str):
        return parse_duration(value)
    return value


def _optional_duration(value: object) -> object:
    if isinstance(value, str):
        return None if not value.strip() else parse_duration(value)
    return value


def _duration_list(value: object) -> object:
    if isinstance(value, str):
        return [parse_duration(part) for part in value.split(",") if part.strip()]
    return value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be a positive duration")
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration), AfterValidator(_positive)]


class ConfigError(Exception):
    """A setting is invalid; the message is one line naming the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_base_url: str | None = None
    secret_key: str | None = None
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_security: Literal["none", "starttls", "tls"] = "starttls"
    mail_dir: Path = Path("var/mail")
    mail_from: str = "privacy@localhost"
    privacy_team_email: str | None = None
    request_deadline: Duration = timedelta(days=30)
    deadline_warnings: Annotated[list[timedelta], NoDecode, BeforeValidator(_duration_list)] = Field(
        default_factory=lambda: [timedelta(days=7), timedelta(days=1)]
    )
    auto_handle_before_due: Annotated[timedelta | None, NoDecode, BeforeValidator(_optional_duration)] = (
        timedelta(days=2)
    )
    auto_accept_access: bool = False
    verification_ttl: Duration = timedelta(days=7)
    download_ttl: Duration = timedelta(days=7)
    sources_file: Path = Path("var/demo/sources.yaml")
    worker_poll_interval: Duration = timedelta(seconds=1)
    package_dir: Path = Path("var/packages")
    rate_limit_per_minute: int = Field(default=60, ge=0)
    # Not in the contract's table: knobs for operators and tests, with safe defaults.
    job_max_attempts: int = Field(default=6, ge=1)
    job_lease: Duration = timedelta(seconds=60)
    job_retry_base: Duration = timedelta(seconds=2)
    var_dir: Path = Path("var")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError("is not a SQLAlchemy URL") from exc
        if url.drivername not in {"sqlite+aiosqlite", "postgresql+asyncpg"}:
            raise ValueError("must use sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("deadline_warnings")
    @classmethod
    def _warnings(cls, value: list[timedelta]) -> list[timedelta]:
        for item in value:
            _positive(item)
        return sorted(set(value), reverse=True)

    @field_validator("smtp_host", "smtp_username", "smtp_password", "privacy_team_email", "secret_key")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value if value is not None and value.strip() else None

    @model_validator(mode="after")
    def _secret_required_outside_embedded(self) -> Settings:
        if self.secret_key is None and self.is_production:
            raise ValueError("SECRET_KEY is required when DATABASE_URL is not the embedded SQLite default")
        if self.secret_key is not None and len(self.secret_key) < 16:
            raise ValueError("SECRET_KEY must be at least 16 characters")
        return self

    @property
    def is_production(self) -> bool:
        return not self.database_url.startswith("sqlite")

    @property
    def base_url(self) -> str:
        return self.public_base_url or f"http://{self.host}:{self.port}"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def resolved_secret_key(self) -> str:
        """SECRET_KEY, or on the embedded default a key made once into ``var/secret_key``."""
        if self.secret_key:
            return self.secret_key
        path = self.var_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key + "\n")
        path.chmod(0o600)
        return key


def load_settings() -> Settings:
    """Read the settings, turning a validation failure into one line that names the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]).upper() if error["loc"] else "configuration"
        message = error["msg"].removeprefix("Value error, ")
        if not error["loc"]:
            raise ConfigError(f"configuration error: {message}") from None
        raise ConfigError(f"configuration error: {name}: {message}") from None


@lru_cache
def get_settings() -> Settings:
    return load_settings()

"""Typed configuration from the environment (and a ``.env`` file). A bad value stops start-up with one line."""

from __future__ import annotations

import os
import re
import secrets
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.core.durations import RETENTION_YEAR, at_least_records_retention, parse_duration, parse_retention

if TYPE_CHECKING:
    from app.core.brand import Brand

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/privacy.db"
# S3 bucket names (the rules for new buckets) and the key prefixes PACKAGE_STORE accepts: safe characters only.
_S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_S3_PREFIX = re.compile(r"[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*")
DEMO_PUBLIC_KEY_NAME = "customer_token_public.pem"
DEMO_PRIVATE_KEY_NAME = "customer_token_private.pem"
WORKER_CONCURRENCY = 8


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


def _https_unless_local(url: str) -> None:
    """An identity provider's keys decide who is who: they come over https, or over http from this machine only
    (a provider on loopback, as in development and tests), never over plain http across a network."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1", "::1"):
        return
    raise ValueError(
        "must start with https:// (or http://localhost or http://127.0.0.1 for a local provider)"
    )


def _origin_list(value: object) -> object:
    if isinstance(value, str):
        origins = [part.strip().rstrip("/") for part in value.split(",") if part.strip()]
        for origin in origins:
            if not origin.startswith(("http://", "https://")) or origin.count("/") != 2:
                raise ValueError(
                    f"{origin!r} is not an origin (scheme://host[:port], such as https://a.example)"
                )
        return origins
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
    # The service's own records (contract section 7): closed requests are redacted after RECORDS_RETENTION;
    # finished jobs, sent emails and idempotency keys are deleted after JOB_RETENTION.
    records_retention: Annotated[
        timedelta, BeforeValidator(parse_retention), AfterValidator(at_least_records_retention)
    ] = RETENTION_YEAR * 3
    job_retention: Duration = timedelta(days=30)
    sources_file: Path = Path("var/demo/sources.yaml")
    worker_poll_interval: Duration = timedelta(seconds=1)
    package_dir: Path = Path("var/packages")
    # Where packages wait for their download (contract section 11): `file:` (PACKAGE_DIR) or `s3://bucket/prefix`
    # on any S3 API (S3_ENDPOINT_URL, S3_REGION; credentials from the usual AWS variables, found by botocore).
    package_store: str = "file:"
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    rate_limit_per_minute: int = Field(default=60, ge=0)
    # Wrong API keys and refused customer tokens per client address a minute, counted apart (contract section 11).
    rate_limit_auth_failures_per_minute: int = Field(default=10, ge=0)
    # The proxies whose X-Forwarded-For names the client (uvicorn's setting): addresses or networks, comma
    # separated, `*` for any peer, empty for none. The default trusts a proxy on the same host.
    forwarded_allow_ips: str = "127.0.0.1"
    # Signed-in customers (contract section 7): the identity provider's keys and the claims checked.
    customer_token_jwks_url: str | None = None
    customer_token_public_key_file: Path | None = None
    customer_token_issuer: str | None = None
    customer_token_audience: str | None = None
    customer_token_claim: str = Field(default="sub", min_length=1, max_length=100)
    customer_token_required: bool = False
    customer_token_jwks_refetch_interval: Duration = timedelta(seconds=30)
    # Not in the contract's table: knobs for operators and tests, with safe defaults.
    job_max_attempts: int = Field(default=6, ge=1)
    # How many jobs a worker runs at once; a round claims twice as many, so the next starts as one ends. More
    # at once let a burst's packages be recorded together (fewer round trips each); each source sees at most
    # this many reads from each worker. At most 16: a job in a transaction (an erasure) holds a connection of
    # its process's pool (20 on PostgreSQL; in `serve`, shared with the API).
    worker_concurrency: int = Field(default=WORKER_CONCURRENCY, ge=1, le=16)
    job_lease: Duration = timedelta(seconds=60)
    job_retry_base: Duration = timedelta(seconds=2)
    # Webhook deliveries are retried by a policy of their own (a receiver may be down for a while): waits from
    # WEBHOOK_RETRY_BASE, doubling, each at most WEBHOOK_RETRY_MAX_DELAY, until WEBHOOK_RETRY_FOR has passed
    # since the event; JOB_RETRY_BASE and JOB_MAX_ATTEMPTS do not apply to them.
    webhook_retry_for: Duration = timedelta(days=3)
    webhook_retry_base: Duration = timedelta(seconds=10)
    webhook_retry_max_delay: Duration = timedelta(hours=1)
    # How long `serve` waits at shutdown for the job in hand before cancelling it (its lease hands it on).
    worker_shutdown_grace: Duration = timedelta(seconds=30)
    # The standalone `worker` lowers its CPU priority to at least this nice value (0 leaves it): on a host it
    # shares with `serve`, the API's requests get the CPU first and a backlog of jobs does not slow them.
    worker_nice: int = Field(default=10, ge=0, le=19)
    var_dir: Path = Path("var")
    # What customers read (contract section 8): who the controller is, in every email, page and report.
    brand_name: str | None = None
    brand_url: str | None = None
    privacy_policy_url: str | None = None
    controller_address: str | None = None
    dpo_email: str | None = None
    supervisory_authority: str | None = None
    # Dates shown to customers and the calendar-month arithmetic of section 4 use this zone.
    timezone: str = "UTC"
    # Operators as people (contract section 9): the cockpit's session, the emailed sign-in link, and OIDC.
    session_ttl: Duration = timedelta(hours=8)
    sign_in_link_ttl: Duration = timedelta(minutes=15)
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_role_claim: str = Field(default="role", min_length=1, max_length=100)
    oidc_scopes: str = "openid email profile"
    # The `aud` an OIDC access token must carry to be accepted on the API; OIDC_CLIENT_ID when unset. Set it to
    # the API's own audience: with the client id, only the `nonce` check keeps ID tokens off the API.
    oidc_audience: str | None = None
    # Browser origins allowed to call the API (CORS), comma separated; none by default.
    cors_origins: Annotated[list[str], NoDecode, BeforeValidator(_origin_list)] = Field(default_factory=list)

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

    @field_validator("brand_url", "privacy_policy_url")
    @classmethod
    def _web_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with https:// (or http://)")
        return value.strip()

    @field_validator("supervisory_authority")
    @classmethod
    def _authority(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from app.core.brand import parse_authority

        parse_authority(value)  # ValueError saying the form it needs
        return value.strip()

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _forwarded_allow_ips(cls, value: str) -> str:
        import ipaddress

        items = [item.strip() for item in value.split(",") if item.strip()]
        if "*" in items:
            if len(items) > 1:
                raise ValueError("'*' trusts every peer and stands alone")
            return "*"
        for item in items:
            try:
                ipaddress.ip_network(item)  # an address is a network of one
            except ValueError:
                raise ValueError(
                    f"{item!r} is not an IP address or network (such as 10.0.0.0/8); '*' trusts every peer"
                ) from None
        return ",".join(items)

    @field_validator("mail_from")
    @classmethod
    def _mail_from(cls, value: str) -> str:
        # Every email's sender and its envelope (MAIL FROM): one address, parsed as every email parses it, so
        # what start-up accepts is an address mail can be sent from (an empty envelope sender's bounces and
        # replies would reach nobody; a local part outside ASCII would fail every email).
        from email.utils import getaddresses

        from app.core.mailboxes import NotAMailbox, mailbox

        found = getaddresses([value])
        try:
            if len(found) != 1:
                raise NotAMailbox("a list")
            mailbox(found[0][1])
        except NotAMailbox:
            raise ValueError(
                'not one sender address (such as privacy@example.com or "Privacy <privacy@example.com>")'
            ) from None
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        name = value.strip() or "UTC"
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin)") from None
        return name

    @field_validator("package_store")
    @classmethod
    def _package_store(cls, value: str) -> str:
        text = value.strip()
        if text in ("", "file", "file:"):
            return "file:"
        if not text.startswith("s3://"):
            raise ValueError("must be file: (the PACKAGE_DIR volume) or s3://bucket/prefix")
        bucket, _, prefix = text.removeprefix("s3://").partition("/")
        if not _S3_BUCKET.fullmatch(bucket) or ".." in bucket:
            raise ValueError(
                f"{bucket!r} is not an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)"
            )
        prefix = prefix.strip("/")
        if prefix and (not _S3_PREFIX.fullmatch(prefix) or {".", ".."} & set(prefix.split("/"))):
            raise ValueError(f"{prefix!r} is not a key prefix (letters, digits and -_.!*'() between slashes)")
        return f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"

    @field_validator("s3_endpoint_url")
    @classmethod
    def _s3_endpoint_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.strip().startswith(("http://", "https://")):
            raise ValueError("must start with https:// (or http:// for a local S3-compatible server)")
        return value.strip().rstrip("/")

    @field_validator("s3_region")
    @classmethod
    def _s3_region(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", value.strip()):
            raise ValueError(f"{value.strip()!r} is not a region name (such as eu-central-1)")
        return value.strip()

    @field_validator("deadline_warnings")
    @classmethod
    def _warnings(cls, value: list[timedelta]) -> list[timedelta]:
        for item in value:
            _positive(item)
        return sorted(set(value), reverse=True)

    @field_validator("oidc_issuer")
    @classmethod
    def _oidc_issuer(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        _https_unless_local(value.strip())
        return value.strip()  # as the provider's tokens spell it in `iss`, trailing slash and all

    @field_validator("customer_token_jwks_url")
    @classmethod
    def _jwks_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        _https_unless_local(value)
        return value

    @field_validator("customer_token_public_key_file", mode="before")
    @classmethod
    def _blank_path_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("customer_token_public_key_file")
    @classmethod
    def _readable_public_key(cls, value: Path | None) -> Path | None:
        if value is not None:
            from app.core.public_keys import load_public_key

            load_public_key(value)  # ValueError naming the file and what is wrong with it
        return value

    @field_validator(
        "smtp_host",
        "smtp_username",
        "smtp_password",
        "privacy_team_email",
        "secret_key",
        "customer_token_issuer",
        "customer_token_audience",
        "oidc_client_id",
        "oidc_client_secret",
        "oidc_audience",
        "brand_name",
        "controller_address",
        "dpo_email",
    )
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value if value is not None and value.strip() else None

    @model_validator(mode="after")
    def _secret_required_outside_embedded(self) -> Settings:
        if self.secret_key is None and self.is_production:
            raise ValueError("SECRET_KEY is required when DATABASE_URL is not the embedded SQLite default")
        if self.secret_key is not None and len(self.secret_key) < 16:
            raise ValueError("SECRET_KEY must be at least 16 characters")
        if self.customer_token_jwks_url and self.customer_token_public_key_file:
            raise ValueError(
                "set one of CUSTOMER_TOKEN_JWKS_URL and CUSTOMER_TOKEN_PUBLIC_KEY_FILE, not both"
            )
        if self.oidc_issuer and not self.oidc_client_id:
            raise ValueError("OIDC_ISSUER needs OIDC_CLIENT_ID")
        if self.customer_token_required and not self.customer_token_key_configured:
            raise ValueError(
                "CUSTOMER_TOKEN_REQUIRED needs CUSTOMER_TOKEN_JWKS_URL or CUSTOMER_TOKEN_PUBLIC_KEY_FILE"
            )
        return self

    @property
    def customer_token_key_configured(self) -> bool:
        return bool(self.customer_token_jwks_url or self.resolved_customer_token_key_file())

    def resolved_customer_token_key_file(self) -> Path | None:
        """CUSTOMER_TOKEN_PUBLIC_KEY_FILE; on the embedded default without any key setting, the demo's public
        key when ``python -m app demo`` wrote one (so the README's signed-in walk-through works as is)."""
        if self.customer_token_public_key_file is not None:
            return self.customer_token_public_key_file
        if self.customer_token_jwks_url or self.database_url != DEFAULT_DATABASE_URL:
            return None
        demo_key = self.var_dir / "demo" / DEMO_PUBLIC_KEY_NAME
        return demo_key if demo_key.exists() else None

    @property
    def zone(self) -> ZoneInfo:
        """TIMEZONE as a ``ZoneInfo``."""
        return ZoneInfo(self.timezone)

    @property
    def brand(self) -> Brand:
        """The brand settings as one value for templates."""
        from app.core.brand import Brand

        return Brand.from_settings(self)

    @property
    def is_production(self) -> bool:
        return not self.database_url.startswith("sqlite")

    @property
    def base_url(self) -> str:
        return self.public_base_url or f"http://{self.host}:{self.port}"

    @property
    def package_bucket(self) -> tuple[str, str] | None:
        """PACKAGE_STORE's bucket and key prefix (empty, or ending in ``/``); None for the file store."""
        if not self.package_store.startswith("s3://"):
            return None
        bucket, _, prefix = self.package_store.removeprefix("s3://").partition("/")
        return bucket, f"{prefix}/" if prefix else ""

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
        # Written private from its first byte (mode 0600 at creation) under a name of its own, then linked into
        # place: the key file appears whole or not at all, and of processes starting at once the first link
        # wins and the others read the winner's key.
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w") as file:
                file.write(key + "\n")
            os.link(draft, path)
        except FileExistsError:
            return path.read_text().strip()
        finally:
            draft.unlink(missing_ok=True)
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

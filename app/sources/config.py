"""The sources file (``SOURCES_FILE``): YAML validated into typed models.

Every error is one line naming the file, the line and the field, e.g.
``var/demo/sources.yaml:14: sources[0].entities[2].erase: unknown strategy 'shred'``: the line comes from the
YAML node tree, so an operator can jump straight to it.
"""

from __future__ import annotations

import base64
import binascii
import os
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator, ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from app.core.durations import parse_duration
from app.core.i18n import DEFAULT_LOCALE, LOCALES
from app.sources.base import SourcesFileError
from app.sources.graph import entity_order
from app.sources.values import ColumnStrategy

Path_ = tuple[str | int, ...]
IDENTITIES = ("customer_id", "email")
_NAME = r"^[a-z][a-z0-9_]*$"
_IDENT = r"^[A-Za-z_][A-Za-z0-9_]*$"
# Async drivers cannot run in the sync engine the sources use; their sync twins read the same database.
# PostgreSQL goes through psycopg, MySQL and MariaDB through PyMySQL (both dependencies) unless the URL names
# another installed driver.
_SYNC_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgresql+asyncpg": "postgresql+psycopg",
    "sqlite+aiosqlite": "sqlite",
    "mysql": "mysql+pymysql",
    "mysql+aiomysql": "mysql+pymysql",
    "mysql+asyncmy": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
    "mariadb+aiomysql": "mariadb+pymysql",
    "mariadb+asyncmy": "mariadb+pymysql",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Erase(_Model):
    """How an entity is erased: ``delete``, ``keep`` or ``anonymize`` with a strategy per column."""

    strategy: Literal["delete", "keep", "anonymize"]
    columns: dict[str, ColumnStrategy] = Field(default_factory=dict)


def _parse_erase(value: object) -> object:
    if isinstance(value, Erase):
        return value
    if isinstance(value, str):
        if value in ("delete", "keep"):
            return Erase(strategy=value)
        if value == "anonymize":
            raise ValueError("anonymize needs its columns: {anonymize: {column: null|redact|hash}}")
        raise ValueError(f"unknown strategy {value!r} (use delete, keep or {{anonymize: {{column: ...}}}})")
    if isinstance(value, dict):
        if list(value) != ["anonymize"]:
            raise ValueError(f"unknown strategy {', '.join(repr(str(k)) for k in value)}")
        columns = value["anonymize"]
        if not isinstance(columns, dict) or not columns:
            raise ValueError("anonymize needs a mapping of column: null|redact|hash")
        out: dict[str, str] = {}
        for column, how in columns.items():
            how = "null" if how is None else how
            if how not in ("null", "redact", "hash"):
                raise ValueError(
                    f"column {column!r}: unknown anonymization {how!r} (use null, redact or hash)"
                )
            out[str(column)] = how
        return Erase(strategy="anonymize", columns=out)
    raise ValueError("must be delete, keep or {anonymize: {column: null|redact|hash}}")


def _duration(value: object) -> object:
    return parse_duration(value) if isinstance(value, str) else value


def _name_list(value: object) -> object:
    return [value] if isinstance(value, str) else value


Name = Annotated[str, Field(pattern=_NAME, max_length=63)]
Ident = Annotated[str, Field(pattern=_IDENT, max_length=63)]
Duration = Annotated[timedelta, BeforeValidator(_duration), Field(gt=timedelta(0))]


# A text customers read: one for every language, or a plain string used for all of them.
LocalText = str | dict[str, str]
# Why kept data is kept (GDPR Art. 6(1)): only ``legal_obligation`` says "the law requires it".
BASES = ("legal_obligation", "contract", "legitimate_interest", "consent")
Basis = Literal["legal_obligation", "contract", "legitimate_interest", "consent"]


class _LanguageError(ValueError):
    """A per-language text's bad entry; ``key`` lets the error point at that entry's own line."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _local_text(value: object) -> LocalText:
    languages = " and ".join(LOCALES)
    if isinstance(value, str):
        if not value.strip():
            raise ValueError("must not be empty")
        return value
    if isinstance(value, dict):
        for key, text in value.items():
            if key not in LOCALES:
                raise _LanguageError(str(key), f"unknown language {key!r} (use {languages})")
            if not isinstance(text, str) or not text.strip():
                raise _LanguageError(str(key), "must be a non-empty text")
        if missing := [lang for lang in LOCALES if lang not in value]:
            raise ValueError(f"needs a text in every language ({languages}): {missing[0]} is missing")
        return {lang: value[lang] for lang in LOCALES}
    example = ", ".join(f"{lang}: ..." for lang in LOCALES)
    raise ValueError(f"must be a text, or one text per language: {{{example}}}")


def _basis(value: object) -> object:
    if value is not None and value not in BASES:
        raise ValueError(f"unknown basis {value!r} (use {', '.join(BASES[:-1])} or {BASES[-1]})")
    return value


def in_language(text: LocalText | Instructions | None, locale: str = DEFAULT_LOCALE) -> str | None:
    """``text`` in ``locale`` (a plain string is the same in every language).

    A manual source's instructions per kind of request, read without a request at hand, are both texts, each
    labelled with its kind, so that nobody follows the deletion's by mistake for a copy (or the reverse); a
    task's own email names only its kind's (``ManualSource.instructions_for``)."""
    if isinstance(text, Instructions):
        labels = _KIND_LABELS.get(locale, _KIND_LABELS[DEFAULT_LOCALE])
        return f"{labels[0]}: {in_language(text.access, locale)}\n{labels[1]}: {in_language(text.deletion, locale)}"
    if text is None or isinstance(text, str):
        return text
    return text.get(locale) or text.get(DEFAULT_LOCALE)


# The two kinds of request, where a manual source's instructions are read without one at hand.
_KIND_LABELS = {"en": ("Access request", "Deletion request"), "de": ("Auskunftsersuchen", "Löschantrag")}


Text = Annotated[LocalText, PlainValidator(_local_text)]


class _Described(_Model):
    """What customers read about an entity (GDPR Art. 15, contract section 8): titles, never table names."""

    title: Text | None = None
    purpose: Text | None = None
    categories: list[Text] = Field(default_factory=list)
    recipients: list[Text] = Field(default_factory=list)
    retention: Text | None = None
    retention_basis: Annotated[Basis | None, BeforeValidator(_basis)] = None
    source_of_data: Text | None = None
    automated_decisions: Text | None = None
    transfers: Text | None = None


class SqlEntity(_Described):
    name: Name
    table: Ident
    match: dict[Ident, str] = Field(min_length=1)
    erase: Annotated[Erase, BeforeValidator(_parse_erase)]


class Directory(_Model):
    table: Ident
    id: Ident
    email: Ident
    name: Annotated[list[Ident], BeforeValidator(_name_list)] = Field(default_factory=list)


class SqlSource(_Model):
    name: Name
    type: Literal["sql"]
    url: str | None = None
    url_env: str | None = None
    db_schema: Ident | None = Field(default=None, alias="schema")
    directory: Directory | None = None
    entities: list[SqlEntity] = Field(min_length=1)


class HttpEntity(_Described):
    name: Name


class HttpSource(_Model):
    name: Name
    type: Literal["http"]
    url: str
    headers_env: dict[str, str] = Field(default_factory=dict)
    timeout: Duration = timedelta(seconds=10)
    # Not in the contract's example: how hard one call tries where no job is around (the operator's export);
    # inside a job each call tries once, and the job's retries are the budget. Tests make it fast.
    attempts: int = Field(default=3, ge=1, le=10)
    backoff: Duration = timedelta(milliseconds=500)
    entities: list[HttpEntity] = Field(default_factory=list)


def _owner_email(value: object) -> object:
    if not isinstance(value, str):
        raise ValueError("must be an email address")
    address = value.strip()
    local, at, domain = address.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() or ord(c) < 32 for c in address):
        raise ValueError("must be an email address")
    return address.lower()


def _language(value: object) -> object:
    if value not in LOCALES:
        raise ValueError(f"unknown language {value!r} (use {' or '.join(LOCALES)})")
    return value


Identifier = Literal["customer_id", "email", "name"]
RecipientIdentifier = Literal["customer_id", "email"]
# What identifies a customer to someone outside the service; ``name`` only to a manual source's owner (a person
# searching a paper archive needs it; a recipient's system matches on ids).
IDENTIFIERS: tuple[RecipientIdentifier, ...] = ("customer_id", "email")
MANUAL_IDENTIFIERS: tuple[Identifier, ...] = ("customer_id", "name", "email")


class Instructions(_Model):
    """What the owner does by hand, per kind of request: an access request's copy, a deletion's erasure."""

    access: Text
    deletion: Text


def _instructions(value: object) -> object:
    # A plain text (or one per language) is used for both kinds of request, as the contract's example has it;
    # a mapping keyed by kind of request gives each its own.
    if isinstance(value, dict) and value and not (set(value) & set(LOCALES)):
        texts: dict[str, LocalText] = {}
        for kind in value:
            if kind not in _REQUEST_KINDS:
                raise _LanguageError(
                    str(kind),
                    f"unknown kind of request {kind!r} (use access and deletion, or one text for both)",
                )
            try:
                texts[kind] = _local_text(value[kind])
            except _LanguageError as exc:
                raise _LanguageError(f"{kind}.{exc.key}", str(exc)) from None
            except ValueError as exc:
                raise _LanguageError(str(kind), str(exc)) from None
        if missing := [kind for kind in _REQUEST_KINDS if kind not in texts]:
            raise ValueError(
                f"needs a text for each kind of request (access and deletion): {missing[0]} is missing"
            )
        return Instructions(access=texts["access"], deletion=texts["deletion"])
    return _local_text(value)


_REQUEST_KINDS = ("access", "deletion")


class ManualSource(_Model):
    """A system without an API: each accepted access request and confirmed deletion becomes a task for its
    owner, who follows ``instructions`` by hand and marks the task done (contract section 10)."""

    name: Name
    type: Literal["manual"]
    # What customers read when told this system was handled by hand (a plain string or one per language);
    # without it, ``name``.
    title: Text | None = None
    # One text for both kinds of request, or ``{access: ..., deletion: ...}``.
    instructions: Annotated[LocalText | Instructions, PlainValidator(_instructions)]
    owner_email: Annotated[str, BeforeValidator(_owner_email), Field(max_length=320)]
    # The language of the owner's emails.
    language: Annotated[str, BeforeValidator(_language)] = DEFAULT_LOCALE
    # What the owner is told about the customer to find them (data minimisation): any of customer_id, name,
    # email. The default is every identifier the request holds.
    identifiers: list[Identifier] = Field(default_factory=lambda: list(MANUAL_IDENTIFIERS), min_length=1)

    def instructions_for(self, request_type: str) -> LocalText:
        """What the owner does for a request of this type (``access`` or ``deletion``)."""
        if not isinstance(self.instructions, Instructions):
            return self.instructions
        return self.instructions.deletion if request_type == "deletion" else self.instructions.access

    @property
    def shown_title(self) -> LocalText:
        return self.title if self.title is not None else self.name


SourceConfig = SqlSource | HttpSource | ManualSource


def customer_identifiers(
    wanted: Sequence[Identifier],
    *,
    customer_id: str | None,
    customer_email: str | None,
    customer_name: str | None,
    submitted_email: str | None,
) -> dict[str, str]:
    """The customer as someone outside the service (a recipient, a manual source's owner) knows them, and
    nothing more: those of ``wanted`` the request holds. ``email`` is a matched customer's address on file,
    else the one submitted."""
    out: dict[str, str] = {}
    if "email" in wanted:
        address = customer_email if customer_id is not None else submitted_email
        if address:
            out["email"] = address
    if "customer_id" in wanted and customer_id is not None:
        out["customer_id"] = customer_id
    if "name" in wanted and customer_name:
        out["name"] = customer_name
    return out


def _recipient_name(value: object) -> object:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty text")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must be one line of plain text")
    return value.strip()


class Recipient(_Model):
    """Someone the brand passes customers' data to (GDPR Art. 19): told, by email or a signed webhook, when an
    erasure removed data of the entities they receive."""

    # Shown to customers and on the timeline as it is written (a company's name is the same in every language).
    name: Annotated[str, BeforeValidator(_recipient_name), Field(max_length=200)]
    email: Annotated[str | None, BeforeValidator(_owner_email), Field(max_length=320)] = None
    webhook: Annotated[str | None, Field(max_length=2000)] = None
    # The environment variable holding the webhook's Standard Webhooks secret (whsec_...), shared with them.
    secret_env: str | None = None
    # ``source.entity`` as this file names them.
    entities: list[str] = Field(min_length=1)
    # What the customer reads next to the name, e.g. "sends our newsletter".
    purpose: Text | None = None
    # The language of the notice.
    language: Annotated[str, BeforeValidator(_language)] = DEFAULT_LOCALE
    # What identifies the customer to them: only these are sent (data minimisation).
    identifiers: list[RecipientIdentifier] = Field(default_factory=lambda: list(IDENTIFIERS), min_length=1)


@dataclass(frozen=True)
class SourcesConfig:
    """The validated file, with environment references resolved and each SQL source's entity order."""

    path: Path
    sources: list[SourceConfig]
    sql_urls: dict[str, str] = field(default_factory=dict)
    http_headers: dict[str, dict[str, str]] = field(default_factory=dict)
    # Parents before children (topological order of the match graph), per SQL source.
    orders: dict[str, list[str]] = field(default_factory=dict)
    recipients: list[Recipient] = field(default_factory=list)
    # Each webhook recipient's signing secret, by recipient name (read from its ``secret_env``).
    recipient_secrets: dict[str, str] = field(default_factory=dict)


class _Invalid(Exception):
    def __init__(self, where: Path_, message: str) -> None:
        super().__init__(message)
        self.where = where
        self.message = message


def load_sources(path: Path, *, env: Mapping[str, str] | None = None) -> SourcesConfig:
    """Read and validate the sources file; raise :class:`SourcesFileError` naming file, line and field."""
    environ = os.environ if env is None else env
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SourcesFileError(f"{path}: cannot read the sources file: {exc.strerror or exc}") from None
    loader = yaml.SafeLoader(text)
    try:
        # Parsed once: the node tree gives the lines, the same tree is then constructed into the data.
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"{mark.line + 1}:" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SourcesFileError(f"{path}:{line} invalid YAML: {problem}") from None
    finally:
        loader.dispose()
    lines = _node_lines(root) if root is not None else {}
    try:
        return _validate(path, data, environ)
    except _Invalid as exc:
        raise SourcesFileError(
            f"{path}:{_line_of(lines, exc.where)}: {_dotted(exc.where)}: {exc.message}"
        ) from None


def _validate(path: Path, data: Any, env: Mapping[str, str]) -> SourcesConfig:
    if not isinstance(data, dict) or not isinstance(data.get("sources"), list):
        raise _Invalid(("sources",), "the file must hold a list under 'sources'")
    if extra := sorted(str(k) for k in data if k not in ("sources", "recipients")):
        raise _Invalid((extra[0],), "unknown field")
    if not data["sources"]:
        raise _Invalid(("sources",), "at least one source is needed")
    sources: list[SourceConfig] = []
    for index, raw in enumerate(data["sources"]):
        sources.append(_parse_source(index, raw))
    config = SourcesConfig(path=path, sources=sources)
    _check_names_and_directory(sources)
    for index, source in enumerate(sources):
        where: Path_ = ("sources", index)
        if isinstance(source, SqlSource):
            config.sql_urls[source.name] = _sql_url(where, source, env)
            config.orders[source.name] = _check_entities(where, source)
        elif isinstance(source, HttpSource):
            config.http_headers[source.name] = _check_http(where, source, env)
    _add_recipients(config, data.get("recipients"), env)
    return config


def _add_recipients(config: SourcesConfig, raw: Any, env: Mapping[str, str]) -> None:
    """Validate ``recipients``: each names itself once, has one channel, and receives known entities."""
    if raw is None:
        return
    if not isinstance(raw, list):
        raise _Invalid(("recipients",), "must be a list of recipients")
    known = {
        f"{source.name}.{entity.name}"
        for source in config.sources
        if isinstance(source, SqlSource | HttpSource)
        for entity in source.entities
    }
    for index, item in enumerate(raw):
        where: Path_ = ("recipients", index)
        if not isinstance(item, dict):
            raise _Invalid(where, "each recipient must be a mapping")
        try:
            recipient = Recipient.model_validate(item)
        except ValidationError as exc:
            error = exc.errors()[0]
            loc = tuple(part for part in error["loc"] if isinstance(part, int | str))
            cause = error.get("ctx", {}).get("error")
            if isinstance(cause, _LanguageError):
                loc = (*loc, cause.key)
            raise _Invalid((*where, *loc), _message(error["type"], error["msg"])) from None
        if any(r.name == recipient.name for r in config.recipients):
            raise _Invalid((*where, "name"), f"duplicate recipient name {recipient.name!r}")
        if (recipient.email is None) == (recipient.webhook is None):
            raise _Invalid(where, "a recipient needs exactly one of email and webhook")
        if recipient.webhook is not None:
            config.recipient_secrets[recipient.name] = _webhook_secret(where, recipient, env)
        elif recipient.secret_env is not None:
            raise _Invalid((*where, "secret_env"), "only a webhook recipient has a secret")
        for position, entity in enumerate(recipient.entities):
            if entity not in known:
                hint = ", ".join(sorted(known)[:5]) or "none declared"
                raise _Invalid(
                    (*where, "entities", position),
                    f"unknown entity {entity!r} (use source.entity as this file names them: {hint})",
                )
        config.recipients.append(recipient)


def _webhook_secret(where: Path_, recipient: Recipient, env: Mapping[str, str]) -> str:
    url = recipient.webhook or ""
    if not url.startswith(("http://", "https://")) or not url.split("://", 1)[1].split("/", 1)[0]:
        raise _Invalid((*where, "webhook"), "must be an http:// or https:// URL")
    if recipient.secret_env is None:
        raise _Invalid(where, "a webhook recipient needs secret_env (the variable holding its whsec_ secret)")
    secret = env.get(recipient.secret_env)
    if not secret:
        raise _Invalid((*where, "secret_env"), f"environment variable {recipient.secret_env} is not set")
    try:
        valid = secret.startswith("whsec_") and len(base64.b64decode(secret[6:], validate=True)) >= 16
    except binascii.Error:
        valid = False
    if not valid:
        # Never echo the secret.
        raise _Invalid(
            (*where, "secret_env"),
            f"environment variable {recipient.secret_env} must hold a whsec_ secret (whsec_ + base64 of 16+ bytes)",
        )
    return secret


def _parse_source(index: int, raw: Any) -> SourceConfig:
    where: Path_ = ("sources", index)
    if not isinstance(raw, dict):
        raise _Invalid(where, "each source must be a mapping")
    kind = raw.get("type")
    models: dict[object, type[SourceConfig]] = {"sql": SqlSource, "http": HttpSource, "manual": ManualSource}
    if kind not in models:
        raise _Invalid((*where, "type"), f"unknown source type {kind!r} (use sql, http or manual)")
    model = models[kind]
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(part for part in error["loc"] if isinstance(part, int | str))
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, _LanguageError):
            loc = (*loc, cause.key)
        raise _Invalid((*where, *loc), _message(error["type"], error["msg"])) from None


def _message(kind: str, text: str) -> str:
    if kind == "missing":
        return "field required"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "string_pattern_mismatch":
        return "must be a lowercase name or a plain identifier (letters, digits, underscores)"
    return text.removeprefix("Value error, ")


def _check_names_and_directory(sources: list[SourceConfig]) -> None:
    seen: set[str] = set()
    directories = []
    for index, source in enumerate(sources):
        if source.name in seen:
            raise _Invalid(("sources", index, "name"), f"duplicate source name {source.name!r}")
        seen.add(source.name)
        if isinstance(source, SqlSource) and source.directory is not None:
            directories.append(index)
    if not directories:
        raise _Invalid(("sources",), "exactly one sql source must have a directory (it identifies customers)")
    if len(directories) > 1:
        raise _Invalid(("sources", directories[1], "directory"), "only one source may have a directory")


def _sql_url(where: Path_, source: SqlSource, env: Mapping[str, str]) -> str:
    if (source.url is None) == (source.url_env is None):
        raise _Invalid(where, "a sql source needs exactly one of url and url_env")
    if source.url_env is not None:
        url = env.get(source.url_env)
        if not url:
            raise _Invalid((*where, "url_env"), f"environment variable {source.url_env} is not set")
        field_name = "url_env"
    else:
        url = source.url or ""
        field_name = "url"
    try:
        parsed = make_url(url)
    except ArgumentError:
        # Never echo the URL: it may hold a password.
        raise _Invalid((*where, field_name), "is not a SQLAlchemy URL") from None
    if parsed.drivername in _SYNC_DRIVERS:
        parsed = parsed.set(drivername=_SYNC_DRIVERS[parsed.drivername])
    return parsed.render_as_string(hide_password=False)


def _entity_indexes(where: Path_, entities: Sequence[SqlEntity | HttpEntity]) -> dict[str, int]:
    """Each entity's position by name; raises on a duplicate name."""
    names: dict[str, int] = {}
    for index, entity in enumerate(entities):
        if entity.name in names:
            raise _Invalid((*where, "entities", index, "name"), f"duplicate entity name {entity.name!r}")
        names[entity.name] = index
    return names


def _check_entities(where: Path_, source: SqlSource) -> list[str]:
    names = _entity_indexes(where, source.entities)
    referenced: dict[tuple[str, str], str] = {}
    parents: dict[str, set[str]] = {}
    for index, entity in enumerate(source.entities):
        at: Path_ = (*where, "entities", index)
        if entity.erase.strategy == "keep" and not entity.retention:
            raise _Invalid((*at, "erase"), "keep needs a retention reason (add retention: ...)")
        parents[entity.name] = set()
        for column, target in entity.match.items():
            if target in IDENTITIES:
                continue
            parent, dot, parent_column = target.partition(".")
            if not dot or not parent or not parent_column:
                raise _Invalid(
                    (*at, "match", column),
                    f"unknown match {target!r} (use customer_id, email or <entity>.<column>)",
                )
            if parent not in names:
                raise _Invalid((*at, "match", column), f"unknown entity {parent!r} in source {source.name!r}")
            parents[entity.name].add(parent)
            referenced[(parent, parent_column)] = entity.name
    for index, entity in enumerate(source.entities):
        for column in entity.erase.columns:
            if (entity.name, column) in referenced:
                raise _Invalid(
                    (*where, "entities", index, "erase"),
                    f"column {column!r} links {referenced[(entity.name, column)]!r} to this entity; "
                    "anonymizing it would orphan those rows",
                )
    order, cycle = entity_order([e.name for e in source.entities], parents)
    if cycle:
        index = names[cycle[0]]
        raise _Invalid((*where, "entities", index, "match"), f"cycle between entities: {' -> '.join(cycle)}")
    return order


def _check_http(where: Path_, source: HttpSource, env: Mapping[str, str]) -> dict[str, str]:
    if not source.url.startswith(("http://", "https://")):
        raise _Invalid((*where, "url"), "must start with http:// or https://")
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(source.url) if name is not None}
    except ValueError:
        raise _Invalid((*where, "url"), "has an unbalanced { or }") from None
    if unknown := sorted(fields - set(IDENTITIES)):
        raise _Invalid(
            (*where, "url"), f"unknown placeholder {{{unknown[0]}}} (use {{customer_id}} or {{email}})"
        )
    if not fields:
        raise _Invalid((*where, "url"), "must contain {customer_id} or {email}")
    headers: dict[str, str] = {}
    for header, variable in source.headers_env.items():
        value = env.get(variable)
        if value is None:
            raise _Invalid((*where, "headers_env", header), f"environment variable {variable} is not set")
        headers[header] = value
    _entity_indexes(where, source.entities)
    return headers


def _node_lines(node: yaml.Node, where: Path_ = ()) -> dict[Path_, int]:
    """Map each field path to its 1-based line: a key's own line, so a nested block points at its key."""
    lines: dict[Path_, int] = {where: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*where, str(key.value))
            lines.update(_node_lines(value, child))
            lines[child] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines.update(_node_lines(item, (*where, index)))
    return lines


def _line_of(lines: dict[Path_, int], where: Path_) -> int:
    # A missing field has no node: point at the closest enclosing one.
    for length in range(len(where), -1, -1):
        if where[:length] in lines:
            return lines[where[:length]]
    return 1


def _dotted(where: Path_) -> str:
    out = ""
    for part in where:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "sources"

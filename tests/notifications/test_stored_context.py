"""An email's context kept in the outbox until the worker renders it: what comes back renders the same email."""

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum, IntEnum
from typing import Any

import pytest
from markupsafe import Markup

from app.core.i18n import LOCALES
from app.core.lifecycle import Status
from app.notifications import stored_context
from app.notifications.emails import KINDS, render_email

from .factories import make_context, make_request


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_renders_the_same_from_its_stored_context(kind: str, locale: str) -> None:
    context = make_context(request=make_request(locale=locale))
    stored = stored_context.dumps(context)
    assert render_email(kind, locale, stored_context.loads(stored)) == render_email(kind, locale, context)


def test_times_come_back_as_times_of_the_same_instant_and_zone() -> None:
    berlin = timezone(timedelta(hours=1))
    context = {
        "at": datetime(2026, 12, 4, 23, 30, 15, 123456, tzinfo=UTC),
        "local": datetime(2026, 12, 5, 0, 30, tzinfo=berlin),
        "naive": datetime(2026, 12, 4, 23, 30),
        "day": date(2026, 12, 24),
        "ttl": timedelta(minutes=15, microseconds=5),
        "nested": {
            "rows": [{"due_at": datetime(2027, 1, 3, tzinfo=UTC), "n": 1.5, "ok": True, "none": None}]
        },
        "title": {"en": "Orders", "de": "Bestellungen"},
    }
    back = stored_context.loads(stored_context.dumps(context))
    assert back == context
    assert back["local"].utcoffset() == timedelta(hours=1)
    assert back["naive"].tzinfo is None
    assert type(back["day"]) is date


@dataclass
class _Report:
    count: int


class _Colour(Enum):
    RED = "red"


class _Level(IntEnum):
    HIGH = 2


@pytest.mark.parametrize(
    "value",
    [
        {1, 2},
        Decimal("1.5"),
        _Report(3),
        object(),
        b"bytes",
        uuid.uuid4(),
        _Colour.RED,
        _Level.HIGH,
        Markup("<b>already escaped</b>"),
        float("nan"),
        float("inf"),
        {"$date": "2026-12-24"},
        {1: "a key that is not text"},
    ],
    ids=[
        "set",
        "decimal",
        "dataclass",
        "object",
        "bytes",
        "uuid",
        "enum",
        "int-enum",
        "markup",
        "nan",
        "infinity",
        "tag-shaped-key",
        "int-key",
    ],
)
def test_a_value_that_would_not_come_back_the_same_is_refused_when_queued(value: Any) -> None:
    with pytest.raises(TypeError):
        stored_context.dumps({"request": {"id": str(uuid.uuid4())}, "value": value})


def test_text_enums_come_back_as_their_text_and_tuples_as_lists() -> None:
    back = stored_context.loads(stored_context.dumps({"status": Status.PROCESSED, "pair": ("a", 1)}))
    assert back == {"status": "processed", "pair": ["a", 1]}
    assert type(back["status"]) is str


def test_a_stored_context_is_a_mapping() -> None:
    with pytest.raises(ValueError, match="not a mapping"):
        stored_context.loads("[1, 2]")

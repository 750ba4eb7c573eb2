"""The processing tests' world: CRM + support desk (SQLite) + the real HTTP loyalty source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ..sources.http_source import HttpSourceServer
from .world import LOYALTY_TOKEN, write_world


@pytest.fixture
def remote(remote: HttpSourceServer, monkeypatch: pytest.MonkeyPatch) -> HttpSourceServer:
    """The loyalty system (tests/conftest.py's ``remote``): it asks for its secret header, which the service
    reads from LOYALTY_AUTH, and holds Ada's and Grace's points."""
    monkeypatch.setenv("LOYALTY_AUTH", LOYALTY_TOKEN)
    remote.required_headers = {"authorization": LOYALTY_TOKEN}
    remote.data["cus_1"] = {"points": [{"balance": 120, "tier": "gold"}, {"balance": 3, "tier": "gold"}]}
    remote.data["cus_2"] = {"points": [{"balance": 7, "tier": "silver"}]}
    return remote


@pytest.fixture
def world(tmp_path: Path) -> Path:
    return tmp_path / "world"


@pytest.fixture
def loyalty_timeout() -> str:
    """How long the service waits for the loyalty system; a module testing a slow system overrides it."""
    return "PT2S"


@pytest.fixture
def sources_file(world: Path, remote: HttpSourceServer, loyalty_timeout: str) -> Path:
    return write_world(world, loyalty_url=remote.url, loyalty_timeout=loyalty_timeout)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"job_max_attempts": 2}

"""The processing tests' world: CRM + support desk (SQLite) + the real HTTP loyalty source."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.config import Settings

from ..conftest import make_settings
from ..sources.http_source import HttpSourceServer, running_http_source
from .world import LOYALTY_TOKEN, write_world


@pytest.fixture
def remote(monkeypatch: pytest.MonkeyPatch) -> Iterator[HttpSourceServer]:
    monkeypatch.setenv("LOYALTY_AUTH", LOYALTY_TOKEN)
    with running_http_source() as server:
        server.required_headers = {"authorization": LOYALTY_TOKEN}
        server.data["cus_1"] = {"points": [{"balance": 120, "tier": "gold"}, {"balance": 3, "tier": "gold"}]}
        server.data["cus_2"] = {"points": [{"balance": 7, "tier": "silver"}]}
        yield server


@pytest.fixture
def world(tmp_path: Path) -> Path:
    return tmp_path / "world"


@pytest.fixture
def sources_file(world: Path, remote: HttpSourceServer) -> Path:
    return write_world(world, loyalty_url=remote.url)


@pytest.fixture
def settings(database_url: str, tmp_path: Path, sources_file: Path) -> Settings:
    return make_settings(database_url, tmp_path, sources_file, job_max_attempts=2)

"""The manual steps' world: the small SQLite CRM (tests/factories.py) and one manual source, a paper archive
without an API, whose owner reads their tasks from a real SMTP server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ..factories import write_crm
from ..notifications.smtp_server import SmtpServer, smtp_settings

OWNER = "archive-owner@brand.test"
ARCHIVE = """  - name: paper_archive
    type: manual
    owner_email: Archive-Owner@brand.test
    language: de
    instructions:
      en: Find the customer's folder in the basement archive.
      de: Die Akte der Kundin oder des Kunden im Kellerarchiv heraussuchen und vernichten.
"""


@pytest.fixture
def extra_sources() -> str:
    """The manual sources beside the CRM; a module with more overrides this."""
    return ARCHIVE


@pytest.fixture
def sources_file(tmp_path: Path, extra_sources: str) -> Path:
    return write_crm(tmp_path / "crm", extra_sources=extra_sources)


@pytest.fixture
def settings_overrides(smtp_server: SmtpServer) -> dict[str, Any]:
    return {**smtp_settings(smtp_server.port), "job_max_attempts": 2}

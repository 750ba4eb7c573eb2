"""Configuration: typed, validated, one clear line naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest

from app.core.config import ConfigError, load_settings
from app.core.durations import parse_duration

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P30D", timedelta(days=30)),
        ("PT12H", timedelta(hours=12)),
        ("PT20S", timedelta(seconds=20)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("P2W", timedelta(weeks=2)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["30", "P", "PT", "P1M", "-P1D", "P1.5D", "days"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("REQUEST_DEADLINE", "30 days"),
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("SMTP_SECURITY", "ssl"),
        ("DEADLINE_WARNINGS", "P7D,soon"),
        ("DATABASE_URL", "mysql://x"),
        ("PUBLIC_BASE_URL", "privacy.example.com"),
        ("RATE_LIMIT_PER_MINUTE", "-1"),
        ("AUTO_ACCEPT_ACCESS", "perhaps"),
        ("VERIFICATION_TTL", "PT0S"),
        ("RECORDS_RETENTION", "P1Y"),
        ("RECORDS_RETENTION", "P730D"),
        ("RECORDS_RETENTION", "P18M"),
        ("JOB_RETENTION", "PT0S"),
        ("WORKER_NICE", "-5"),  # raising the worker above the API is not what the setting is for
        ("WORKER_NICE", "20"),
        ("WORKER_NICE", "low"),
        ("WORKER_CONCURRENCY", "0"),
        ("WORKER_CONCURRENCY", "17"),  # more than a process's database connections could serve
        ("WORKER_CONCURRENCY", "many"),
        ("MAIL_FROM", "privacy@"),  # the envelope sender would be empty: bounces would reach nobody
        ("MAIL_FROM", "privacy"),
        ("MAIL_FROM", "Privacy <@example.com>"),
        ("MAIL_FROM", "a@example.com, b@example.com"),
        ("MAIL_FROM", "jürgen@example.de"),  # accepted before, and then every email failed for good
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the checkout
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    message = str(error.value)
    assert variable in message
    assert "\n" not in message


def test_defaults_and_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DEADLINE_WARNINGS", "P1D,P14D")
    monkeypatch.setenv("AUTO_HANDLE_BEFORE_DUE", "")
    monkeypatch.setenv("PORT", "9001")
    settings = load_settings()
    assert settings.deadline_warnings == [timedelta(days=14), timedelta(days=1)]
    assert settings.auto_handle_before_due is None
    assert settings.base_url == "http://127.0.0.1:9001"
    assert settings.request_deadline == timedelta(days=30)
    assert settings.smtp_security == "starttls"


def test_worker_concurrency(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings().worker_concurrency == 8
    for value in ("1", "16"):
        monkeypatch.setenv("WORKER_CONCURRENCY", value)
        assert load_settings().worker_concurrency == int(value)


def test_retention_periods(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    # A year counts 366 days, so a retention in years is never shorter than that many calendar years.
    assert settings.records_retention == timedelta(days=3 * 366)
    assert settings.job_retention == timedelta(days=30)
    monkeypatch.setenv("RECORDS_RETENTION", "P2Y")
    monkeypatch.setenv("JOB_RETENTION", "P7D")
    settings = load_settings()
    assert settings.records_retention == timedelta(days=732)
    assert settings.job_retention == timedelta(days=7)
    monkeypatch.setenv("RECORDS_RETENTION", "P1Y")
    with pytest.raises(ConfigError, match=r"^configuration error: RECORDS_RETENTION: must be at least P2Y"):
        load_settings()


def test_secret_key_required_outside_the_embedded_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1/test")
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_settings()


def test_embedded_default_makes_a_secret_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    settings = load_settings()
    first = settings.resolved_secret_key()
    assert len(first) >= 32
    assert settings.resolved_secret_key() == first
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o777 == 0o600


def test_processes_starting_at_once_share_one_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Workers starting together on the embedded default must not each make (and sign with) a key of their own."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    settings = load_settings()
    start = threading.Barrier(16)

    def resolve() -> str:
        start.wait()
        return settings.resolved_secret_key()

    with ThreadPoolExecutor(max_workers=16) as pool:
        keys = set(pool.map(lambda _: resolve(), range(16)))
    assert keys == {(tmp_path / "var" / "secret_key").read_text().strip()}


def test_cli_stops_with_one_line_on_bad_configuration(tmp_path: Path) -> None:
    env = {**os.environ, "WORKER_POLL_INTERVAL": "often", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "app", "migrate"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "WORKER_POLL_INTERVAL" in result.stderr

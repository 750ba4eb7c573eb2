"""The CLI as an operator uses it: migrate, api-keys create/list/revoke, demo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "SECRET_KEY": "cli-test-secret-0123456789", **env}
    environment.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_migrate_then_keys_lifecycle(tmp_path: Path) -> None:
    assert run(["migrate"], tmp_path).returncode == 0
    created = run(["api-keys", "create", "--role", "operator", "--name", "cockpit"], tmp_path)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("prk_")
    assert " " not in key
    listing = run(["api-keys", "list"], tmp_path)
    assert "cockpit" in listing.stdout
    assert "operator" in listing.stdout
    assert key not in listing.stdout
    key_id = listing.stdout.split()[0]
    revoked = run(["api-keys", "revoke", key_id], tmp_path)
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked" in run(["api-keys", "list"], tmp_path).stdout
    unknown = run(["api-keys", "revoke", "not-an-id"], tmp_path)
    assert unknown.returncode == 1
    bad_role = run(["api-keys", "create", "--role", "root", "--name", "x"], tmp_path)
    assert bad_role.returncode != 0


def test_demo_is_created_once(tmp_path: Path) -> None:
    first = run(["demo"], tmp_path)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "var" / "demo" / "crm.db").exists()
    assert (tmp_path / "var" / "demo" / "sources.yaml").exists()
    second = run(["demo"], tmp_path)
    assert "already" in second.stdout

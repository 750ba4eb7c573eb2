"""schemathesis, every check it has, against the served OpenAPI document of a real server, with a key of each role.

Its CLI runs all its phases (the documented examples, coverage of every parameter's boundaries and missing
parts, fuzzing of valid and invalid inputs, and stateful sequences that follow the document's links), with
every check: no server error; status codes, content types, headers and bodies as documented; schema-valid
requests accepted; schema-invalid ones refused; a missing auth header or a method the path does not take
refused properly (405 with a full ``Allow``); no use after delete. Two checks go through a wrapper in
``schemathesis_hooks.py``: a schema-valid request refused only for a documented business rule is allowed, and a
dismissed privacy request stays readable (it is kept on record by design).

Run it by hand (see README, "Development"): ``.venv/bin/pytest -m slow tests/faults/test_schemathesis.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from app.cli.demo import create_demo
from app.main import create_app

from ..conftest import bearer, make_settings, role_keys
from ..security.live_server import live_server

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
MAX_EXAMPLES = 60
SEED = 20261202


def _seed(http: httpx.Client, keys: dict[str, str]) -> None:
    """A few real requests in several statuses, for the list and the cockpit's numbers."""
    ids = []
    for type_, email in [("access", "ada@example.com"), ("deletion", "grace@example.com")]:
        response = http.post(
            "/v1/privacy-requests", json={"type": type_, "email": email}, headers=bearer(keys["app"])
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    accepted = http.post(
        f"/v1/privacy-requests/{ids[0]}/accept", json={"handling": "manual"}, headers=bearer(keys["operator"])
    )
    assert accepted.status_code == 200


def _schemathesis(base_url: str, key: str, report: Path) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{base_url}/openapi.json",
        "--checks=all",
        # These two run through the wrappers in schemathesis_hooks.py (documented business behaviour).
        "--exclude-checks=positive_data_acceptance,use_after_free",
        f"--header=Authorization: Bearer {key}",
        f"--max-examples={MAX_EXAMPLES}",
        f"--seed={SEED}",
        "--generation-database=none",
        "--workers=1",
        "--no-color",
        "--report=junit",
        f"--report-junit-path={report}",
    ]
    environment = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.faults.schemathesis_hooks"}
    return subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=900)


def test_every_check_passes_for_every_role(database_url: str, tmp_path: Path) -> None:
    # The demo's directory: the document's examples name its customers (cus_0003).
    create_demo(tmp_path / "demo")
    settings = make_settings(database_url, tmp_path, tmp_path / "demo" / "sources.yaml")
    application = create_app(settings, run_worker=False)
    with live_server(application) as server, httpx.Client(base_url=server.base_url) as http:
        keys = server.run(role_keys(server.app))
        _seed(http, keys)
        outcomes = {
            role: _schemathesis(server.base_url, keys[role], tmp_path / f"{role}.xml") for role in keys
        }
    for role, done in outcomes.items():
        report = (tmp_path / f"{role}.xml").read_text()
        assert "<testcase" in report, f"{role}: schemathesis ran no test\n{done.stdout[-3000:]}"
        assert done.returncode == 0, f"{role} key:\n{done.stdout[-12000:]}\n{done.stderr[-2000:]}"

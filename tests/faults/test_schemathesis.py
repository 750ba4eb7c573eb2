"""Property-based fuzzing of every operation in the committed OpenAPI document against a real server.

For each operation, valid (positive) and invalid (negative) inputs are generated from the schema and sent
with an app, operator or admin key; no answer may be a 5xx, and every answer must match what the document
says (status code, content type, body schema).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.main import create_app

from ..conftest import bearer, make_settings, role_keys
from ..security.live_server import live_server

pytestmark = pytest.mark.slow

OPENAPI = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"
MAX_EXAMPLES = 25
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _document(application: Any) -> dict[str, Any]:
    if OPENAPI.exists():
        document: dict[str, Any] = json.loads(OPENAPI.read_text())
        return document
    served: dict[str, Any] = application.openapi()
    return served


def _seed(http: httpx.Client, keys: dict[str, str]) -> list[str]:
    """A few real requests in several statuses, so that fuzzed ids sometimes hit something."""
    ids = []
    for n, (type_, email) in enumerate(
        [("access", "ada@example.com"), ("deletion", "grace@example.com"), ("access", "new@example.org")]
    ):
        response = http.post(
            "/v1/privacy-requests",
            json={"type": type_, "email": email, "channel": f"c{n}"},
            headers=bearer(keys["app"]),
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    accepted = http.post(
        f"/v1/privacy-requests/{ids[0]}/accept", json={"handling": "manual"}, headers=bearer(keys["operator"])
    )
    assert accepted.status_code == 200
    return ids


def test_every_operation_conforms_and_never_fails_on_the_server(
    database_url: str, tmp_path: Path, sources_file: Path
) -> None:
    application = create_app(make_settings(database_url, tmp_path, sources_file), run_worker=False)
    schema = schemathesis.openapi.from_dict(_document(application))
    failures: dict[str, str] = {}
    calls = 0
    with live_server(application) as server, httpx.Client(base_url=server.base_url) as http:
        keys = server.run(role_keys(server.app))
        seeded = _seed(http, keys)
        chooser = random.Random(0)
        results = list(schema.get_all_operations())
        assert all(isinstance(result, Ok) for result in results), "the document is a valid OpenAPI schema"
        operations = [result.ok() for result in results if isinstance(result, Ok)]
        assert len(operations) >= 15
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

                @settings(
                    max_examples=MAX_EXAMPLES,
                    deadline=None,
                    derandomize=True,
                    database=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=operation.as_strategy(generation_mode=mode), role=st.sampled_from(sorted(keys)))
                def exercise(case: Any, role: str) -> None:
                    nonlocal calls
                    if (
                        case.path_parameters
                        and "request_id" in case.path_parameters
                        and chooser.random() < 0.5
                    ):
                        case.path_parameters["request_id"] = chooser.choice(seeded)
                    response = case.call(base_url=server.base_url, headers=bearer(keys[role]))
                    calls += 1
                    case.validate_response(response, checks=CHECKS)

                try:
                    exercise()
                except Unsatisfiable:
                    assert mode is GenerationMode.NEGATIVE  # nothing to make invalid (no parameters, no body)
                except Exception as error:  # collect every operation's failure, then report them all
                    failures[f"{operation.label} ({mode.value})"] = str(error)[:3000]
    assert calls >= len(operations) * MAX_EXAMPLES
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())

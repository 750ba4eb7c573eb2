"""The committed OpenAPI document equals what the app serves (regenerate with `make openapi`), and it tells a
client developer the truth: every operation says what it does, who may call it and which errors it gives; every
request-body example is accepted as it is; every error is documented with the contract's body."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.auth.keys import Role, create_key
from app.cli.demo import create_demo
from app.core.db import unit_of_work
from app.openapi_export import document

from .conftest import bearer, client_of, make_settings, running_app

COMMITTED = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"
ROLES = {"app": "`app`", "operator": "`operator`", "admin": "`admin`"}


def _operations(served: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in served["paths"].items() for method, op in ops.items()]


async def test_committed_openapi_equals_the_served_one(client: httpx.AsyncClient) -> None:
    served = (await client.get("/openapi.json")).json()
    committed = json.loads(COMMITTED.read_text())
    assert served == committed, "openapi/openapi.json is stale: run `make openapi`"
    assert COMMITTED.read_text() == document()


async def test_every_documented_error_uses_the_contract_body(client: httpx.AsyncClient) -> None:
    served = (await client.get("/openapi.json")).json()
    error_body = {"$ref": "#/components/schemas/ErrorBody"}
    for path, method, operation in _operations(served):
        for code, response in operation["responses"].items():
            if not code.startswith(("4", "5")) or path == "/readyz":  # readiness answers its own body
                continue
            assert response["description"], (path, method, code)
            json_body = response["content"].get("application/json")
            if json_body is None:  # a page for a browser
                assert response["content"] == {"text/html": {"schema": {"type": "string"}}}, (path, code)
                continue
            assert json_body["schema"]["allOf"] == [error_body], (path, method, code)
            codes = json_body["schema"]["properties"]["error"]["enum"]
            assert json_body["example"]["error"] in codes, (path, method, code)


async def test_every_operation_says_what_it_does_who_may_call_it_and_its_errors(
    client: httpx.AsyncClient,
) -> None:
    served = (await client.get("/openapi.json")).json()
    operations = _operations(served)
    assert len(operations) >= 20
    tag_names = {tag["name"] for tag in served["tags"]}
    for path, method, operation in operations:
        where = f"{method.upper()} {path}"
        assert len(operation["tags"]) == 1, where
        assert operation["tags"][0] in tag_names, where
        assert operation["summary"], where
        description = operation["description"]
        assert len(description) > 40, where
        if path.startswith("/v1/"):
            assert "**Roles:**" in description, where
            secured = bool(operation.get("security"))
            assert ("none (public" in description) is not secured, where
            errors = [code for code in operation["responses"] if code.startswith("4")]
            for code in errors:
                if code in ("401", "403", "413", "422", "429"):
                    continue  # the same for every operation: described in the response itself
                assert code in description, f"{where}: the description does not say when {code} happens"
        for code in operation["responses"]:
            assert code in ("200", "201") or code.startswith(("4", "5")), where
    summaries = [operation["summary"] for _p, _m, operation in operations]
    assert len(set(summaries)) == len(summaries)
    stats = served["paths"]["/v1/stats"]["get"]
    assert stats["tags"] == ["privacy requests"]


async def test_each_role_is_named_where_it_may_call(client: httpx.AsyncClient, keys: dict[str, str]) -> None:
    """The roles an operation's description names are exactly the roles it admits."""
    served = (await client.get("/openapi.json")).json()
    for path, method, operation in _operations(served):
        if not operation.get("security"):
            continue
        roles_line = operation["description"].split("**Roles:**", 1)[1].split("\n", 1)[0]
        named = {role for role, quoted in ROLES.items() if quoted in roles_line}
        assert named, path
        for role, key in keys.items():
            url = path.replace("{request_id}", "00000000-0000-4000-8000-000000000000")
            url = url.replace("{key_id}", "00000000-0000-4000-8000-000000000000")
            url = url.replace("{customer_id}", "nobody")
            response = await client.request(method.upper(), url, headers=bearer(key), json={})
            admitted = response.status_code != 403
            assert admitted is (role in named), (method, path, role, response.status_code)


@pytest.fixture
async def demo_app(database_url: str, tmp_path: Path) -> Any:
    """The app on the demo's customer directory: the documented examples name its customers. A manual source
    beside it gives accepted requests a task to mark done."""
    create_demo(tmp_path / "demo")
    demo_sources = tmp_path / "demo" / "sources.yaml"
    text = demo_sources.read_text()
    manual = "  - name: paper_archive\n    type: manual\n    owner_email: archive@example.org\n"
    demo_sources.write_text(
        text.replace("\nsources:\n", "\nsources:\n" + manual + "    instructions: Shred it\n", 1)
    )
    settings = make_settings(database_url, tmp_path, tmp_path / "demo" / "sources.yaml")
    async with running_app(settings) as application:
        yield application


async def _key(app: FastAPI, role: Role) -> str:
    async with unit_of_work(app.state.sessionmaker) as session:
        _k, plaintext = await create_key(session, name=f"examples-{role.value}", role=role)
    return plaintext


def _examples(operation: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    content = operation["requestBody"]["content"]["application/json"]
    examples = content.get("examples", {})
    return [(name, example["value"]) for name, example in examples.items()]


async def test_every_request_body_example_is_accepted_as_it_is(demo_app: FastAPI) -> None:
    served = demo_app.openapi()
    # An admin key may call every operation (the roles are checked above); an operator creates the requests.
    operator, admin = await _key(demo_app, Role.OPERATOR), await _key(demo_app, Role.ADMIN)
    async with client_of(demo_app) as client:

        async def new_request(type_: str, email: str, *, manual: bool = False) -> str:
            response = await client.post(
                "/v1/privacy-requests", json={"type": type_, "email": email}, headers=bearer(operator)
            )
            assert response.status_code == 201, response.text
            request_id: str = response.json()["id"]
            if manual:
                accepted = await client.post(
                    f"/v1/privacy-requests/{request_id}/accept",
                    json={"handling": "manual"},
                    headers=bearer(operator),
                )
                assert accepted.status_code == 200, accepted.text
            return request_id

        posted = 0
        for path, method, operation in _operations(served):
            if "requestBody" not in operation:
                continue
            examples = _examples(operation)
            assert examples, f"{method.upper()} {path} has no example body"
            for n, (name, value) in enumerate(examples):
                url = path
                if "{request_id}" in path:
                    manual = path.endswith(("/fulfil", "/done"))
                    request_id = await new_request(
                        "access", f"example{posted}-{n}@example.org", manual=manual
                    )
                    url = path.replace("{request_id}", request_id)
                if path.endswith("/fulfil"):
                    # Its manual step done first: a request with an open one cannot be fulfilled.
                    listed = await client.get(
                        f"/v1/privacy-requests/{request_id}/tasks", headers=bearer(admin)
                    )
                    task_id = listed.json()["items"][0]["id"]
                    marked = await client.post(
                        f"/v1/privacy-requests/{request_id}/tasks/{task_id}/done",
                        json={"note": "Shredded"},
                        headers=bearer(admin),
                    )
                    assert marked.status_code == 200, marked.text
                if "{task_id}" in path:
                    listed = await client.get(
                        f"/v1/privacy-requests/{request_id}/tasks", headers=bearer(admin)
                    )
                    url = url.replace("{task_id}", listed.json()["items"][0]["id"])
                response = await client.post(url, json=value, headers=bearer(admin))
                posted += 1
                if path == "/v1/verify":
                    # The example's token is not one the service issued: the answer is the documented 404.
                    assert response.status_code == 404, (name, response.text)
                    assert response.json()["error"] == "not_found"
                    continue
                assert response.status_code in (200, 201), (path, name, response.text)
    assert posted >= 10

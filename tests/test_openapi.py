"""The committed OpenAPI document equals what the app serves (regenerate with `make openapi`)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from app.openapi_export import document

COMMITTED = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"


async def test_committed_openapi_equals_the_served_one(client: httpx.AsyncClient) -> None:
    served = (await client.get("/openapi.json")).json()
    committed = json.loads(COMMITTED.read_text())
    assert served == committed, "openapi/openapi.json is stale: run `make openapi`"
    assert COMMITTED.read_text() == document()


async def test_every_documented_error_uses_the_contract_body(client: httpx.AsyncClient) -> None:
    served = (await client.get("/openapi.json")).json()
    for path, operations in served["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if code.startswith(("4", "5")):
                    schemas = [c.get("schema", {}) for c in response["content"].values()]
                    assert any(
                        s.get("$ref") == "#/components/schemas/ErrorBody" or s == {"type": "string"}
                        for s in schemas
                    ), (path, method, code)


async def test_docs_page_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert "swagger" in response.text.lower()

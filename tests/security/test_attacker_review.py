"""Probe (scratch)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from ..conftest import bearer


async def test_probe(client: httpx.AsyncClient, keys: dict[str, str], app: FastAPI) -> None:
    h = {**bearer(keys["app"]), "Content-Type": "application/json"}
    out = []
    for body in [
        b'{"type":"access","email":"a@b.example","channel":"\\ud800"}',
        b'{"type":"access","email":"a2@b.example","channel":"\\udfff\\ud800x"}',
        b'{"type":"access","email":"a3@b.example","locale":"\\ud800"}',
        b'{"type":"access","email":"a@b.example","note":"\\ud800"}',
    ]:
        r = await client.post("/v1/privacy-requests", content=body, headers=h)
        out.append((r.status_code, r.text[:200]))
    oh = {**bearer(keys["operator"]), "Content-Type": "application/json"}
    for body in [
        b'{"type":"access","customer_id":"\\ud800"}',
        b'{"type":"access","email":"z@b.example","note":"\\ud800"}',
    ]:
        r = await client.post("/v1/privacy-requests", content=body, headers=oh)
        out.append(("op", r.status_code, r.text[:200]))
    r = await client.get("/v1/verify?token=%ED%A0%80")
    out.append(("verify", r.status_code))
    for line in out:
        print(line)
    raise AssertionError("show")

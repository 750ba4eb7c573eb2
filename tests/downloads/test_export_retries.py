"""The operator's direct export has no job around it: the call itself asks a failing source again (a few
times, with backoff and jitter), but only when retrying can help."""

from __future__ import annotations

import httpx

from ..conftest import bearer
from ..customer_tokens import signed_in
from ..helpers import submit
from ..processing.world import accept
from ..sources.http_source import HttpSourceServer


async def manual_access(client: httpx.AsyncClient, keys: dict[str, str]) -> str:
    request = await submit(
        client, keys["app"], type="access", customer_id="cus_1", headers=signed_in("cus_1")
    )
    await accept(client, keys["operator"], request["id"], "manual")
    return str(request["id"])


async def test_the_export_asks_again_after_a_503_and_succeeds(
    client: httpx.AsyncClient, keys: dict[str, str], remote: HttpSourceServer
) -> None:
    request_id = await manual_access(client, keys)
    remote.fail_next, remote.fail_status = 1, 503

    exported = await client.get(f"/v1/privacy-requests/{request_id}/data", headers=bearer(keys["operator"]))

    assert exported.status_code == 200, exported.text
    assert exported.json()["sources"]["loyalty"]["points"][0]["balance"] == 120
    assert [method for method, *_ in remote.calls] == ["GET", "GET"]


async def test_the_export_does_not_ask_again_after_a_400(
    client: httpx.AsyncClient, keys: dict[str, str], remote: HttpSourceServer
) -> None:
    request_id = await manual_access(client, keys)
    remote.fail_next, remote.fail_status = 1, 400

    exported = await client.get(f"/v1/privacy-requests/{request_id}/data", headers=bearer(keys["operator"]))

    assert exported.status_code == 503
    assert "source 'loyalty': GET answered HTTP 400" in exported.json()["detail"]
    assert [method for method, *_ in remote.calls] == ["GET"]

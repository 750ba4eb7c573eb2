"""OIDC sign-in: the authorization code flow with PKCE, state and nonce against a real provider on 127.0.0.1,
followed as a browser follows it; and the role claim decides who may come in."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from .conftest import add_operator
from .oidc_provider import OidcProvider, Person


async def test_the_code_flow_signs_in_and_the_page_moves_on_to_the_cockpit(
    browser: httpx.AsyncClient, idp: OidcProvider
) -> None:
    idp.person = Person(email="Grace@Brand.test", name="Grace Hopper", role="admin")
    start = await browser.get("/cockpit/oidc/start")
    assert start.status_code == 303
    location = urlsplit(start.headers["location"])
    query = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{idp.issuer}/authorize"
    assert query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == ["http://localhost/cockpit/oidc/callback"]
    assert query["scope"] == ["openid email profile"]
    assert {"state", "nonce", "code_challenge", "client_id"} <= set(query)
    state_cookie = start.headers["set-cookie"]
    assert "samesite=lax" in state_cookie.lower()  # it must come back on the provider's cross-site redirect
    assert "httponly" in state_cookie.lower()

    # The browser follows the provider's redirect back to the callback.
    callback = await browser.get(start.headers["location"], follow_redirects=True)
    assert callback.url.path == "/cockpit/oidc/callback"
    assert callback.status_code == 200
    # Not a redirect: a page that moves on to /cockpit from this site, so the Strict cookie goes along.
    assert '<meta http-equiv="refresh" content="0; url=/cockpit">' in callback.text
    assert '<a href="/cockpit">Continue to the cockpit</a>' in callback.text
    assert "samesite=strict" in callback.headers["set-cookie"].lower()
    who = await browser.get("/cockpit/session")
    assert who.status_code == 200
    assert who.json() == {**who.json(), "email": "grace@brand.test", "name": "Grace Hopper", "role": "admin"}
    assert (await browser.get("/v1/api-keys")).status_code == 200  # an admin
    assert idp.token_requests[0]["authorization"].startswith("Basic ")


async def test_the_role_comes_from_the_claim_at_every_sign_in(
    browser: httpx.AsyncClient, app: FastAPI, idp: OidcProvider
) -> None:
    await add_operator(app, "grace@brand.test", "Grace Hopper", role="admin")
    idp.person = Person(email="grace@brand.test", name="G. Hopper", role=["staff", "operator"])
    start = await browser.get("/cockpit/oidc/start", params={"next": "/cockpit/customers/cus_1"})
    page = await browser.get(start.headers["location"], follow_redirects=True)
    assert page.status_code == 200
    assert '<meta http-equiv="refresh" content="0; url=/cockpit/customers/cus_1">' in page.text
    who = (await browser.get("/cockpit/session")).json()
    assert who["role"] == "operator"
    assert who["name"] == "Grace Hopper"  # the name given at `operators create` stays
    assert (await browser.get("/v1/api-keys")).status_code == 403


async def test_no_cockpit_role_is_refused_with_a_clear_page(
    browser: httpx.AsyncClient, idp: OidcProvider
) -> None:
    idp.person = Person(email="eve@brand.test", name="Eve", role="marketing")
    start = await browser.get("/cockpit/oidc/start")
    refused = await browser.get(start.headers["location"], follow_redirects=True)
    assert refused.status_code == 403
    assert "Sign-in refused" in refused.text
    assert "Ask your administrator for the role operator or admin." in refused.text
    assert (await browser.get("/cockpit/session")).status_code == 401


async def test_a_removed_operator_is_refused(
    browser: httpx.AsyncClient, app: FastAPI, idp: OidcProvider
) -> None:
    await add_operator(app, "alan@brand.test", "Alan Turing")
    async with app.state.sessionmaker() as session, session.begin():
        from app.auth.operators import remove_operator

        await remove_operator(session, "alan@brand.test")
    idp.person = Person(email="alan@brand.test", name="Alan Turing", role="operator")
    start = await browser.get("/cockpit/oidc/start")
    refused = await browser.get(start.headers["location"], follow_redirects=True)
    assert refused.status_code == 403
    assert "You were removed as an operator of this cockpit." in refused.text


async def test_a_forged_state_or_a_wrong_nonce_is_refused(
    browser: httpx.AsyncClient, app: FastAPI, idp: OidcProvider
) -> None:
    idp.person = Person(email="grace@brand.test", name="Grace Hopper", role="operator")
    # A callback the browser did not start (no state cookie): a login-CSRF attempt.
    async with httpx.AsyncClient(
        base_url="http://localhost", transport=httpx.ASGITransport(app=app)
    ) as other:
        start = await other.get("/cockpit/oidc/start")
    forged = await browser.get(start.headers["location"], follow_redirects=True)
    assert forged.status_code == 400
    assert "The sign-in could not be completed. Please start again." in forged.text
    assert idp.token_requests == []  # the code was never exchanged
    # The provider's ID token carries another nonce (a replayed token).
    idp.wrong_nonce = True
    start = await browser.get("/cockpit/oidc/start")
    replayed = await browser.get(start.headers["location"], follow_redirects=True)
    assert replayed.status_code == 400
    assert (await browser.get("/cockpit/session")).status_code == 401


@pytest.mark.parametrize("verified", [False, None], ids=["unverified", "not-said"])
async def test_an_address_the_provider_does_not_vouch_for_is_refused(
    browser: httpx.AsyncClient, app: FastAPI, idp: OidcProvider, verified: bool | None
) -> None:
    # Operators are matched by email: an address the provider did not verify (or does not say it verified)
    # could be anyone's, such as an existing operator's typed into a self-service account.
    await add_operator(app, "grace@brand.test", "Grace Hopper", role="admin")
    idp.person = Person(email="grace@brand.test", name="Not Grace", role="admin", email_verified=verified)
    start = await browser.get("/cockpit/oidc/start")
    refused = await browser.get(start.headers["location"], follow_redirects=True)
    assert refused.status_code == 403
    assert "does not confirm that your email address is verified" in refused.text
    assert (await browser.get("/cockpit/session")).status_code == 401

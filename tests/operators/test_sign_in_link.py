"""Sign-in by one-time email link: the form, the email (via the real SMTP server), the link's page and button,
single use, expiry, and the same answer for addresses that are no operator's."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI

from app.core import clock

from ..notifications.smtp_server import SmtpServer
from .conftest import add_operator, browser_of, hidden_token, request_link


async def test_the_form_and_the_link_sign_in(
    browser: httpx.AsyncClient, app: FastAPI, smtp_server: SmtpServer
) -> None:
    await add_operator(app, "grace@brand.test", "Grace Hopper")
    form = await browser.get("/cockpit/sign-in")
    assert form.status_code == 200
    assert '<label for="email">Your email address</label>' in form.text
    assert 'action="/cockpit/sign-in"' in form.text
    assert "Sign in with your organisation's account" in form.text  # OIDC is configured here

    link = await request_link(browser, app, smtp_server, "Grace@Brand.test")
    assert link is not None
    message = smtp_server.messages[-1]
    assert message["To"] == "grace@brand.test"
    assert message["Subject"] == "Your sign-in link for the privacy requests cockpit"
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    assert "Hello Grace Hopper," in text.get_content()
    assert "It works once, for 15 minutes" in text.get_content()

    # Opening the link (as a mail scanner does) changes nothing: the page shows a button, twice.
    for _ in range(2):
        page = await browser.get(link)
        assert page.status_code == 200
        assert '<button type="submit">Sign in</button>' in page.text
        # It says whose session the button starts: a person sent someone else's link can tell.
        assert "in this browser as grace@brand.test." in page.text
        assert page.headers["Cache-Control"] == "no-store"  # the page holds the link's token
    assert (await browser.get("/cockpit/session")).status_code == 401

    done = await browser.post("/cockpit/sign-in/link", data={"token": hidden_token(page.text)})
    assert done.status_code == 303
    assert done.headers["location"] == "/cockpit"
    who = await browser.get("/cockpit/session")
    assert who.status_code == 200
    assert who.json()["email"] == "grace@brand.test"
    assert who.json()["name"] == "Grace Hopper"
    assert who.json()["role"] == "operator"
    # Signed in, the form sends the person on to the cockpit.
    again = await browser.get("/cockpit/sign-in")
    assert again.status_code == 303
    assert again.headers["location"] == "/cockpit"


async def test_a_link_works_once(app: FastAPI, smtp_server: SmtpServer) -> None:
    await add_operator(app, "grace@brand.test", "Grace Hopper")
    async with browser_of(app) as first, browser_of(app) as second:
        link = await request_link(first, app, smtp_server, "grace@brand.test")
        assert link is not None
        token = hidden_token((await first.get(link)).text)
        assert (await first.post("/cockpit/sign-in/link", data={"token": token})).status_code == 303
        used = await second.post("/cockpit/sign-in/link", data={"token": token})
        assert used.status_code == 410
        assert "This sign-in link no longer works" in used.text
        assert (await second.get("/cockpit/session")).status_code == 401
        page = await second.get(link)
        assert page.status_code == 410
        assert "<button" not in page.text


async def test_a_link_expires(browser: httpx.AsyncClient, app: FastAPI, smtp_server: SmtpServer) -> None:
    await add_operator(app, "grace@brand.test", "Grace Hopper")
    link = await request_link(browser, app, smtp_server, "grace@brand.test")
    assert link is not None
    token = hidden_token((await browser.get(link)).text)
    clock.advance(timedelta(minutes=15, seconds=1))
    page = await browser.get(link)
    assert page.status_code == 410
    assert "A sign-in link works once and only for a short time." in page.text
    late = await browser.post("/cockpit/sign-in/link", data={"token": token})
    assert late.status_code == 410
    assert (await browser.get("/cockpit/session")).status_code == 401


async def test_unknown_and_removed_addresses_get_the_same_answer_and_no_email(
    browser: httpx.AsyncClient, app: FastAPI, smtp_server: SmtpServer
) -> None:
    await add_operator(app, "grace@brand.test", "Grace Hopper")
    await add_operator(app, "alan@brand.test", "Alan Turing")
    async with app.state.sessionmaker() as session, session.begin():
        from app.auth.operators import remove_operator

        await remove_operator(session, "alan@brand.test")
    answers = []
    for email in ("grace@brand.test", "nobody@brand.test", "alan@brand.test"):
        response = await browser.post("/cockpit/sign-in", data={"email": email})
        assert response.status_code == 200
        answers.append(response.text.replace(email, "EMAIL"))
    assert answers[0] == answers[1] == answers[2]
    assert "If EMAIL belongs to an operator, a sign-in link is on its way to it." in answers[0]
    await app.state.worker.run_until_idle()
    assert [m["To"] for m in smtp_server.messages] == ["grace@brand.test"]


async def test_the_email_and_pages_speak_german_to_a_german_browser(
    browser: httpx.AsyncClient, app: FastAPI, smtp_server: SmtpServer
) -> None:
    await add_operator(app, "grace@brand.test", "Grace Hopper")
    form = await browser.get("/cockpit/sign-in", headers={"Accept-Language": "de-DE,de;q=0.9"})
    assert "Anmeldelink per E-Mail senden" in form.text
    link = await request_link(browser, app, smtp_server, "grace@brand.test", **{"Accept-Language": "de"})
    assert link is not None
    message = smtp_server.messages[-1]
    assert message["Subject"] == "Ihr Anmeldelink für das Cockpit für Datenschutzanfragen"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    assert "Er funktioniert einmal, 15 Minuten lang" in body.get_content()


async def test_asking_for_links_is_rate_limited(app: FastAPI, smtp_server: SmtpServer) -> None:
    app.state.rate_limiter.per_minute = 3
    async with browser_of(app, "203.0.113.9") as browser:
        for _ in range(3):
            assert (await browser.post("/cockpit/sign-in", data={"email": "x@brand.test"})).status_code == 200
        refused = await browser.post("/cockpit/sign-in", data={"email": "x@brand.test"})
        assert refused.status_code == 429
        assert refused.json()["error"] == "rate_limited"
        assert "Retry-After" in refused.headers


async def test_a_bad_address_and_a_foreign_form_are_refused(browser: httpx.AsyncClient) -> None:
    blank = await browser.post("/cockpit/sign-in", data={"email": "no-at-sign"})
    assert blank.status_code == 422
    assert "Please enter an email address." in blank.text
    foreign = await browser.post(
        "/cockpit/sign-in", data={"email": "grace@brand.test"}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    assert foreign.json() == {"error": "forbidden", "detail": "This form was posted from another site."}


async def test_after_signing_in_the_person_lands_where_they_were_going(
    browser: httpx.AsyncClient, app: FastAPI, smtp_server: SmtpServer
) -> None:
    await add_operator(app, "grace@brand.test", "Grace Hopper")
    form = await browser.get("/cockpit/sign-in", params={"next": "/cockpit/requests/42?tab=timeline"})
    # Same-origin: the browser then sends the real Origin on the form post (no-referrer makes it "null").
    assert form.headers["referrer-policy"] == "same-origin"
    assert '<input type="hidden" name="next" value="/cockpit/requests/42?tab=timeline">' in form.text
    response = await browser.post(
        "/cockpit/sign-in",
        data={"email": "grace@brand.test", "next": "/cockpit/requests/42?tab=timeline"},
        headers={"Origin": "http://localhost"},
    )
    assert response.status_code == 200
    await app.state.worker.run_until_idle()
    body = smtp_server.messages[-1].get_body(preferencelist=("plain",))
    assert body is not None
    link = next(line for line in body.get_content().splitlines() if "/cockpit/sign-in/link?" in line).strip()
    assert link.endswith("&next=%2Fcockpit%2Frequests%2F42%3Ftab%3Dtimeline")
    page = await browser.get(link)
    done = await browser.post(
        "/cockpit/sign-in/link",
        data={"token": hidden_token(page.text), "next": "/cockpit/requests/42?tab=timeline"},
        headers={"Origin": "http://localhost"},
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/cockpit/requests/42?tab=timeline"


async def test_a_next_to_another_site_goes_to_the_cockpit(
    browser: httpx.AsyncClient, app: FastAPI, smtp_server: SmtpServer
) -> None:
    await add_operator(app, "grace@brand.test", "Grace Hopper")
    for target in ("https://evil.example/", "//evil.example/cockpit", "/cockpit\\@evil.example", "/other"):
        form = await browser.get("/cockpit/sign-in", params={"next": target})
        assert '<input type="hidden" name="next" value="/cockpit">' in form.text
    link = await request_link(browser, app, smtp_server, "grace@brand.test")
    assert link is not None
    done = await browser.post(
        "/cockpit/sign-in/link",
        data={"token": hidden_token((await browser.get(link)).text), "next": "//evil.example/"},
    )
    assert done.headers["location"] == "/cockpit"

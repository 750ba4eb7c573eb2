"""The cockpit's sign-in (contract section 9): HTML pages, not part of the JSON API (left out of the OpenAPI).

- ``GET /cockpit/sign-in``: the form (an email address; and the OIDC button when OIDC is configured).
- ``POST /cockpit/sign-in``: emails a one-time link to a known, not-removed operator (by a job: the answer, and
  the work behind it, are the same for any address, so neither tells who is an operator), rate limited per
  client address.
- ``GET /cockpit/sign-in/link?token=...``: a page with a Sign in button. Opening it changes nothing (mail
  scanners open links); ``POST /cockpit/sign-in/link`` spends the link, starts the session, sets the cookie and
  redirects to ``/cockpit``.
- ``GET /cockpit/oidc/start`` -> the identity provider (code flow with PKCE, state and nonce) ->
  ``GET /cockpit/oidc/callback``. The callback comes from another site, so a SameSite=Strict cookie set on a
  redirect from there would not be sent to ``/cockpit``: it answers a small page that moves on to ``/cockpit``
  from this site. Its state cookie is SameSite=Lax for the same reason (it must come back on that cross-site
  navigation).
- ``GET /cockpit/session``: JSON, the signed-in person and the CSRF token (for the cockpit's own scripts).
- ``POST /cockpit/sign-out``: revokes the session (CSRF token as header ``X-CSRF-Token`` or form field
  ``csrf_token``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from app.auth import operators, sessions
from app.auth.oidc import NoRole, OidcProvider, OidcRefused, OidcUnavailable, UnverifiedEmail
from app.core import i18n
from app.core.context import ServiceContext
from app.core.db import SessionDep
from app.core.dependencies import ContextDep
from app.core.errors import Forbidden, Unauthorized
from app.core.ratelimit import client_address, rate_limiter
from app.pages import SECURITY_HEADERS, preferred_locale
from app.signin import links

router = APIRouter(prefix="/cockpit", include_in_schema=False)

PACKAGE = "app.signin"
STATE_COOKIE = "prs_oidc"
STATE_PATH = "/cockpit/oidc"
STATE_TTL = 600  # seconds for the round trip through the identity provider
MAX_FORM_FIELD = 500
HOME = links.HOME
# As the customer pages', except the referrer: with `no-referrer` a browser sends `Origin: null` on a form post,
# which the origin check below must refuse. `same-origin` keeps the link's token off other sites all the same.
PAGE_HEADERS = {**SECURITY_HEADERS, "Referrer-Policy": "same-origin"}


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path under /cockpit on this site, or /cockpit."""
    if (
        not value
        or len(value) > MAX_FORM_FIELD
        or not (value == HOME or value.startswith((HOME + "/", HOME + "?")))
        or "\\" in value
        or any(ord(c) < 33 or ord(c) == 127 for c in value)
    ):
        return HOME
    return value


def _locale(request: Request) -> str:
    return preferred_locale(request.headers.get("accept-language"))


def _page(
    ctx: ServiceContext, request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    lang = i18n.normalize_locale(_locale(request))
    variables = {
        "locale": lang,
        "timezone": ctx.settings.timezone,
        "brand": ctx.settings.brand.as_context(),
        **context,
    }
    html = i18n.environment(PACKAGE, lang, autoescape=True).get_template(f"{name}.html").render(variables)
    return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)


def _sign_in_page(
    ctx: ServiceContext, request: Request, status_code: int = 200, **flags: Any
) -> HTMLResponse:
    context: dict[str, Any] = {
        "email": None,
        "sent": False,
        "signed_out": False,
        "expired": False,
        "invalid_email": False,
        "link_ttl": ctx.settings.sign_in_link_ttl,
        "oidc": request.app.state.oidc is not None,
        "next": HOME,
        **flags,
    }
    return _page(ctx, request, "sign_in", context, status_code)


async def _form_field(request: Request, name: str) -> str:
    form = await request.form(max_files=0, max_fields=10)
    value = form.get(name)
    return value.strip()[:MAX_FORM_FIELD] if isinstance(value, str) else ""


def _signed_in_response(ctx: ServiceContext, cookie_value: str, target: str) -> RedirectResponse:
    response = RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})
    sessions.set_cookie(response, ctx.settings, cookie_value)
    return response


# -- the email link ------------------------------------------------------------------------------------------


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_form(request: Request, session: SessionDep, ctx: ContextDep) -> Response:
    target = safe_next(request.query_params.get("next"))
    if await sessions.current_operator(request, session) is not None:
        return RedirectResponse(target, status_code=303)
    return _sign_in_page(
        ctx,
        request,
        next=target,
        signed_out=request.query_params.get("signed_out") == "1",
        expired=request.query_params.get("expired") == "1",
    )


@router.post("/sign-in", response_class=HTMLResponse)
async def request_link(request: Request, session: SessionDep, ctx: ContextDep) -> Response:
    if sessions.foreign_origin(request, ctx.settings):
        raise Forbidden("This form was posted from another site.")
    await rate_limiter(request).hit("sign_in", client_address(request))
    email = await _form_field(request, "email")
    target = safe_next(await _form_field(request, "next"))
    local, at, domain = email.partition("@")
    if not at or not local or not domain or len(email) > 320:
        return _sign_in_page(ctx, request, 422, email=email, invalid_email=True, next=target)
    await links.request(session, email=email, locale=_locale(request), target=target)
    # The same page, after the same work, whether or not the address is an operator's: the form tells nobody
    # who is one (the worker looks the address up and sends the link).
    return _sign_in_page(ctx, request, email=email, sent=True, next=target)


@router.get("/sign-in/link", response_class=HTMLResponse)
async def link_page(request: Request, session: SessionDep, ctx: ContextDep) -> HTMLResponse:
    """A Sign in button; opening the link changes nothing."""
    await rate_limiter(request).hit("sign_in", client_address(request))
    token = request.query_params.get("token", "")[:MAX_FORM_FIELD]
    operator = await links.usable_for(session, ctx.settings, token)
    context = {
        "token": token if operator is not None else None,
        "email": operator.email if operator is not None else None,
        "next": safe_next(request.query_params.get("next")),
    }
    response = _page(ctx, request, "link", context, 200 if operator is not None else 410)
    response.headers["Cache-Control"] = "no-store"  # the page holds the link's token
    return response


@router.post("/sign-in/link", response_class=HTMLResponse)
async def use_link(request: Request, session: SessionDep, ctx: ContextDep) -> Response:
    if sessions.foreign_origin(request, ctx.settings):
        raise Forbidden("This form was posted from another site.")
    limiter, address = rate_limiter(request), client_address(request)
    limiter.check_authentication(address)
    operator_id = await links.use(session, ctx.settings, await _form_field(request, "token"))
    operator = await operators.get_active(session, operator_id) if operator_id is not None else None
    if operator is None:
        await limiter.count_failed_authentication(address)
        return _page(ctx, request, "link", {"token": None, "next": HOME}, 410)
    cookie_value, _row = await sessions.start(session, ctx.settings, operator)
    return _signed_in_response(ctx, cookie_value, safe_next(await _form_field(request, "next")))


# -- OIDC ------------------------------------------------------------------------------------------------------


def _seal_state(ctx: ServiceContext, data: dict[str, Any]) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()
    return f"{payload}.{_mac(ctx, payload)}"


def _open_state(ctx: ServiceContext, value: str | None) -> dict[str, Any] | None:
    if not value or len(value) > 2000 or "." not in value:
        return None
    payload, mac = value.rsplit(".", 1)
    if not hmac.compare_digest(mac, _mac(ctx, payload)):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(payload.encode()))
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("exp"), int) or data["exp"] < time.time():
        return None
    return data


def _mac(ctx: ServiceContext, payload: str) -> str:
    key = hashlib.sha256(b"oidc-state:" + ctx.secret_key.encode()).digest()
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


def _refused(ctx: ServiceContext, request: Request, reason: str, status_code: int) -> HTMLResponse:
    response = _page(ctx, request, "refused", {"reason": reason}, status_code)
    response.delete_cookie(STATE_COOKIE, path=STATE_PATH)
    return response


@router.get("/oidc/start")
async def oidc_start(request: Request, ctx: ContextDep) -> Response:
    provider: OidcProvider | None = request.app.state.oidc
    if provider is None:
        return _refused(ctx, request, "not_configured", 404)
    try:
        start = await provider.start()
    except OidcUnavailable:
        return _refused(ctx, request, "unavailable", 503)
    state = {
        "state": start.state,
        "nonce": start.nonce,
        "verifier": start.code_verifier,
        "next": safe_next(request.query_params.get("next")),
        "exp": int(time.time()) + STATE_TTL,
    }
    response = RedirectResponse(start.url, status_code=303, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        STATE_COOKIE,
        _seal_state(ctx, state),
        max_age=STATE_TTL,
        path=STATE_PATH,
        httponly=True,
        secure=sessions.cookie_is_secure(ctx.settings),
        samesite="lax",  # sent on the identity provider's (cross-site) redirect back
    )
    return response


@router.get("/oidc/callback", response_class=HTMLResponse)
async def oidc_callback(request: Request, session: SessionDep, ctx: ContextDep) -> HTMLResponse:
    provider: OidcProvider | None = request.app.state.oidc
    if provider is None:
        return _refused(ctx, request, "not_configured", 404)
    limiter, address = rate_limiter(request), client_address(request)
    limiter.check_authentication(address)
    kept = _open_state(ctx, request.cookies.get(STATE_COOKIE))
    state = request.query_params.get("state", "")
    code = request.query_params.get("code", "")
    if kept is None or not state or not hmac.compare_digest(state.encode(), str(kept["state"]).encode()):
        await limiter.count_failed_authentication(address)
        return _refused(ctx, request, "failed", 400)
    if not code or "error" in request.query_params:
        return _refused(ctx, request, "failed", 400)
    try:
        identity = await provider.finish(
            code=code[:MAX_FORM_FIELD], code_verifier=str(kept["verifier"]), nonce=str(kept["nonce"])
        )
    except NoRole:
        return _refused(ctx, request, "no_role", 403)
    except UnverifiedEmail:
        return _refused(ctx, request, "unverified", 403)
    except OidcRefused:
        await limiter.count_failed_authentication(address)
        return _refused(ctx, request, "failed", 400)
    except OidcUnavailable:
        return _refused(ctx, request, "unavailable", 503)
    try:
        # The identity provider vouches for the person and their role: a person new to the service becomes an
        # operator now, and the role claim is the truth at every sign-in.
        operator = await operators.for_identity(
            session, email=identity.email, name=identity.name, role=identity.role
        )
    except operators.OperatorRemoved:
        return _refused(ctx, request, "removed", 403)
    cookie_value, _row = await sessions.start(session, ctx.settings, operator)
    # Not a redirect: this response ends a navigation that came from the identity provider's site, and the
    # browser would not send the new SameSite=Strict cookie on a redirect from it. The page moves on from here.
    response = _page(ctx, request, "signed_in", {"next": safe_next(str(kept.get("next") or HOME))})
    response.headers["Cache-Control"] = "no-store"
    sessions.set_cookie(response, ctx.settings, cookie_value)
    response.delete_cookie(STATE_COOKIE, path=STATE_PATH)
    return response


# -- the session, for the cockpit's scripts -------------------------------------------------------------------


@router.get("/session")
async def who_is_signed_in(request: Request, session: SessionDep) -> JSONResponse:
    """The signed-in person and the session's CSRF token (same-origin scripts only: the cookie is SameSite=Strict
    and CORS never admits credentials); 401 without a live session."""
    signed_in = await sessions.current_operator(request, session)
    if signed_in is None:
        raise Unauthorized("No one is signed in: sign in at /cockpit/sign-in.")
    return JSONResponse(
        {
            "email": signed_in.email,
            "name": signed_in.name,
            "role": signed_in.role,
            "csrf_token": signed_in.csrf_token,
            "expires_at": signed_in.expires_at.isoformat(),
        },
        headers={"Cache-Control": "no-store"},
    )


# -- sign-out --------------------------------------------------------------------------------------------------


@router.post("/sign-out")
async def sign_out(request: Request, session: SessionDep, ctx: ContextDep) -> Response:
    cookie = request.cookies.get(sessions.COOKIE)
    signed_in = await sessions.find(session, ctx.settings, cookie)
    if signed_in is not None:
        token = request.headers.get(sessions.CSRF_HEADER)
        if token is None:
            content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
                token = await _form_field(request, "csrf_token")
        if (
            sessions.foreign_origin(request, ctx.settings)
            or not token
            or not hmac.compare_digest(token.encode(), signed_in.csrf_token.encode())
        ):
            raise Forbidden(
                "Signing out needs the session's CSRF token (header X-CSRF-Token or field csrf_token)."
            )
        await sessions.revoke(session, ctx.settings, cookie)
    response = RedirectResponse("/cockpit/sign-in?signed_out=1", status_code=303)
    sessions.clear_cookie(response, ctx.settings)
    return response

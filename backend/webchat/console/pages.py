"""The agent console's pages: sign-in (password, then TOTP or a recovery code), the console at
`/agent`, the tickets at `/agent/tickets`, silent refresh, sign-out, and the static files
(docs/agent-console.md). Server-rendered with Jinja2; the live parts are the page's script
over the agent API and `/ws/agent` (backend/webchat/console/socket.py)."""

from __future__ import annotations

import hmac
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from backend.auth import repository as auth_repository
from backend.auth import service as auth_service
from backend.auth.errors import EnrolmentLinkRequired
from backend.auth.tokens import Principal, decode_token, hash_opaque
from backend.db import unit_of_work
from backend.deps import (
    CONSOLE_COOKIE,
    CSRF_COOKIE,
    CsrfFailed,
    csrf_matches,
    presented_csrf,
)
from backend.errors import (
    AppError,
    InvalidCredentials,
    InvalidOtp,
    InvalidToken,
    RateLimited,
    ValidationFailed,
)
from backend.i18n import SUPPORTED_LOCALES, catalog
from backend.logging import get_logger
from backend.models import Role, TicketCategory, TicketPriority, TicketStatus
from backend.state import Resources
from backend.webchat.console import presence_hooks
from backend.webchat.console import session as console_session

log = get_logger(__name__)
router = APIRouter(include_in_schema=False)

STAFF_ROLES = auth_service.STAFF_ROLES


class StaffLoginRefusal(Exception):
    """A customer passed the second factor: the session just made is rolled back."""


HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
_STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
# The files the console serves, read once: a fixed list, so no path from a URL reaches the disk.
_STATIC: dict[str, tuple[bytes, str]] = {}

_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


# --- language -------------------------------------------------------------------------------


def locale_of(request: Request, resources: Resources) -> str:
    """The agent's language: chosen in the console (a cookie), else Accept-Language, else the
    provider's default."""
    chosen = request.cookies.get(console_session.LANG_COOKIE)
    if chosen in SUPPORTED_LOCALES:
        return chosen
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip()
        if tag and catalog().locale_for(tag) == tag.split("-")[0].lower():
            return catalog().locale_for(tag)
    return resources.settings.default_locale


# --- rendering ------------------------------------------------------------------------------


def _csp(request: Request, resources: Resources) -> str:
    origin = urlsplit(resources.settings.public_url)
    ws = f"{'wss' if origin.scheme == 'https' else 'ws'}://{origin.netloc}"
    # The host the browser used too, so a console opened by another name of the host still
    # reaches its own socket (the socket itself checks the Origin).
    host = request.headers.get("host", "")
    ws_here = f"{'wss' if request.url.scheme == 'https' else 'ws'}://{host}" if host else ""
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' {ws} {ws_here}; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'; object-src 'none'"
    )


def render(
    request: Request,
    resources: Resources,
    template: str,
    locale: str,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    def t(key: str, **args: Any) -> str:
        return catalog().text(key, locale, **args)

    html = _env.get_template(template).render(
        t=t, locale=locale, locales=SUPPORTED_LOCALES, path=request.url.path, **context
    )
    return HTMLResponse(
        html,
        status_code=status_code,
        headers={
            "Content-Security-Policy": _csp(request, resources),
            "Cache-Control": "no-store",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "same-origin",
        },
    )


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


# The texts the page's script shows, handed to it in the page (no catalog lookups from JS).
JS_TEXT_KEYS = (
    "console-queue-empty",
    "console-mine-empty",
    "console-waiting-for",
    "console-channel-telegram",
    "console-channel-webchat",
    "console-from-customer",
    "console-from-bot",
    "console-from-agent",
    "console-from-system",
    "console-note",
    "console-attachment",
    "console-document",
    "console-payment",
    "console-claimed-by",
    "console-claimed-by-unknown",
    "console-claim-won",
    "console-customer-typing",
    "console-new-waiting",
    "console-new-waiting-body",
    "console-error-generic",
    "console-error-network",
    "console-session-ended",
    "console-state-waiting-agent",
    "console-state-agent",
    "console-state-bot",
    "console-state-closed",
    "console-card-none",
    "console-card-balance",
    "console-card-days-left",
    "console-card-tariff",
    "console-card-status",
    "console-card-promised",
    "console-card-freeze",
    "console-card-tickets",
    "console-card-payments",
    "console-card-documents",
    "console-card-channels",
    "console-card-contract",
    "console-card-send-document",
    "console-search-empty",
    "console-agent-online",
    "console-agent-away",
    "console-agent-offline",
    "console-transfer-none",
    "console-canned-empty",
    "console-sent",
    "console-note-saved",
    "console-released",
    "console-closed",
    "console-ticket-made",
    "console-transferred",
    "console-payment-sent",
    "console-amount-invalid",
    "console-bot-details",
    "console-no-conversation",
    "console-yes",
    "console-no",
    "console-tickets-empty",
    "console-ticket-internal",
    "console-ticket-saved",
    "console-conversations-of",
)


JS_TEXT_ARGS = ("name",)


def js_texts(locale: str) -> str:
    # Variables stay as `{name}` placeholders that the script fills in (PD.t).
    placeholders = {name: "{" + name + "}" for name in JS_TEXT_ARGS}
    texts = {k: catalog().text(k, locale, **placeholders) for k in JS_TEXT_KEYS}
    text = json.dumps(texts, ensure_ascii=False)
    # Inside a <script> element: no "</script>" or "<!--" can end or bend it.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# --- static files ---------------------------------------------------------------------------


@router.get("/agent/static/{name}")
async def static_file(name: str) -> Response:
    if not _STATIC:
        for path in STATIC_DIR.iterdir():
            if path.suffix in _STATIC_TYPES:
                _STATIC[path.name] = (path.read_bytes(), _STATIC_TYPES[path.suffix])
    found = _STATIC.get(name)
    if found is None:
        return JSONResponse({"error": "not_found", "detail": "not found"}, status_code=404)
    body, media_type = found
    return Response(body, media_type=media_type, headers={"Cache-Control": "no-cache"})


# --- sign-in --------------------------------------------------------------------------------


def _login_page(
    request: Request,
    resources: Resources,
    locale: str,
    *,
    step: str = "password",
    error: str | None = None,
    status_code: int = 200,
    login: str = "",
    retry_after: int | None = None,
) -> HTMLResponse:
    # A fresh double-submit token for the next form on every rendering.
    token = console_session.new_login_csrf()
    response = render(
        request,
        resources,
        "login.html",
        locale,
        status_code=status_code,
        step=step,
        error=error,
        login=login,
        csrf_token=token,
    )
    console_session.set_login_csrf(response, resources.settings, token)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _login_csrf_ok(request: Request, form_token: object) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE)
    return (
        isinstance(form_token, str)
        and bool(form_token)
        and bool(cookie)
        and hmac.compare_digest(form_token, cookie or "")
    )


def _field(form: Any, name: str, max_length: int) -> str | None:
    value = form.get(name)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if 0 < len(value) <= max_length else None


def _refusal_text(exc: AppError) -> str:
    if isinstance(exc, RateLimited):
        return "console-login-error-rate-limited"
    if isinstance(exc, EnrolmentLinkRequired):
        return "console-login-error-enrolment"
    if isinstance(exc, InvalidOtp):
        return "console-login-error-otp"
    if isinstance(exc, InvalidCredentials):
        return "console-login-error-credentials"
    if isinstance(exc, InvalidToken):
        return "console-login-error-expired"
    if isinstance(exc, ValidationFailed):
        return "console-login-error-code-required"
    return "console-login-error-generic"


@router.get("/agent/login")
async def login_form(request: Request) -> Response:
    resources = _resources(request)
    principal, tokens = await console_session.current(request, resources)
    if principal is not None:
        signed_in = _redirect("/agent")
        if tokens is not None:
            console_session.set_session(signed_in, resources.settings, tokens, principal.sid)
        return signed_in
    lang = request.query_params.get("lang")
    locale = lang if lang in SUPPORTED_LOCALES else locale_of(request, resources)
    response = _login_page(request, resources, locale)
    if lang in SUPPORTED_LOCALES:
        _remember_lang(response, resources, lang)
    return response


@router.post("/agent/login")
async def login_submit(request: Request) -> Response:
    resources = _resources(request)
    locale = locale_of(request, resources)
    form = await request.form()
    if not _login_csrf_ok(request, form.get("csrf_token")):
        return _login_page(
            request, resources, locale, error="console-login-error-csrf", status_code=403
        )
    login = _field(form, "login", 254)
    password = _field(form, "password", 256)
    if login is None or len(login) < 3 or password is None:
        return _login_page(
            request,
            resources,
            locale,
            error="console-login-error-credentials",
            status_code=422,
            login=login or "",
        )
    try:
        async with unit_of_work(resources.sessionmaker) as session:
            result = await auth_service.login(session, resources, login, password)
            user = None
            if result.mfa_token is not None:
                pending = decode_token(resources.settings, result.mfa_token, "mfa")
                user = await auth_repository.user_by_id(session, pending.user_id)
    except AppError as exc:
        return _login_page(
            request,
            resources,
            locale,
            error=_refusal_text(exc),
            status_code=exc.status,
            login=login,
            retry_after=exc.retry_after if isinstance(exc, RateLimited) else None,
        )
    if result.tokens is not None or user is None or user.role not in STAFF_ROLES:
        # A customer's right password: signed in by the service, so that session is ended at
        # once; the console is for staff only.
        if result.tokens is not None:
            await _end_session(resources, result.tokens.access_token)
        return _login_page(
            request, resources, locale, error="console-login-error-not-staff", status_code=403
        )
    if not user.totp_enabled:
        # Staff without 2FA enrol with an admin's link first (docs/security.md).
        return _login_page(
            request, resources, locale, error="console-login-error-enrolment", status_code=403
        )
    assert result.mfa_token is not None
    response = _login_page(request, resources, locale, step="code")
    console_session.set_mfa(response, resources.settings, result.mfa_token)
    return response


async def _end_session(resources: Resources, access_token: str) -> None:
    principal = decode_token(resources.settings, access_token, "access")
    async with unit_of_work(resources.sessionmaker) as session:
        await auth_service.logout(session, resources, principal)


@router.post("/agent/login/verify")
async def login_verify(request: Request) -> Response:
    resources = _resources(request)
    settings = resources.settings
    locale = locale_of(request, resources)
    form = await request.form()
    if not _login_csrf_ok(request, form.get("csrf_token")):
        return _login_page(
            request, resources, locale, step="code", error="console-login-error-csrf",
            status_code=403,
        )  # fmt: skip
    mfa_token = request.cookies.get(console_session.MFA_COOKIE)
    if not mfa_token:
        return _login_page(
            request, resources, locale, error="console-login-error-expired", status_code=401
        )
    code = _field(form, "code", 20)
    recovery_code = _field(form, "recovery_code", 32)
    if code is not None and (len(code) < 6 or not code.isdigit()):
        code = None
        recovery_code = recovery_code or None
    if code is None and recovery_code is None:
        return _login_page(
            request, resources, locale, step="code", error="console-login-error-code-required",
            status_code=422,
        )  # fmt: skip
    try:
        async with unit_of_work(resources.sessionmaker) as session:
            tokens = await auth_service.verify_mfa(
                session, resources, mfa_token, code, recovery_code
            )
            principal = decode_token(settings, tokens.access_token, "access")
            if principal.role not in STAFF_ROLES:
                raise StaffLoginRefusal()
    except StaffLoginRefusal:
        return _login_page(
            request, resources, locale, error="console-login-error-not-staff", status_code=403
        )
    except AppError as exc:
        # A spent or expired sign-in step starts again with the password.
        step = "password" if isinstance(exc, InvalidToken | EnrolmentLinkRequired) else "code"
        response = _login_page(
            request,
            resources,
            locale,
            step=step,
            error=_refusal_text(exc),
            status_code=exc.status,
            retry_after=exc.retry_after if isinstance(exc, RateLimited) else None,
        )
        if step == "password":
            console_session.clear_mfa(response, settings)
        return response
    signed_in = _redirect("/agent")
    console_session.set_session(signed_in, settings, tokens, principal.sid)
    console_session.clear_mfa(signed_in, settings)
    return signed_in


# --- the session ----------------------------------------------------------------------------


@router.post("/agent/refresh")
async def refresh(request: Request) -> Response:
    """Rotate the console's refresh cookie into a new access cookie (the page's script calls it
    before the access token expires, and after a 401). CSRF-checked like every unsafe request."""
    resources = _resources(request)
    settings = resources.settings
    presented = await presented_csrf(request)
    cookie = request.cookies.get(CSRF_COOKIE)
    if not presented or not cookie or not hmac.compare_digest(presented, cookie):
        raise CsrfFailed()
    refreshed = await _rotate_checked(resources, request, presented)
    if refreshed is None:
        response: Response = JSONResponse(
            {"error": "invalid_token", "detail": "the console session has ended; sign in again"},
            status_code=401,
        )
        console_session.clear_session(response, settings)
        return response
    response = Response(status_code=204)
    console_session.set_session(response, settings, refreshed.tokens, refreshed.principal.sid)
    return response


async def _rotate_checked(
    resources: Resources, request: Request, presented: str
) -> console_session.Refreshed | None:
    """Rotate, then check that the CSRF token belongs to the rotated session; a mismatch
    rolls the rotation back and refuses."""
    token = request.cookies.get(console_session.REFRESH_COOKIE)
    if not token or len(token) > 200:
        return None
    try:
        async with unit_of_work(resources.sessionmaker) as session:
            tokens = await auth_service.refresh(session, resources, token)
            principal = decode_token(resources.settings, tokens.access_token, "access")
            if principal.role not in STAFF_ROLES or not principal.has_mfa:
                raise InvalidToken()
            if not csrf_matches(
                resources.settings, principal.sid, presented, request.cookies.get(CSRF_COOKIE)
            ):
                raise CsrfFailed()
    except CsrfFailed:
        raise
    except AppError:
        return None
    return console_session.Refreshed(principal, tokens)


async def _logout_principal(request: Request, resources: Resources) -> Principal | None:
    """Whose session a sign-out ends: the access cookie's, or after it expired the refresh
    cookie's (its family is the session)."""
    principal = await console_session.principal_from_cookie(
        resources, request.cookies.get(CONSOLE_COOKIE)
    )
    if principal is not None:
        return principal
    token = request.cookies.get(console_session.REFRESH_COOKIE)
    if not token or len(token) > 200:
        return None
    async with resources.sessionmaker() as session:
        row = await auth_repository.refresh_token_by_hash(session, hash_opaque(token))
        if row is None or row.revoked_at is not None:
            return None
        user = await auth_repository.user_by_id(session, row.user_id)
        if user is None:
            return None
        return Principal(user.id, user.role, None, row.family_id, tuple(row.amr.split(",")))


@router.post("/agent/logout")
async def logout(request: Request) -> Response:
    """Sign out: the session is revoked (as `POST /api/v1/auth/logout` does), the agent goes
    offline (their conversations waiting for a reply return to the queue), the cookies go."""
    resources = _resources(request)
    settings = resources.settings
    principal = await _logout_principal(request, resources)
    if principal is not None:
        presented = await presented_csrf(request)
        if not csrf_matches(settings, principal.sid, presented, request.cookies.get(CSRF_COOKIE)):
            raise CsrfFailed()
        async with unit_of_work(resources.sessionmaker) as session:
            await auth_service.logout(session, resources, principal)
        await presence_hooks.offline(resources, principal)
    response = _redirect("/agent/login")
    console_session.clear_session(response, settings)
    return response


def _remember_lang(response: Response, resources: Resources, lang: str) -> None:
    response.set_cookie(
        console_session.LANG_COOKIE,
        lang,
        max_age=365 * 86400,
        path="/agent",
        secure=console_session.secure_cookies(resources.settings),
        httponly=True,
        samesite="strict",
    )


# --- the pages ------------------------------------------------------------------------------


async def _page(request: Request, template: str, **context: Any) -> Response:
    resources = _resources(request)
    principal, tokens = await console_session.current(request, resources)
    if principal is None:
        response: Response = _redirect("/agent/login")
        console_session.clear_session(response, resources.settings)
        return response
    lang = request.query_params.get("lang")
    locale = lang if lang in SUPPORTED_LOCALES else locale_of(request, resources)
    async with resources.sessionmaker() as session:
        user = await auth_repository.user_by_id(session, principal.user_id)
    if user is None or not user.is_active:
        response = _redirect("/agent/login")
        console_session.clear_session(response, resources.settings)
        return response
    me = {
        "id": user.id,
        "role": user.role.value,
        "name": user.display_name or user.email or str(user.id),
        "admin": user.role is Role.admin,
    }
    response = render(
        request,
        resources,
        template,
        locale,
        me=me,
        texts=js_texts(locale),
        categories=[c.value for c in TicketCategory],
        statuses=[s.value for s in TicketStatus],
        priorities=[p.value for p in TicketPriority],
        **context,
    )
    if tokens is not None:
        console_session.set_session(response, resources.settings, tokens, principal.sid)
    if lang in SUPPORTED_LOCALES:
        _remember_lang(response, resources, lang)
    return response


@router.get("/agent")
async def console_page(request: Request) -> Response:
    return await _page(request, "console.html")


@router.get("/agent/tickets")
async def tickets_page(request: Request) -> Response:
    return await _page(request, "tickets.html")

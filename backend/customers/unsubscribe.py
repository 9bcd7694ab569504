"""One-click unsubscribe from marketing (RFC 8058): the signed link every marketing e-mail
carries, the confirmation page behind it and the POST that turns the customer's "marketing"
switch off.

The link is a capability: `c` is the customer id and `t` the HMAC-SHA256 of it under
SECRET_KEY. It never expires, because an e-mail read a year later must still unsubscribe, and
it only ever turns marketing off, so a leaked link can do nothing worse. A GET changes
nothing: mail scanners and link previewers fetch every link of a message, and a GET that
unsubscribed would unsubscribe everyone they scan. The change is a POST, from the page's button
or from the mail client's one-click POST to the List-Unsubscribe URL (the same URL, with the
body `List-Unsubscribe=One-Click`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from html import escape
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException

from backend.audit import service as audit
from backend.config import Settings
from backend.customers import repository
from backend.customers.service import notification_preferences
from backend.deps import SessionDep, SettingsDep
from backend.i18n import t
from backend.payments.pages import negotiate_locale
from backend.validation import MAX_ID

# backend.api mounts this router under /api/v1; the core may not import it for the prefix.
UNSUBSCRIBE_PATH = "/api/v1/unsubscribe"
# Longer than any token this module makes (43 characters): anything longer is not one of ours.
MAX_TOKEN_LENGTH = 128

router = APIRouter(tags=["customers"])


def unsubscribe_token(settings: Settings, customer_id: int) -> str:
    """The HMAC-SHA256 of the customer id under SECRET_KEY, base64url without padding. The
    purpose is part of the signed text, so no other HMAC of the id made with this key (the
    console's CSRF tokens, say) can stand in for it."""
    digest = hmac.new(
        settings.secret_key.get_secret_value().encode(),
        f"unsubscribe:{customer_id}".encode(),
        hashlib.sha256,
    ).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def token_matches(settings: Settings, customer_id: int, token: str) -> bool:
    """Whether `token` is the customer's unsubscribe token (compared in constant time)."""
    expected = unsubscribe_token(settings, customer_id).encode()
    return hmac.compare_digest(expected, token.encode("utf-8", "replace"))


def unsubscribe_url(settings: Settings, customer_id: int, locale: str | None = None) -> str:
    """The absolute link for the customer's marketing e-mail (and its List-Unsubscribe
    header); `locale` picks the language of the pages behind it."""
    query = {"c": str(customer_id), "t": unsubscribe_token(settings, customer_id)}
    if locale:
        query["lang"] = locale
    return f"{settings.public_url.rstrip('/')}{UNSUBSCRIBE_PATH}?{urlencode(query)}"


async def unsubscribe(session: AsyncSession, customer_id: int) -> bool:
    """Turn the customer's marketing switch off. Returns whether it was on; a customer who is
    already off, or no longer exists, is left as is (a link may be clicked twice)."""
    customer = await repository.customer_by_id(session, customer_id)
    if customer is None:
        return False
    if not notification_preferences(customer).marketing:
        return False
    # a new dict (in-place mutation of a JSON column is not tracked) with the other switches
    # exactly as stored
    customer.notification_preferences = {
        **(customer.notification_preferences or {}),
        "marketing": False,
    }
    await session.flush()
    await audit.record(
        session, "customer.unsubscribed", None, "customer", customer.id, via="email_link"
    )
    return True


# --- pages ----------------------------------------------------------------------------------

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f4f5f7;
margin:0;color:#1d2330}
main{max-width:26rem;margin:3rem auto;background:#fff;border-radius:12px;padding:2rem;
box-shadow:0 2px 12px rgba(0,0,0,.08)}
h1{font-size:1.3rem;margin:0 0 1rem}
button{width:100%;padding:.8rem;font-size:1rem;border-radius:8px;border:0;cursor:pointer;
background:#1d2330;color:#fff}
"""


def _page(locale: str, body: str, *, status_code: int = 200) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    title = t("notifications-unsubscribe-title", locale)
    html = (
        f'<!doctype html>\n<html lang="{escape(locale)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{escape(title)}</title>"
        f'<style nonce="{nonce}">{_STYLE}</style></head>'
        f"<body><main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )
    headers = {
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'nonce-{nonce}'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Frame-Options": "DENY",
        # the page's URL holds the token: it must not travel on in a Referer
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }
    return HTMLResponse(html, status_code=status_code, headers=headers)


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def _invalid(request: Request, locale: str) -> Response:
    if _wants_json(request):
        return JSONResponse(
            {"error": "invalid_unsubscribe_link", "detail": "the link is damaged or incomplete"},
            status_code=400,
        )
    text = escape(t("notifications-unsubscribe-invalid", locale))
    return _page(locale, f"<p>{text}</p>", status_code=400)


def _customer_id(settings: Settings, c: str | None, token: str | None) -> int | None:
    """The customer of a well-formed link with a good token, else None."""
    if not c or not token or len(c) > 19 or len(token) > MAX_TOKEN_LENGTH:
        return None
    if not c.isascii() or not c.isdigit() or not 0 < int(c) <= MAX_ID:
        return None
    customer_id = int(c)
    return customer_id if token_matches(settings, customer_id, token) else None


Param = Annotated[str | None, Query()]
# the token travels as `t`, which would shadow the catalog's t() inside the endpoints
TokenParam = Annotated[str | None, Query(alias="t")]


@router.get("/unsubscribe", response_class=HTMLResponse)
async def unsubscribe_page(
    request: Request,
    settings: SettingsDep,
    c: Param = None,
    token: TokenParam = None,
    lang: Param = None,
) -> Response:
    """The page behind the unsubscribe link of a marketing e-mail: a button that confirms.
    Changes nothing (mail scanners open links). A damaged link: 400."""
    locale = negotiate_locale(lang, request.headers.get("accept-language"))
    customer_id = _customer_id(settings, c, token)
    if customer_id is None:
        return _invalid(request, locale)
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{escape(value)}">'
        for name, value in (("c", str(customer_id)), ("t", token or ""), ("lang", locale))
    )
    body = (
        f"<p>{escape(t('notifications-unsubscribe-confirm', locale))}</p>"
        f'<form method="post" action="{UNSUBSCRIBE_PATH}">{hidden}'
        f'<button type="submit">{escape(t("notifications-unsubscribe-button", locale))}'
        "</button></form>"
    )
    return _page(locale, body)


@router.post("/unsubscribe", response_class=HTMLResponse)
async def unsubscribe_confirmed(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    c: Param = None,
    token: TokenParam = None,
    lang: Param = None,
) -> Response:
    """Turn marketing off for the customer of the link: the page's button (form fields `c`,
    `t`) or a mail client's RFC 8058 one-click POST to the List-Unsubscribe URL (`c` and `t` in
    the query). Answers a page saying so, also when it was already off. A damaged link: 400,
    nothing changed."""
    fields: dict[str, str | None] = {"c": c, "t": token, "lang": lang}
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        try:
            form = await request.form()
        except (HTTPException, ValueError):  # a malformed body: a damaged request, not a 500
            form = None
        if form is not None:
            for name in fields:
                value = form.get(name)
                if isinstance(value, str) and value:
                    fields[name] = value
    locale = negotiate_locale(fields["lang"], request.headers.get("accept-language"))
    customer_id = _customer_id(settings, fields["c"], fields["t"])
    if customer_id is None:
        return _invalid(request, locale)
    await unsubscribe(session, customer_id)
    if _wants_json(request):
        return JSONResponse({"unsubscribed": True})
    return _page(locale, f"<p>{escape(t('notifications-unsubscribe-done', locale))}</p>")

"""The widget's two public pages: `GET /widget.js`, the embeddable chat (static/widget.js with
the texts of both languages filled in from locales/*/widget.ftl, so the widget needs no second
request and every string stays in the catalogs), and `GET /`, the demo page of a fictional
provider that embeds the widget exactly as a provider's site would (docs/widget.md)."""

from __future__ import annotations

import hashlib
import json
import secrets
from decimal import Decimal
from functools import lru_cache
from html import escape
from pathlib import Path

from babel.numbers import format_currency
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse, Response
from fluent.syntax import ast as fl
from fluent.syntax import parse

from backend.billing import service as billing
from backend.deps import ResourcesDep, SessionDep
from backend.i18n import LOCALES_DIR, SUPPORTED_LOCALES, catalog
from backend.models import Tariff
from backend.payments.pages import negotiate_locale
from backend.seed import DEMO_CONTRACT, DEMO_CUSTOMER_PASSWORD

router = APIRouter(include_in_schema=False)

STATIC_DIR = Path(__file__).parent / "static"
_PLACEHOLDER = "/*PD_STRINGS*/{}"
# The widget fills these in itself: `{name}` in the text it is given.
_VARIABLES = ("name", "filename", "amount", "max")
# API errors the in-chat sign-in may meet, shown in the customer's language.
_ERROR_KEYS = (
    "error-invalid-credentials",
    "error-invalid-otp",
    "error-invalid-token",
    "error-rate-limited",
    "error-service-unavailable",
    "error-validation-error",
    "error-mfa-required",
    "error-file-too-large",
    "error-file-type-not-allowed",
    "error-file-missing",
    "error-visitor-token-invalid",
)


def widget_strings() -> dict[str, dict[str, str]]:
    """Every `widget-` text (but the demo page's) and the sign-in errors, per language."""
    cat = catalog()
    out: dict[str, dict[str, str]] = {}
    for locale in SUPPORTED_LOCALES:
        resource = parse((LOCALES_DIR / locale / "widget.ftl").read_text(encoding="utf-8"))
        keys = [
            entry.id.name
            for entry in resource.body
            if isinstance(entry, fl.Message) and not entry.id.name.startswith("widget-demo-")
        ]
        fill = {name: "{" + name + "}" for name in _VARIABLES}
        errors = [key for key in _ERROR_KEYS if cat.has(key, locale)]
        out[locale] = {key: cat.text(key, locale, **fill) for key in (*keys, *errors)}
    return out


@lru_cache(maxsize=1)
def widget_script() -> tuple[bytes, str]:
    """The script with its texts, and its ETag; built once per process."""
    source = (STATIC_DIR / "widget.js").read_text(encoding="utf-8")
    strings = json.dumps(widget_strings(), ensure_ascii=False, separators=(",", ":"))
    body = source.replace(_PLACEHOLDER, strings, 1).encode()
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


@router.get("/widget.js")
async def widget_js(if_none_match: str | None = Header(default=None, max_length=1024)) -> Response:
    body, etag = widget_script()
    headers = {
        "ETag": etag,
        # short, so that a new release reaches the providers' sites within minutes
        "Cache-Control": "public, max-age=300",
        "X-Content-Type-Options": "nosniff",
        # other sites load it with a <script> tag, also under Cross-Origin-Embedder-Policy
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if if_none_match is not None and etag in if_none_match:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/javascript; charset=utf-8", headers=headers)


# --- the demo page ----------------------------------------------------------------------------

_STYLE = """
*{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1f24;
background:#fff;line-height:1.5}
a{color:#0a4a8f}
header.top{display:flex;align-items:center;gap:1.5rem;padding:1rem 2rem;flex-wrap:wrap;
border-bottom:1px solid #e2e5ea}
.logo{font-weight:700;font-size:1.3rem;color:#0b5cab;text-decoration:none;margin-right:auto}
nav{display:flex;gap:1.2rem;flex-wrap:wrap}
.hero{background:linear-gradient(120deg,#0b5cab,#083d73);color:#fff;padding:3.5rem 2rem}
.hero h1{font-size:2.2rem;margin:0 0 1rem;max-width:40rem}
.hero p{max-width:36rem;font-size:1.1rem;margin:0 0 1.5rem}
.hero button{background:#fff;color:#083d73;border:0;border-radius:8px;padding:.8rem 1.4rem;
font-size:1rem;font-weight:600;cursor:pointer}
.hero button:focus-visible{outline:3px solid #ffd84d;outline-offset:3px}
main section{padding:2.5rem 2rem;max-width:64rem;margin:0 auto}
.tariffs{display:grid;grid-template-columns:repeat(auto-fit,minmax(14rem,1fr));gap:1rem;
padding:0;list-style:none}
.tariffs li{border:1px solid #d5d9e0;border-radius:12px;padding:1.2rem}
.tariffs h3{margin:0 0 .3rem}
.price{font-size:1.3rem;font-weight:600;margin:.5rem 0 0}
.try{background:#f4f5f7;border-radius:12px}
footer{padding:2rem;color:#4a525e;font-size:.9rem;text-align:center}
"""

# The hero's "ask in the chat" button: the one script the page itself runs.
_PAGE_SCRIPT = """
document.getElementById("ask").addEventListener("click",function(){
  if(window.ProviderDesk){window.ProviderDesk.open();}
});
"""


def _price(amount: int, currency: str, locale: str) -> str:
    return format_currency(Decimal(amount).scaleb(-2), currency, locale=locale)


def _tariff_item(tariff: Tariff, locale: str) -> str:
    cat = catalog()
    speed = cat.text("widget-demo-tariff-speed", locale, down=tariff.speed_down_mbps)
    price = cat.text(
        "widget-demo-tariff-price", locale, price=_price(tariff.price, tariff.currency, locale)
    )
    description = f"<p>{escape(tariff.description)}</p>" if tariff.description else ""
    return (
        f"<li><h3>{escape(tariff.name)}</h3>{description}<p>{escape(speed)}</p>"
        f'<p class="price">{escape(price)}</p></li>'
    )


@router.get("/", response_class=HTMLResponse)
async def demo_page(
    request: Request,
    session: SessionDep,
    res: ResourcesDep,
    lang: str | None = Query(default=None, max_length=16),
    accept_language: str | None = Header(default=None, max_length=1024),
) -> HTMLResponse:
    locale = negotiate_locale(lang, accept_language)
    cat = catalog()

    def t(key: str, **args: object) -> str:
        return escape(cat.text(key, locale, **args))

    tariffs = await billing.list_tariffs(session)
    items = "".join(_tariff_item(tariff, locale) for tariff in tariffs)
    tariff_block = (
        f'<ul class="tariffs">{items}</ul>' if items else f"<p>{t('widget-demo-tariffs-empty')}</p>"
    )
    account = ""
    if res.settings.seed_demo:  # the demo data is there: say how to sign in with it
        hint = t("widget-demo-try-account", login=DEMO_CONTRACT, password=DEMO_CUSTOMER_PASSWORD)
        account = f"<p><strong>{hint}</strong></p>"
    other = "en" if locale == "ru" else "ru"
    # Same origin here; a provider's site puts this app's address as its data-server.
    server = res.settings.public_url.rstrip("/") or str(request.base_url).rstrip("/")
    nonce = secrets.token_urlsafe(16)
    html = f"""<!doctype html>
<html lang="{locale}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{t("widget-demo-title")}</title>
<style nonce="{nonce}">{_STYLE}</style>
</head>
<body>
<header class="top">
<a class="logo" href="/?lang={locale}">{"СетьПлюс" if locale == "ru" else "SetPlus"}</a>
<nav aria-label="{t("widget-demo-nav-support")}">
<a href="#tariffs">{t("widget-demo-nav-tariffs")}</a>
<a href="/agent">{t("widget-demo-nav-agents")}</a>
<a href="/docs">{t("widget-demo-nav-api")}</a>
<a href="/?lang={other}" lang="{other}" hreflang="{other}">{t("widget-demo-lang-switch")}</a>
</nav>
</header>
<main>
<div class="hero">
<h1>{t("widget-demo-hero-title")}</h1>
<p>{t("widget-demo-hero-text")}</p>
<button type="button" id="ask">{t("widget-demo-hero-cta")}</button>
</div>
<section id="tariffs" aria-labelledby="tariffs-title">
<h2 id="tariffs-title">{t("widget-demo-tariffs-title")}</h2>
{tariff_block}
</section>
<section class="try" aria-labelledby="try-title">
<h2 id="try-title">{t("widget-demo-try-title")}</h2>
<p>{t("widget-demo-try-text")}</p>
{account}
<p><a href="/agent">{t("widget-demo-try-agents")}</a> ·
<a href="/docs">{t("widget-demo-try-api")}</a></p>
</section>
</main>
<footer>{t("widget-demo-footer")}</footer>
<script nonce="{nonce}">{_PAGE_SCRIPT}</script>
<script src="{escape(server)}/widget.js" data-server="{escape(server)}"
 data-title="{t("widget-title")}" data-color="#0b5cab" data-position="right"
 data-locale="{locale}" async></script>
</body>
</html>"""
    # The page's own style and script by nonce; the widget, its API calls and its socket from
    # the server it names (this app: 'self', unless the page was reached by another name).
    socket = "ws" + server.removeprefix("http")
    csp = (
        f"default-src 'self'; script-src 'self' {server} 'nonce-{nonce}'; "
        f"style-src 'self' 'nonce-{nonce}'; img-src 'self' data: blob:; "
        f"connect-src 'self' {server} {socket}; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'"
    )
    return HTMLResponse(html, headers={"Content-Security-Policy": csp, "Cache-Control": "no-store"})

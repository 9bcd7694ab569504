"""The HTML pages of payments: the sandbox checkout and the payment status page a customer
lands on after paying. Every text comes from locales/*/payments.ftl and every value is
escaped; a strict Content-Security-Policy allows only this page's own nonce'd style and
script and form posts back to this origin."""

from __future__ import annotations

import secrets
from decimal import Decimal
from html import escape

from fastapi.responses import HTMLResponse

from backend.i18n import catalog, t
from backend.models import Payment, PaymentStatus

STATUS_POLL_PATH = "/api/v1/payments/{public_id}/status"

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f4f5f7;
margin:0;color:#1d2330}
main{max-width:26rem;margin:3rem auto;background:#fff;border-radius:12px;padding:2rem;
box-shadow:0 2px 12px rgba(0,0,0,.08)}
h1{font-size:1.3rem;margin:0 0 1rem}
.note{background:#fff7e0;border-radius:8px;padding:.6rem .8rem;font-size:.9rem}
.amount{font-size:1.8rem;font-weight:600;margin:1rem 0 .3rem}
.desc{color:#555;margin:0 0 1.5rem}
.actions{display:flex;gap:.8rem}
.actions form{flex:1}
button{width:100%;padding:.8rem;font-size:1rem;border-radius:8px;border:0;cursor:pointer}
.pay{background:#1a7f37;color:#fff}
.decline{background:#e9ebef;color:#1d2330}
.status{font-size:1.1rem;margin:1rem 0}
.status.succeeded{color:#1a7f37}
.status.cancelled,.status.failed,.status.expired{color:#b42318}
"""

_POLL_SCRIPT = """
(function(){
  var el=document.getElementById("status");
  if(!el||el.dataset.current!=="pending"){return;}
  function tick(){
    fetch(el.dataset.url,{headers:{"Accept":"application/json"},cache:"no-store"})
      .then(function(r){return r.ok?r.json():null;})
      .then(function(d){
        var s=d&&d.status;
        if(s&&el.dataset[s]!==undefined&&s!=="pending"){
          el.textContent=el.dataset[s];el.className="status "+s;return;
        }
        setTimeout(tick,2000);
      })
      .catch(function(){setTimeout(tick,4000);});
  }
  setTimeout(tick,1000);
})();
"""


def negotiate_locale(lang: str | None, accept_language: str | None) -> str:
    """`?lang=` first, then the best supported language of Accept-Language."""
    cat = catalog()
    if lang:
        short = lang.split("-")[0].split("_")[0].lower()
        if short in cat.bundles:
            return short
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "")[:512].split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        short = tag.strip().split("-")[0].lower()
        if short in cat.bundles and quality > 0:
            ranked.append((-quality, index, short))
    return min(ranked)[2] if ranked else cat.default_locale


def _money(amount: int) -> Decimal:
    return Decimal(amount).scaleb(-2)


def _page(locale: str, title: str, body: str, *, status_code: int = 200) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    html = (
        f'<!doctype html>\n<html lang="{escape(locale)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{escape(title)}</title>"
        f'<style nonce="{nonce}">{_STYLE}</style></head>'
        f"<body><main>{body}</main>"
        f'<script nonce="{nonce}">{_POLL_SCRIPT}</script></body></html>'
    )
    headers = {
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
            "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }
    return HTMLResponse(html, status_code=status_code, headers=headers)


def checkout_page(
    locale: str, payment: Payment, *, description: str, form_token: str
) -> HTMLResponse:
    """The sandbox provider's payment form: amount, description, Pay and Decline."""
    assert payment.provider_payment_id is not None
    base = f"/pay/sandbox/{escape(payment.provider_payment_id)}"
    amount = t(
        "payments-checkout-amount", locale, amount=_money(payment.amount), currency=payment.currency
    )
    hidden = (
        f'<input type="hidden" name="token" value="{escape(form_token)}">'
        f'<input type="hidden" name="lang" value="{escape(locale)}">'
    )
    body = (
        f"<h1>{escape(t('payments-checkout-title', locale))}</h1>"
        f'<p class="note">{escape(t("payments-checkout-sandbox-note", locale))}</p>'
        f'<p class="amount">{escape(amount)}</p>'
        f'<p class="desc">{escape(description)}</p>'
        '<div class="actions">'
        f'<form method="post" action="{base}/pay">{hidden}'
        f'<button class="pay" type="submit">{escape(t("payments-checkout-pay", locale))}'
        "</button></form>"
        f'<form method="post" action="{base}/decline">{hidden}'
        f'<button class="decline" type="submit">'
        f"{escape(t('payments-checkout-decline', locale))}</button></form>"
        "</div>"
    )
    return _page(locale, t("payments-checkout-title", locale), body)


_STATUS_KEYS = {
    PaymentStatus.pending: "payments-status-pending",
    PaymentStatus.succeeded: "payments-status-succeeded",
    PaymentStatus.cancelled: "payments-status-cancelled",
    PaymentStatus.failed: "payments-status-failed",
    PaymentStatus.expired: "payments-status-expired",
}


def status_page(locale: str, payment: Payment, *, return_url: str | None = None) -> HTMLResponse:
    """Where the customer lands after paying: the status, updated by polling the public
    status endpoint until it is final, and the way back to the chat or app."""
    texts = {s.value: t(key, locale) for s, key in _STATUS_KEYS.items()}
    data = " ".join(f'data-{name}="{escape(text)}"' for name, text in texts.items())
    poll = STATUS_POLL_PATH.format(public_id=payment.public_id)
    amount = t(
        "payments-checkout-amount", locale, amount=_money(payment.amount), currency=payment.currency
    )
    back = (
        f'<p><a href="{escape(return_url)}">{escape(t("payments-status-return-link", locale))}'
        "</a></p>"
        if return_url
        else ""
    )
    body = (
        f"<h1>{escape(t('payments-status-title', locale))}</h1>"
        f'<p class="amount">{escape(amount)}</p>'
        f'<p id="status" class="status {escape(payment.status.value)}" '
        f'data-current="{escape(payment.status.value)}" data-url="{escape(poll)}" {data}>'
        f"{escape(texts[payment.status.value])}</p>"
        f"<p>{escape(t('payments-status-return', locale))}</p>{back}"
    )
    return _page(locale, t("payments-status-title", locale), body)


def error_page(locale: str, *, status_code: int, key: str) -> HTMLResponse:
    body = f"<h1>{escape(t('payments-error-title', locale))}</h1><p>{escape(t(key, locale))}</p>"
    return _page(locale, t("payments-error-title", locale), body, status_code=status_code)

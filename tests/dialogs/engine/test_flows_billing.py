"""The billing flows (promised payment, tariffs, my services, suspension, settings) end to end
through Engine.handle, in Russian and English."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fluent.syntax import FluentParser, ast
from sqlalchemy import func, select

from backend.clock import business_today
from backend.config import ROOT_DIR
from backend.i18n import SUPPORTED_LOCALES, t
from backend.models import (
    Conversation,
    Customer,
    PromisedPayment,
    Subscription,
    SubscriptionStatus,
    Suspension,
    SuspensionStatus,
)
from backend.state import Resources
from dialogs.engine import Engine
from dialogs.flows import default_flows
from dialogs.flows.base import Registry
from dialogs.types import Outbound, payload
from tests.dialogs.engine.conftest import KEYWORDS, Chat, buttons, texts
from tests.factories import make_customer, make_subscription, make_tariff

LOCALES = ["ru", "en"]
EXTRA_KEYWORDS = (
    ("promised_payment", ("обещан", "promised")),
    ("change_tariff", ("сменить тариф", "change tariff")),
    ("list_tariffs", ("тарифы", "tariffs")),
    ("my_services", ("мои услуги", "my services")),
    ("suspend_service", ("заморо", "pause")),
    ("affirm", ("да", "yes")),
)


class Parser:
    """The engine tests' keyword parser plus the billing intents and a tariff entity."""

    def parse(self, text: str, lang: str | None = None) -> dict[str, Any]:
        low = text.lower()
        name, confidence = "out_of_scope", 0.3
        for intent, words in (*EXTRA_KEYWORDS, *KEYWORDS):
            if any(w in low.split() or ((" " in w or len(w) > 3) and w in low) for w in words):
                name, confidence = intent, 0.95
                break
        entities = []
        match = re.search(r"«([^»]+)»", text)
        if match:
            entities.append({"entity": "tariff", "value": match.group(1)})
        return {"text": text, "intent": {"name": name, "confidence": confidence},
                "entities": entities}  # fmt: skip


def _registry() -> Registry:
    registry = default_flows()
    for name in ("promised_payment", "list_tariffs", "change_tariff", "my_services",
                 "suspend_service", "settings"):  # fmt: skip
        assert registry.get(name) is not None, name
    return registry


@pytest.fixture
def engine(resources: Resources) -> Engine:
    return Engine(resources, Parser(), _registry())


def _button(items: list[Outbound], label: str) -> str:
    found = dict(buttons(items))
    assert label in found, (label, list(found))
    return found[label]


async def _customer(session, *, balance: int = 35000, price: int = 60000, **sub: Any):
    _, customer = await make_customer(session, balance=balance)
    tariff = await make_tariff(session, name="Дом 300", price=price, speed_down_mbps=300)
    await make_subscription(session, customer, tariff, **sub)
    await session.commit()
    return customer, tariff


# --- promised payment -------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
async def test_promised_payment_terms_confirm_take(engine: Engine, session, locale: str) -> None:
    customer, _ = await _customer(session, balance=-18800, status=SubscriptionStatus.blocked)
    chat = Chat(engine, customer_id=customer.id, locale=locale)
    replies = await chat.say(payload=payload("promised_payment", "start"))
    first = texts(replies)
    assert first.startswith(
        "Доступ на 3 дня: 188 ₽" if locale == "ru" else "Access for 3 days: 188 RUB"
    )
    assert t("dialogs-button-cancel", locale) in [label for label, _ in buttons(replies)]
    assert await session.scalar(select(func.count()).select_from(PromisedPayment)) == 0
    take = _button(replies, t("dialogs-pp-take", locale))
    replies = await chat.say(payload=take)
    pp = await session.scalar(select(PromisedPayment))
    assert pp is not None and pp.customer_id == customer.id
    assert texts(replies).startswith(
        t("dialogs-pp-done-restored", locale, amount=1, until="x")[:20]
    )
    sub = await session.scalar(select(Subscription))
    await session.refresh(sub)
    assert sub is not None and sub.status is SubscriptionStatus.active
    # the confirm button again is stale and takes nothing twice
    replies = await chat.say(payload=take)
    assert t("dialogs-stale-button", locale) in texts(replies)
    assert await session.scalar(select(func.count()).select_from(PromisedPayment)) == 1
    # a second request is refused with the reason and a top-up as the next step
    replies = await chat.say("обещанный платёж" if locale == "ru" else "promised payment")
    assert t("error-pp-active", locale) in texts(replies)
    assert any(p.startswith("v1:top_up:start") for _, p in buttons(replies))


@pytest.mark.parametrize("locale", LOCALES)
async def test_promised_payment_refused_with_amount_to_pay(
    engine: Engine, session, locale: str
) -> None:
    customer, _ = await _customer(session, balance=-80000, status=SubscriptionStatus.blocked)
    chat = Chat(engine, customer_id=customer.id, locale=locale)
    replies = await chat.say("обещанный платёж" if locale == "ru" else "promised payment")
    assert texts(replies) == t("error-pp-debt-too-large", locale, amount=Decimal(200))
    label = t("dialogs-billing-pay-amount", locale, amount=Decimal(200))
    assert _button(replies, label) == payload("top_up", "start", 20000)
    conv = await session.scalar(select(Conversation))
    assert conv is not None and conv.flow.get("flow") is None
    # the button starts the top-up flow
    replies = await chat.say(payload=payload("top_up", "start", 20000))
    assert any(getattr(r, "amount", None) == 20000 for r in replies) or (
        t("dialogs-topup-preset-other", locale) in [label for label, _ in buttons(replies)]
    )
    assert await session.scalar(select(func.count()).select_from(PromisedPayment)) == 0


# --- tariffs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
async def test_list_tariffs_marks_current(engine: Engine, session, locale: str) -> None:
    customer, current = await _customer(session)
    other = await make_tariff(session, name="Дом 500", price=75000, speed_down_mbps=500)
    await make_tariff(session, name="Старый", price=10000, is_active=False)
    await session.commit()
    replies = await Chat(engine, customer_id=customer.id, locale=locale).say(
        "тарифы" if locale == "ru" else "tariffs"
    )
    text = texts(replies)
    assert "Дом 500" in text and "Старый" not in text
    marked = t("dialogs-tariff-line", locale, name="Дом 300", down=300, up=50,
               price=Decimal(600), period="monthly", current="yes")  # fmt: skip
    assert marked in text
    label = t("dialogs-tariff-switch-to", locale, name="Дом 500")
    assert _button(replies, label) == payload("change_tariff", "start", other.id)
    assert current.id not in [int(p.rsplit(":", 1)[1] or 0) for _, p in buttons(replies)
                              if p.startswith("v1:change_tariff")]  # fmt: skip


@pytest.mark.parametrize("locale", LOCALES)
async def test_upgrade_quote_now_and_confirm(
    engine: Engine, session, resources, locale: str
) -> None:
    customer, _ = await _customer(session, balance=100000)
    target = await make_tariff(session, name="Дом 500", price=75000, speed_down_mbps=500)
    await session.commit()
    chat = Chat(engine, customer_id=customer.id, locale=locale)
    replies = await chat.say(payload=payload("change_tariff", "start"))
    assert "Дом 300" in texts(replies)
    pick = [p for _, p in buttons(replies) if p == payload("change_tariff", "choose", target.id)]
    assert pick
    replies = await chat.say(payload=pick[0])
    today = business_today(resources.settings)
    assert ("Дом 500" in texts(replies)) and ("?" in texts(replies))
    now = _button(replies, t("dialogs-tariff-when-now", locale))
    # back returns to the choice, and the choice again to the quote
    back = await chat.say(payload=payload("nav", "back"))
    assert pick[0] in [p for _, p in buttons(back)]
    await chat.say(payload=pick[0])
    replies = await chat.say(payload=now)
    sub = await session.scalar(select(Subscription))
    assert sub is not None and sub.tariff_id != target.id  # nothing before the confirmation
    ok = _button(replies, t("dialogs-tariff-confirm-button", locale))
    replies = await chat.say(payload=ok)
    await session.refresh(sub)
    assert sub.tariff_id == target.id and sub.last_tariff_change_on == today
    assert texts(replies).startswith(t("dialogs-tariff-changed", locale, name="Дом 500",
                                       amount=Decimal(0))[:15])  # fmt: skip


@pytest.mark.parametrize("locale", LOCALES)
async def test_downgrade_is_scheduled_then_cancelled(engine: Engine, session, locale: str) -> None:
    customer, _ = await _customer(session)
    cheap = await make_tariff(session, name="Дом 100", price=40000)
    await session.commit()
    chat = Chat(engine, customer_id=customer.id, locale=locale)
    word = "сменить тариф на «Дом 100»" if locale == "ru" else "change tariff to «Дом 100»"
    replies = await chat.say(word)  # the tariff entity skips the choice
    ok = _button(replies, t("dialogs-tariff-confirm-button", locale))
    assert t("dialogs-tariff-when-now", locale) not in [label for label, _ in buttons(replies)]
    replies = await chat.say(payload=ok)
    sub = await session.scalar(select(Subscription))
    assert sub is not None and sub.scheduled_tariff_id == cheap.id
    assert sub.scheduled_change_on is not None and sub.scheduled_change_on.day == 1
    cancel = _button(replies, t("dialogs-tariff-cancel-pending", locale))
    # a second change is refused while one is pending: offered to cancel it
    replies = await chat.say(payload=payload("change_tariff", "start"))
    assert "Дом 100" in texts(replies)
    replies = await chat.say(payload=cancel)
    yes = _button(replies, t("dialogs-tariff-cancel-pending-yes", locale))
    await session.refresh(sub)
    assert sub.scheduled_tariff_id == cheap.id  # asked, not done yet
    replies = await chat.say(payload=yes)
    assert texts(replies) == t("dialogs-tariff-pending-cancelled", locale, name="Дом 100")
    await session.refresh(sub)
    assert sub.scheduled_tariff_id is None


@pytest.mark.parametrize("locale", LOCALES)
async def test_tariff_change_locked_during_promised_payment(
    engine: Engine, session, locale: str
) -> None:
    customer, _ = await _customer(session, balance=-18800, status=SubscriptionStatus.blocked)
    target = await make_tariff(session, name="Дом 500", price=75000)
    await session.commit()
    chat = Chat(engine, customer_id=customer.id, locale=locale)
    replies = await chat.say(payload=payload("promised_payment", "start"))
    await chat.say(payload=_button(replies, t("dialogs-pp-take", locale)))
    replies = await chat.say(payload=payload("change_tariff", "start", target.id))
    assert texts(replies) == t("error-locked-during-promised-payment", locale)
    assert any(p.startswith("v1:top_up:start") for _, p in buttons(replies))


# --- my services ------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
async def test_my_services_blocked_offers_pay_and_promised(
    engine: Engine, session, locale: str
) -> None:
    customer, _ = await _customer(session, balance=-18800, status=SubscriptionStatus.blocked)
    replies = await Chat(engine, customer_id=customer.id, locale=locale).say(
        "мои услуги" if locale == "ru" else "my services"
    )
    assert t("dialogs-services-blocked", locale, debt=Decimal(188)) in texts(replies)
    assert "Дом 300" in texts(replies)
    ps = [p for _, p in buttons(replies)]
    assert payload("top_up", "start", 18800) in ps and payload("promised_payment", "start") in ps


# --- suspension -------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
async def test_suspension_quote_confirm_and_resume(
    engine: Engine, session, resources, locale: str
) -> None:
    customer, _ = await _customer(session)
    chat = Chat(engine, customer_id=customer.id, locale=locale)
    replies = await chat.say("заморозить" if locale == "ru" else "pause my service")
    today_btn = _button(replies, t("dialogs-freeze-from-today", locale))
    replies = await chat.say(payload=today_btn)
    replies = await chat.say(payload=_button(replies, t("dialogs-freeze-days", locale, days=7)))
    today = business_today(resources.settings)
    assert f"7 {'дней' if locale == 'ru' else 'days'}" in texts(replies)
    assert await session.scalar(select(func.count()).select_from(Suspension)) == 0
    replies = await chat.say(payload=_button(replies, t("dialogs-freeze-confirm-button", locale)))
    pause = await session.scalar(select(Suspension))
    assert pause is not None and pause.status is SuspensionStatus.active
    assert pause.start_on == today and pause.end_on == today + timedelta(days=6)
    resume = _button(replies, t("dialogs-freeze-resume-button", locale))
    # my services shows the pause and the same [Resume]
    mine = await chat.say("мои услуги" if locale == "ru" else "my services")
    assert t("dialogs-services-frozen", locale, end="x")[:8] in texts(mine)
    assert resume in [p for _, p in buttons(mine)]
    replies = await chat.say(payload=resume)
    yes = _button(replies, t("dialogs-freeze-resume-yes", locale))
    replies = await chat.say(payload=yes)
    assert texts(replies) == t("dialogs-freeze-resumed", locale)
    status = await session.scalar(select(Suspension.status).where(Suspension.id == pause.id))
    sub = await session.scalar(select(Subscription).execution_options(populate_existing=True))
    assert status is SuspensionStatus.finished
    assert sub is not None and sub.status is SubscriptionStatus.active


async def test_suspension_typed_dates_and_too_short(engine: Engine, session, resources) -> None:
    customer, _ = await _customer(session)
    chat = Chat(engine, customer_id=customer.id, locale="ru")
    today = business_today(resources.settings)
    start = today + timedelta(days=2)
    await chat.say("заморозить")
    replies = await chat.say(start.strftime("%d.%m"))
    assert t("dialogs-freeze-days", "ru", days=14) in [label for label, _ in buttons(replies)]
    replies = await chat.say((start + timedelta(days=2)).strftime("%d.%m"))
    assert texts(replies).startswith(t("error-freeze-too-short", "ru", days=7))
    conv = await session.scalar(select(Conversation))
    assert conv is not None and conv.flow["step"] == "length"
    replies = await chat.say((start + timedelta(days=9)).strftime("%d.%m"))
    assert "10 дней" in texts(replies)
    replies = await chat.say("да")  # affirm confirms too
    pause = await session.scalar(select(Suspension))
    assert pause is not None and pause.status is SuspensionStatus.scheduled
    assert pause.start_on == start and texts(replies).startswith("Готово")


# --- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("before", "after"), [("ru", "en"), ("en", "ru")])
async def test_language_switch_changes_next_replies(
    engine: Engine, session, before: str, after: str
) -> None:
    customer, _ = await _customer(session)
    chat = Chat(engine, customer_id=customer.id, locale=before)
    replies = await chat.say(payload=payload("settings", "start"))
    replies = await chat.say(payload=_button(replies, t("dialogs-settings-lang-button", before)))
    chat.locale = None  # the adapter's hint no longer overrides the stored choice
    replies = await chat.say(payload=payload("settings", "lang", after))
    assert texts(replies) == t("dialogs-settings-lang-set", after)
    stored = await session.scalar(select(Customer.locale).where(Customer.id == customer.id))
    assert stored == after
    replies = await chat.say(payload=payload("my_services", "start"))
    assert t("dialogs-services-active", after) in texts(replies)


async def test_notification_toggle(engine: Engine, session) -> None:
    customer, _ = await _customer(session)
    chat = Chat(engine, customer_id=customer.id, locale="en")
    replies = await chat.say(payload=payload("settings", "start"))
    replies = await chat.say(payload=_button(replies, t("dialogs-settings-notify-button", "en")))
    label = t("dialogs-settings-topic", "en", topic="marketing", on="no")
    replies = await chat.say(payload=_button(replies, label))
    assert texts(replies).startswith(t("dialogs-settings-topic-on", "en", topic="marketing"))
    await session.refresh(customer)
    assert customer.notification_preferences["marketing"] is True
    assert t("dialogs-settings-topic", "en", topic="marketing", on="yes") in [
        lb for lb, _ in buttons(replies)
    ]


# --- cancel, stale buttons, catalogs ----------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
async def test_cancel_mid_flow_changes_nothing(engine: Engine, session, locale: str) -> None:
    customer, _ = await _customer(session)
    chat = Chat(engine, customer_id=customer.id, locale=locale)
    await chat.say(payload=payload("suspend_service", "start"))
    replies = await chat.say(payload=payload("suspend_service", "from", "today"))
    length = _button(replies, t("dialogs-freeze-days", locale, days=7))
    replies = await chat.say(payload=length)
    confirm = _button(replies, t("dialogs-freeze-confirm-button", locale))
    replies = await chat.say("отмена" if locale == "ru" else "cancel")
    assert texts(replies) == t("dialogs-cancelled", locale)
    # the old confirmation is stale now
    replies = await chat.say(payload=confirm)
    assert t("dialogs-stale-button", locale) in texts(replies)
    assert await session.scalar(select(func.count()).select_from(Suspension)) == 0


async def test_stale_buttons_of_another_step(engine: Engine, session) -> None:
    customer, _ = await _customer(session)
    target = await make_tariff(session, name="Дом 500", price=75000)
    await session.commit()
    chat = Chat(engine, customer_id=customer.id, locale="en")
    await chat.say(payload=payload("change_tariff", "start"))
    # a confirm button while the flow is at the choice: stale, the question again
    replies = await chat.say(payload=payload("change_tariff", "confirm", "yes"))
    assert t("dialogs-stale-button", "en") in texts(replies)
    assert payload("change_tariff", "choose", target.id) in [p for _, p in buttons(replies)]
    sub = await session.scalar(select(Subscription))
    assert sub is not None and sub.tariff_id != target.id and sub.scheduled_tariff_id is None


def _keys(locale: str) -> set[str]:
    text = (ROOT_DIR / "locales" / locale / "dialogs-billing.ftl").read_text(encoding="utf-8")
    resource = FluentParser().parse(text)
    assert [e for e in resource.body if isinstance(e, ast.Junk)] == []
    return {e.id.name for e in resource.body if isinstance(e, ast.Message)}


def test_catalog_same_keys_and_every_key_used_exists() -> None:
    assert _keys("ru") == _keys("en")
    used: set[str] = set()
    for name in ("promised", "tariffs", "services", "suspend", "settings"):
        code = (ROOT_DIR / "dialogs" / "flows" / f"{name}.py").read_text(encoding="utf-8")
        used |= set(re.findall(r'"((?:dialogs|error)-[a-z0-9-]+)"', code))
    assert len(used) > 60
    for locale in SUPPORTED_LOCALES:
        for key in used:
            assert t(key, locale) != key, key
    assert "1 день" in t("dialogs-freeze-days", "ru", days=1)
    assert "3 дня" in t("dialogs-freeze-days", "ru", days=3)
    assert "11 дней" in t("dialogs-freeze-days", "ru", days=11)

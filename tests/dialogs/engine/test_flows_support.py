"""The support flows end to end through Engine.handle, in Russian and English: no internet (debt,
outage, the guided checks ending in a ticket), slow internet, open ticket, ticket status,
documents, connect at a new address; cancel and back mid-flow."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from backend.billing import ledger
from backend.clock import business_today
from backend.i18n import t
from backend.models import (
    Document,
    DocumentKind,
    OutageSubscription,
    Role,
    SubscriptionStatus,
    Ticket,
    TicketCategory,
    TicketMessage,
    TicketPriority,
    TransactionReason,
    utcnow,
)
from backend.network import service as network
from backend.state import Resources
from dialogs.engine import Engine
from dialogs.flows import default_flows
from dialogs.types import DocumentOut, payload
from tests.dialogs.engine.conftest import Chat, KeywordParser, buttons, texts
from tests.factories import make_customer, make_subscription, make_tariff

LOCALES = ["ru", "en"]

SUPPORT_KEYWORDS = (
    ("slow_internet", ("медленн", "slow")),
    ("no_internet", ("нет интернета", "не работает интернет", "internet is down", "no internet")),
    ("ticket_status", ("статус заявки", "ticket status")),
    ("open_ticket", ("создать заявку", "open a ticket")),
    ("get_documents", ("документ", "акт", "document", "act for")),
    ("connect_new", ("подключить", "connect me")),
)


class SupportParser(KeywordParser):
    """The keyword parser plus the support intents and the ticket_id / document_type / period
    entities in the NLU's shapes."""

    def parse(self, text: str, lang: str | None = None) -> dict[str, Any]:
        low = text.lower()
        if low.strip(" .!") in ("да", "yes"):
            return {"text": text, "intent": {"name": "affirm", "confidence": 0.95}, "entities": []}
        for intent, words in SUPPORT_KEYWORDS:
            if any(w in low for w in words):
                entities: list[dict[str, Any]] = []
                ticket = re.search(r"(?:заявки|status)\s+(\d+)", low)
                if ticket:
                    entities.append({"entity": "ticket_id", "value": ticket.group(1)})
                if "акт" in low or "act" in low:
                    entities.append({"entity": "document_type", "value": "act"})
                period = re.search(r"\b(20\d\d-\d\d)\b", low)
                if period:
                    entities.append({"entity": "period", "value": period.group(1)})
                return {
                    "text": text,
                    "intent": {"name": intent, "confidence": 0.95},
                    "entities": entities,
                }
        return super().parse(text, lang)


@pytest.fixture
def engine(resources: Resources) -> Engine:
    return Engine(resources, SupportParser(), default_flows())


async def _customer(session, *, balance: int = 35000, status=SubscriptionStatus.active, **kw):
    _, customer = await make_customer(session, balance=balance, **kw)
    tariff = await make_tariff(session, name="Дом 300", price=60000, speed_down_mbps=300,
                               speed_up_mbps=100)  # fmt: skip
    await make_subscription(session, customer, tariff, status=status)
    await session.commit()
    return customer


def _button(replies, label: str) -> str:
    found = dict(buttons(replies))
    assert label in found, (label, list(found))
    return found[label]


async def _tickets(session) -> list[Ticket]:
    query = select(Ticket).order_by(Ticket.id).execution_options(populate_existing=True)
    return list((await session.scalars(query)).all())


# --- no internet ------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
async def test_no_internet_blocked_for_debt(engine: Engine, session, locale: str) -> None:
    customer = await _customer(session, balance=-18800, status=SubscriptionStatus.blocked)
    chat = Chat(engine, customer_id=customer.id, locale=locale, channel="webchat")
    replies = await chat.say("нет интернета" if locale == "ru" else "no internet")
    assert texts(replies) == t("dialogs-support-noinet-blocked", locale, debt=Decimal(188))
    payloads = [p for _, p in buttons(replies)]
    assert payload("top_up", "start") in payloads
    assert payload("promised_payment", "start") in payloads
    # the top-up offer leads straight into the top-up flow with the debt preset
    replies = await chat.say(payload=payload("top_up", "start"))
    assert texts(replies) == t("dialogs-topup-ask-debt", locale, debt=Decimal(188))
    assert await _tickets(session) == []


async def test_no_internet_debt_then_not_the_balance(engine: Engine, session) -> None:
    customer = await _customer(session, balance=-500)
    chat = Chat(engine, customer_id=customer.id, locale="en")
    replies = await chat.say("no internet")
    assert texts(replies) == t("dialogs-support-noinet-debt", "en", debt=Decimal(5))
    replies = await chat.say(payload=_button(replies, t("dialogs-support-noinet-check-more", "en")))
    assert texts(replies) == t("dialogs-support-noinet-router", "en")


@pytest.mark.parametrize("locale", LOCALES)
async def test_no_internet_anonymous_hears_the_outages_then_is_asked_to_sign_in(
    engine: Engine, session, locale: str
) -> None:
    chat = Chat(engine, channel="webchat", chat_id="visitor-outage", locale=locale)
    replies = await chat.say("не работает интернет" if locale == "ru" else "internet is down")
    assert t("dialogs-support-noinet-anonymous-none", locale) in texts(replies)
    assert t("dialogs-identify-webchat", locale) in texts(replies)

    await network.open_outage(session, title="OLT-9 Заречье", area="south", node=None)
    await session.commit()
    other = Chat(engine, channel="webchat", chat_id="visitor-outage-2", locale=locale)
    replies = await other.say("не работает интернет" if locale == "ru" else "internet is down")
    text = texts(replies)
    assert t("dialogs-support-noinet-anonymous-outages", locale) in text
    assert "OLT-9 Заречье" in text
    assert t("dialogs-identify-webchat", locale) in text


@pytest.mark.parametrize("locale", LOCALES)
async def test_no_internet_outage_subscribes_to_fix(
    engine: Engine, session, resources: Resources, locale: str
) -> None:
    customer = await _customer(session, network_node="node-7", network_area="north")
    fix = utcnow().replace(microsecond=0) + timedelta(minutes=90)
    outage = await network.open_outage(session, title="OLT-7", area=None, node="node-7",
                                       expected_fix_at=fix)  # fmt: skip
    await session.commit()
    chat = Chat(engine, customer_id=customer.id, locale=locale)
    replies = await chat.say("не работает интернет" if locale == "ru" else "internet is down")
    local = fix.astimezone(ZoneInfo(resources.settings.billing_timezone))
    today = business_today(resources.settings)
    when = f"{local:%H:%M}" if local.date() == today else None
    text = texts(replies)
    assert "OLT-7" in text
    if when:
        assert text == t("dialogs-support-noinet-outage", locale, title="OLT-7", time=when)
    yes = _button(replies, t("dialogs-support-yes", locale))
    replies = await chat.say(payload=yes)
    assert texts(replies) == t("dialogs-support-noinet-subscribed", locale)
    subs = (await session.scalars(select(OutageSubscription))).all()
    assert [(s.outage_id, s.customer_id) for s in subs] == [(outage.id, customer.id)]
    assert subs[0].conversation_id is not None
    assert await _tickets(session) == []


@pytest.mark.parametrize("locale", LOCALES)
async def test_no_internet_guided_checks_end_in_a_ticket(
    engine: Engine, session, resources: Resources, locale: str
) -> None:
    customer = await _customer(session)
    chat = Chat(engine, customer_id=customer.id, locale=locale)
    replies = await chat.say("нет интернета" if locale == "ru" else "no internet")
    assert texts(replies) == t("dialogs-support-noinet-router", locale)
    replies = await chat.say(payload=payload("no_internet", "router", "no"))
    assert texts(replies) == t("dialogs-support-noinet-los", locale)
    # back returns to the router question, and answering again moves on
    replies = await chat.say(payload=payload("nav", "back"))
    assert texts(replies) == t("dialogs-support-noinet-router", locale)
    await chat.say(payload=payload("no_internet", "router", "no"))
    replies = await chat.say(payload=payload("no_internet", "los", "yes"))
    assert texts(replies) == t("dialogs-support-noinet-wifi", locale)
    replies = await chat.say(payload=payload("no_internet", "wifi", "no"))
    (ticket,) = await _tickets(session)
    assert ticket.customer_id == customer.id
    assert ticket.category is TicketCategory.no_internet
    assert ticket.priority is TicketPriority.high
    assert ticket.details["checks"] == {"router_restarted": True, "los": True, "wifi_only": False}
    assert ticket.subject == t("dialogs-support-noinet-subject", locale)
    minutes = resources.settings.chat_first_reply_minutes
    assert texts(replies) == (
        t("dialogs-support-noinet-ticket", locale, number=str(ticket.id)) + "\n"
        + t("dialogs-support-reply-time", locale, minutes=minutes)
    )  # fmt: skip
    assert payload("nav", "agent") in [p for _, p in buttons(replies)]
    # the flow is over: the last button again is stale and opens nothing
    replies = await chat.say(payload=payload("no_internet", "wifi", "no"))
    assert t("dialogs-stale-button", locale) in texts(replies)
    assert len(await _tickets(session)) == 1


async def test_no_internet_restart_helped_opens_nothing(engine: Engine, session) -> None:
    customer = await _customer(session)
    chat = Chat(engine, customer_id=customer.id, locale="ru")
    await chat.say("нет интернета")
    replies = await chat.say(payload=payload("no_internet", "router", "yes"))
    assert texts(replies) == t("dialogs-support-noinet-helped", "ru")
    assert await _tickets(session) == []


def test_russian_plurals_of_the_reply_time() -> None:
    assert "1 минуту" in t("dialogs-support-reply-time", "ru", minutes=1)
    assert "3 минуты" in t("dialogs-support-reply-time", "ru", minutes=3)
    assert "15 минут" in t("dialogs-support-reply-time", "ru", minutes=15)
    assert "21 минуту" in t("dialogs-support-reply-time", "ru", minutes=21)


# --- slow internet ----------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
async def test_slow_internet_to_ticket(engine: Engine, session, locale: str) -> None:
    customer = await _customer(session)
    chat = Chat(engine, customer_id=customer.id, locale=locale)
    replies = await chat.say("медленный интернет" if locale == "ru" else "slow internet")
    assert t("dialogs-support-slow-tariff", locale, tariff="Дом 300", down=300, up=100) in (
        texts(replies)
    )
    replies = await chat.say(payload=payload("slow_internet", "link", "wifi"))
    assert texts(replies) == t("dialogs-support-slow-speedtest-wifi", locale)
    replies = await chat.say("45")
    assert texts(replies) == t("dialogs-support-slow-restart", locale)
    replies = await chat.say(payload=payload("slow_internet", "restart", "no"))
    assert texts(replies) == t("dialogs-support-slow-offer", locale)
    assert await _tickets(session) == []  # only offered, not yet created
    replies = await chat.say(payload=payload("slow_internet", "offer", "yes"))
    (ticket,) = await _tickets(session)
    assert ticket.category is TicketCategory.slow_internet
    assert ticket.details["checks"]["link"] == "wifi"
    assert ticket.details["checks"]["measured_down_mbps"] == 45
    assert ticket.details["tariff_down_mbps"] == 300
    assert t("dialogs-support-slow-ticket", locale, number=str(ticket.id)) in texts(replies)


# --- tickets ----------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
async def test_open_ticket_and_its_status(engine: Engine, session, locale: str) -> None:
    customer = await _customer(session)
    chat = Chat(engine, customer_id=customer.id, locale=locale)
    replies = await chat.say("создать заявку" if locale == "ru" else "open a ticket")
    assert texts(replies) == t("dialogs-support-ticket-describe", locale)
    replies = await chat.say("ok")
    assert texts(replies) == t("dialogs-support-ticket-too-short", locale)
    description = "Роутер перезагружается каждые 10 минут"
    replies = await chat.say(description)
    assert texts(replies) == t("dialogs-support-ticket-category", locale)
    category_label = t("dialogs-support-category", locale, category="equipment")
    replies = await chat.say(payload=_button(replies, category_label))
    assert t("dialogs-support-priority", locale, priority="medium") in texts(replies)
    assert await _tickets(session) == []  # nothing before the confirmation
    replies = await chat.say(payload=payload("open_ticket", "confirm", "yes"))
    (ticket,) = await _tickets(session)
    assert ticket.description == description
    assert ticket.category is TicketCategory.equipment
    assert ticket.priority is TicketPriority.medium
    assert t("dialogs-support-ticket-created", locale, number=str(ticket.id)) in texts(replies)

    # a staff reply, and the status by number shows it
    session.add(TicketMessage(ticket_id=ticket.id, author_role=Role.agent, body="Выезжаем завтра",
                              internal=False, created_at=utcnow()))  # fmt: skip
    session.add(TicketMessage(ticket_id=ticket.id, author_role=Role.agent, body="внутреннее",
                              internal=True, created_at=utcnow()))  # fmt: skip
    await session.commit()
    ask = "статус заявки" if locale == "ru" else "ticket status"
    replies = await chat.say(f"{ask} {ticket.id}")
    text = texts(replies)
    assert text.startswith(
        t("dialogs-support-status-detail", locale, number=str(ticket.id), subject=ticket.subject,
          status="open", created="x").split(" ")[0]
    )  # fmt: skip
    assert t("dialogs-support-status-reply", locale, reply="Выезжаем завтра") in text
    assert "внутреннее" not in text


async def test_open_ticket_no_internet_is_high_priority(engine: Engine, session) -> None:
    customer = await _customer(session)
    chat = Chat(engine, customer_id=customer.id, locale="en")
    await chat.say("open a ticket")
    await chat.say("The connection drops every evening")
    replies = await chat.say(payload=payload("open_ticket", "category", "no_internet"))
    assert t("dialogs-support-priority", "en", priority="high") in texts(replies)
    await chat.say("yes")  # the affirm intent confirms too
    (ticket,) = await _tickets(session)
    assert ticket.priority is TicketPriority.high


@pytest.mark.parametrize("locale", LOCALES)
async def test_ticket_status_latest_and_another_customers_number(
    engine: Engine, session, locale: str
) -> None:
    customer = await _customer(session)
    _, other = await make_customer(session)
    mine = Ticket(customer_id=customer.id, subject="Мой вопрос", description="d")
    theirs = Ticket(customer_id=other.id, subject="Чужой вопрос", description="d")
    session.add_all([mine, theirs])
    await session.commit()
    chat = Chat(engine, customer_id=customer.id, locale=locale)
    ask = "статус заявки" if locale == "ru" else "ticket status"
    # another customer's number looks exactly like a missing one
    replies = await chat.say(f"{ask} {theirs.id}")
    assert texts(replies) == t("dialogs-support-status-not-found", locale, number=str(theirs.id))
    assert "Чужой" not in texts(replies)
    replies = await chat.say(f"{ask} 99999999999999999999999")
    assert texts(replies).startswith(t("dialogs-support-status-not-found", locale, number="9")[:8])
    # without a number: the latest, own ones only, and a pick
    replies = await chat.say(ask)
    text = texts(replies)
    assert "Мой вопрос" in text and "Чужой" not in text
    replies = await chat.say(payload=_button(
        replies, t("dialogs-support-status-button", locale, number=str(mine.id))))  # fmt: skip
    assert "Мой вопрос" in texts(replies)
    assert t("dialogs-support-status-no-reply", locale) in texts(replies)
    # typing someone else's number at the pick step is "not found" too
    await chat.say(ask)
    replies = await chat.say(str(theirs.id))
    assert texts(replies) == t("dialogs-support-status-not-found", locale, number=str(theirs.id))


# --- documents --------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
async def test_documents_act_of_a_month_with_charges(
    engine: Engine, session, resources: Resources, locale: str
) -> None:
    customer = await _customer(session)
    today = business_today(resources.settings)
    for n in range(2):
        await ledger.post(
            session,
            customer_id=customer.id,
            amount=-2000,
            reason=TransactionReason.charge,
            reference_kind="charge",
            reference=f"sub:1:{today:%Y-%m}-0{n + 1}",
            description="Дом 300",
        )
    await session.commit()
    chat = Chat(engine, customer_id=customer.id, locale=locale)
    replies = await chat.say("документы" if locale == "ru" else "documents")
    assert texts(replies) == t("dialogs-support-docs-type", locale)
    act = _button(replies, t("dialogs-support-docs-kind", locale, type="act"))
    replies = await chat.say(payload=act)
    assert texts(replies) == t("dialogs-support-docs-period", locale)
    month = payload("get_documents", "period", f"{today:%Y-%m}")
    assert month in [p for _, p in buttons(replies)]
    assert len(buttons(replies)) == 3 + 2  # three months and [Back] [Cancel]
    (doc,) = await chat.say(payload=month)
    assert isinstance(doc, DocumentOut)
    stored = await session.scalar(select(Document))
    assert stored is not None and stored.id == doc.document_id
    assert stored.kind is DocumentKind.act and stored.period == f"{today:%Y-%m}"
    assert stored.customer_id == customer.id
    assert doc.filename == f"act-{today:%Y-%m}-v1.pdf"
    assert doc.caption and doc.caption.startswith(
        t("dialogs-support-docs-ready-period", locale, type="act", period="x")[:10]
    )
    # the same request by entities returns the stored document, not a new version
    (again,) = await chat.say(f"акт {today:%Y-%m}")
    assert isinstance(again, DocumentOut) and again.document_id == doc.document_id


async def test_documents_future_month_is_refused(
    engine: Engine, session, resources: Resources
) -> None:
    customer = await _customer(session)
    chat = Chat(engine, customer_id=customer.id, locale="en")
    future = business_today(resources.settings).replace(day=1) + timedelta(days=70)
    replies = await chat.say(f"act for {future:%Y-%m}")
    assert t("dialogs-support-docs-future", "en") in texts(replies)
    assert t("dialogs-support-docs-period", "en") in texts(replies)
    assert await session.scalar(select(Document)) is None


async def test_documents_contract(engine: Engine, session) -> None:
    customer = await _customer(session)
    chat = Chat(engine, customer_id=customer.id, locale="ru")
    await chat.say("документы")
    (doc,) = await chat.say(payload=payload("get_documents", "type", "contract"))
    assert isinstance(doc, DocumentOut)
    assert doc.caption == t("dialogs-support-docs-ready", "ru", type="contract")
    stored = await session.get(Document, doc.document_id)
    assert stored is not None and stored.kind is DocumentKind.contract


# --- connect at a new address -----------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
async def test_connect_new_anonymous(engine: Engine, session, locale: str) -> None:
    chat = Chat(engine, channel="webchat", chat_id="visitor-1", locale=locale)
    replies = await chat.say("подключить" if locale == "ru" else "connect me")
    assert texts(replies) == t("dialogs-support-connect-address", locale)
    replies = await chat.say("Казань, ул. Баумана, д. 5, кв. 12")
    assert texts(replies) == t("dialogs-support-connect-name", locale)
    replies = await chat.say("Анна")
    assert texts(replies) == t("dialogs-support-connect-phone", locale)
    replies = await chat.say("12")
    assert texts(replies) == t("dialogs-support-connect-bad-phone", locale)
    replies = await chat.say("8 (900) 123-45-67")
    assert "+79001234567" in texts(replies)
    assert await _tickets(session) == []  # nothing before the confirmation
    replies = await chat.say(payload=payload("connect_new", "confirm", "yes"))
    (ticket,) = await _tickets(session)
    assert ticket.customer_id is None
    assert ticket.category is TicketCategory.connection
    assert ticket.details["phone"] == "+79001234567"
    assert ticket.details["address"] == "Казань, ул. Баумана, д. 5, кв. 12"
    assert ticket.details["name"] == "Анна"
    assert texts(replies) == t("dialogs-support-connect-created", locale, number=str(ticket.id),
                               phone="+79001234567")  # fmt: skip


@pytest.mark.parametrize("locale", LOCALES)
async def test_cancel_and_back_mid_flow(engine: Engine, session, locale: str) -> None:
    chat = Chat(engine, channel="webchat", chat_id="visitor-2", locale=locale)
    await chat.say("подключить" if locale == "ru" else "connect me")
    await chat.say("Казань, ул. Баумана, д. 5, кв. 12")
    replies = await chat.say(payload=payload("nav", "back"))
    assert texts(replies) == t("dialogs-support-connect-address", locale)
    await chat.say("Казань, ул. Баумана, д. 5, кв. 12")
    await chat.say("Анна")
    replies = await chat.say("отмена" if locale == "ru" else "cancel")
    assert texts(replies) == t("dialogs-cancelled", locale)
    # the flow is gone: a phone number now is not taken as an answer
    replies = await chat.say("+7 900 123-45-67")
    assert t("dialogs-support-connect-confirm", locale, address="a", name="b", phone="c")[
        :10
    ] not in (texts(replies))
    assert await _tickets(session) == []

    customer = await _customer(session)
    chat = Chat(engine, customer_id=customer.id, locale=locale, chat_id="c-3")
    await chat.say("создать заявку" if locale == "ru" else "open a ticket")
    await chat.say("Не приходят уведомления о платежах")
    replies = await chat.say(payload=payload("nav", "cancel"))
    assert texts(replies) == t("dialogs-cancelled", locale)
    replies = await chat.say(payload=payload("open_ticket", "category", "payment"))
    assert t("dialogs-stale-button", locale) in texts(replies)
    assert await _tickets(session) == []


def test_every_support_key_exists_in_both_languages() -> None:
    from pathlib import Path

    from fluent.syntax import FluentParser, ast

    from backend.config import ROOT_DIR

    def keys(locale: str) -> set[str]:
        text = (ROOT_DIR / "locales" / locale / "dialogs-support.ftl").read_text(encoding="utf-8")
        resource = FluentParser().parse(text)
        assert not [e for e in resource.body if isinstance(e, ast.Junk)]
        return {e.id.name for e in resource.body if isinstance(e, ast.Message)}

    assert keys("ru") == keys("en")
    used: set[str] = set()
    for name in ("no_internet", "tickets", "documents", "connect"):
        source = Path(ROOT_DIR / "dialogs" / "flows" / f"{name}.py").read_text(encoding="utf-8")
        used |= set(re.findall(r'"(dialogs-support-[a-z0-9-]+)"', source))
    assert len(used) > 40
    assert used <= keys("ru"), used - keys("ru")

"""Domain events addressed to a customer: the worker finds the customer's channel, locale and
preferences, renders the kind's text from the payload its producer writes, keeps internal
events quiet and dead-letters what it cannot read."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from backend.audit.service import Actor
from backend.billing import promised, suspensions
from backend.billing.tasks import billing_run
from backend.models import OutboxStatus, Payment, PaymentStatus, Role, SubscriptionStatus
from backend.payments import service as payments
from backend.support import service as support
from backend.support.schemas import TicketUpdateIn
from notifications.channels import ChannelRegistry, FakeChannel
from notifications.events import EVENTS, INTERNAL
from notifications.worker import deliver_once
from tests.factories import (
    make_customer,
    make_invoice,
    make_subscription,
    make_tariff,
    make_ticket,
    make_user,
)
from tests.notifications.helpers import enqueue_committed, rows


@pytest.fixture
def email() -> FakeChannel:
    return FakeChannel()


@pytest.fixture
def sms() -> FakeChannel:
    return FakeChannel()


@pytest.fixture
def channels(email, sms) -> ChannelRegistry:
    return ChannelRegistry({"email": email, "sms": sms})


async def test_ticket_event_goes_to_the_customers_email_in_their_language(
    resources, session, email, sms, channels
):
    _, customer = await make_customer(session, email="anna@example.com", locale="en")
    await session.commit()
    payload = {"ticket_id": 42, "customer_id": customer.id, "status": "resolved",
               "event": "status_changed"}  # fmt: skip
    await enqueue_committed(resources, payload, "ticket:42:status:1", kind="ticket.updated")

    assert await deliver_once(resources, channels) == 1

    [sent] = email.sent
    assert (sent.channel, sent.to, sent.locale) == ("email", "anna@example.com", "en")
    assert sent.text.startswith("Ticket #42 has been updated. Status: resolved.")
    assert sent.payload["customer_id"] == customer.id
    assert sms.sent == []
    [row] = await rows(session)
    assert (row.status, row.last_error) == (OutboxStatus.done, None)


async def test_customer_without_email_gets_an_sms(resources, session, email, sms, channels):
    _, customer = await make_customer(session, phone="+79001112233")
    customer.email = None
    await session.commit()
    payload = {"customer_id": customer.id, "balance": 5000, "days_left": 1}
    await enqueue_committed(resources, payload, "low-balance:1", kind="billing.low_balance")
    # SMS costs money: only the kinds the provider allows (SMS_KINDS) go by SMS
    kinds = [*resources.settings.sms_kinds, "billing.low_balance"]
    allowed = dataclasses.replace(
        resources, settings=resources.settings.model_copy(update={"sms_kinds": kinds})
    )

    await deliver_once(allowed, channels)

    [sent] = sms.sent
    assert sent.to == "+79001112233"
    assert sent.locale == "ru"
    assert sent.text.startswith("На счёте 50,00 RUB — этого хватит примерно на 1 день.")
    assert email.sent == []


async def test_opted_out_customer_is_skipped_not_dead(resources, session, email, channels):
    _, customer = await make_customer(session)
    customer.notification_preferences = {"billing": False, "tickets": True}
    await session.commit()
    payload = {"customer_id": customer.id, "balance": 100, "days_left": 1}
    await enqueue_committed(resources, payload, "low-balance:2", kind="billing.low_balance")

    await deliver_once(resources, channels)

    assert email.sent == []
    [row] = await rows(session)
    assert row.status == OutboxStatus.done
    assert row.last_error == "skipped: customer turned off billing notifications"


@pytest.mark.parametrize(
    ("kind", "payload", "reason"),
    [
        ("ticket.updated", {"ticket_id": 1, "status": "open"}, "needs a customer_id"),
        ("ticket.updated", {"customer_id": 999999, "ticket_id": 1, "status": "open"},
         "customer 999999 not found"),
        ("billing.low_balance", {"customer_id": "CUSTOMER"}, "malformed"),
        ("crm.something", {"customer_id": "CUSTOMER"}, "no notification for kind"),
    ],
)  # fmt: skip
async def test_bad_events_dead_letter_with_a_reason(
    resources, session, email, channels, kind, payload, reason
):
    _, customer = await make_customer(session)
    await session.commit()
    if payload.get("customer_id") == "CUSTOMER":
        payload = {**payload, "customer_id": customer.id}
    await enqueue_committed(resources, payload, "bad", kind=kind)

    await deliver_once(resources, channels)

    [row] = await rows(session)
    assert row.status == OutboxStatus.dead
    assert reason in (row.last_error or "")
    assert email.sent == []


async def test_customer_with_no_reachable_channel_dead_letters(resources, session, channels):
    _, customer = await make_customer(session)
    customer.email = None
    customer.phone = None
    await session.commit()
    customer_id = customer.id
    payload = {"customer_id": customer_id, "ticket_id": 3, "status": "open"}
    await enqueue_committed(resources, payload, "t3", kind="ticket.updated")
    await deliver_once(resources, channels)
    [row] = await rows(session)
    assert row.status == OutboxStatus.dead
    assert row.last_error == (
        f"PermanentDeliveryError: customer {customer_id} has no reachable channel"
    )


async def test_support_status_change_reaches_the_customer(resources, session, email, channels):
    """The payload the support service writes is one the worker can deliver."""
    _, customer = await make_customer(session, email="boris@example.com")
    ticket = await make_ticket(session, customer)
    agent = await make_user(session, role=Role.agent)
    await session.commit()
    async with resources.sessionmaker() as s:
        await support.update_ticket(
            s, ticket.id, TicketUpdateIn(status="in_progress"), Actor(agent.id, agent.role)
        )
        await s.commit()

    assert await deliver_once(resources, channels) == 1

    [sent] = email.sent
    assert sent.to == "boris@example.com"
    assert sent.text == f"Заявка № {ticket.id} обновлена. Статус: в работе."


async def test_a_staff_answer_reaches_the_customer_with_its_text(
    resources, session, email, channels
):
    """The answer travels in the notice, cut at a word near 1000 characters."""
    _, customer = await make_customer(session, email="boris@example.com", locale="en")
    ticket = await make_ticket(session, customer)
    agent = await make_user(session, role=Role.agent)
    await session.commit()
    short = "Please restart the router.\nIf that does not help, write here."
    long = "word " * 400  # 2000 characters
    async with resources.sessionmaker() as s:
        for body in (short, long):
            await support.add_staff_message(s, ticket.id, body, False, Actor(agent.id, agent.role))
        # an internal note tells nobody
        await support.add_staff_message(s, ticket.id, "note", True, Actor(agent.id, agent.role))
        await s.commit()

    assert await deliver_once(resources, channels) == 2

    texts = sorted((m.text for m in email.sent), key=len)
    assert texts[0] == (
        f"Our specialist answered ticket #{ticket.id}:\n{short}\n"
        "You can reply in the chat or in your account."
    )
    answer = texts[1].split("\n")[1]
    assert answer.endswith("word…") and len(answer) <= support.ANSWER_EXCERPT_CHARS
    assert {m.payload["event"] for m in email.sent} == {"answered"}
    assert all(m.payload["ticket_id"] == ticket.id for m in email.sent)


@pytest.mark.parametrize(
    ("payload", "ru_text"),
    [
        # written before the answer travelled with the event
        ({"event": "reply"}, "По заявке № 42 новый ответ специалиста."),
        ({"event": "answered", "answer": "  "}, "По заявке № 42 новый ответ специалиста."),
    ],
)
async def test_an_answer_without_its_text_still_says_there_is_one(
    resources, session, email, channels, payload, ru_text
):
    _, customer = await make_customer(session, email="boris@example.com")
    await session.commit()
    base = {"customer_id": customer.id, "ticket_id": 42, "status": "open"}
    await enqueue_committed(resources, {**base, **payload}, "old-reply", "ticket.updated")

    await deliver_once(resources, channels)

    [sent] = email.sent
    assert sent.text.startswith(ru_text)


async def test_security_notices_reach_a_customer_who_turned_everything_off(
    resources, session, email, channels
):
    _, customer = await make_customer(session, email="quiet@example.com")
    customer.notification_preferences = dict.fromkeys(
        ("billing", "outages", "tickets", "marketing"), False
    )
    await session.commit()
    security = sorted(k for k in SAMPLES if k.startswith("security."))
    assert len(security) == 3
    for kind in [*security, "outage.started"]:
        payload = {**SAMPLES[kind][0], "customer_id": customer.id}
        await enqueue_committed(resources, payload, f"off:{kind}", kind)

    await deliver_once(resources, channels)

    assert sorted(m.kind for m in email.sent) == security


# --- every customer-facing kind -----------------------------------------------------------

# A payload of each kind as its producer writes it (customer_id is added per test), with what
# the ru and the en texts must say. The producers: backend/billing/run_queries.py (blocked,
# low balance, monthly invoices), lifecycle.py (restored), payments/service.py (credited),
# documents/generate.py (invoice on demand), promised.py, tariff_change.py, suspensions.py,
# support/service.py.
SUSPENSION = {
    "suspension_id": 9,
    "subscription_id": 7,
    "start_on": "2026-12-01",
    "end_on": "2026-12-14",
}
SAMPLES: dict[str, tuple[dict[str, Any], list[str], list[str]]] = {
    "ticket.updated": (
        {"ticket_id": 42, "status": "resolved", "event": "status_changed"},
        ["Заявка № 42 обновлена. Статус: решена."],
        ["Ticket #42 has been updated. Status: resolved."],
    ),
    "billing.low_balance": (
        {"balance": 123456, "days_left": 3},
        ["1\u00a0234,56", "на 3 дня"],
        ["1,234.56 RUB", "about 3 days"],
    ),
    "subscription.blocked": (
        {"subscription_id": 7, "day": "2026-11-17"},
        [
            "Интернет приостановлен: на счёте недостаточно средств. Пополните баланс или "
            "подключите обещанный платёж."
        ],
        ["Your internet is suspended", "promised payment"],
    ),
    "subscription.restored": (
        {"subscription_id": 7},
        ["Интернет снова работает."],
        ["Your internet is working again."],
    ),
    "outage.started": (
        {"outage_id": 3, "title": "Узел demo-node-1", "expected_fix_at": "2026-11-20T13:00:00Z"},
        ["Авария в сети", "Узел demo-node-1. Ориентир 20.11.2026 16:00."],
        ["network outage", "Узел demo-node-1. Expected fix by 2026-11-20 16:00."],
    ),
    "outage.resolved": (
        {"outage_id": 3, "title": "Узел demo-node-1"},
        ["Авария устранена: Узел demo-node-1."],
        ["The outage is fixed: Узел demo-node-1."],
    ),
    "invoice.issued": (
        {"invoice_id": 5, "number": "INV-202612-000042"},
        ["Выставлен счёт № INV-202612-000042."],
        ["Invoice No. INV-202612-000042 has been issued."],
    ),
    "payment.credited": (
        {
            "payment_id": 3,
            "public_id": "6f1c2a5e-0000-4000-8000-000000000001",
            "provider": "sandbox",
            "amount": 60000,
            "currency": "RUB",
            "balance": 41200,
            "invoices_paid": [],
            "restored_subscriptions": [],
        },
        ["Зачислено 600,00 ₽. Баланс 412,00 ₽."],
        ["Payment of 600.00 RUB received. Your balance is 412.00 RUB."],
    ),
    "promised_payment.granted": (
        {
            "promised_payment_id": 3,
            "amount": 11000,
            "fee": 0,
            "expires_at": "2026-11-20T09:00:00+00:00",
            "restored": True,
        },
        ["Обещанный платёж 110,00 ₽ подключён. Пополните баланс до 20.11.2026 12:00."],
        ["A promised payment of 110.00 RUB is on. Top up by 2026-11-20 12:00."],
    ),
    "promised_payment.expiring": (
        {
            "promised_payment_id": 3,
            "amount": 11000,
            "fee": 0,
            "expires_at": "2026-11-20T09:00:00+00:00",
        },
        ["110,00 ₽ заканчивается 20.11.2026 12:00."],
        ["110.00 RUB ends 2026-11-20 12:00."],
    ),
    "promised_payment.expired": (
        {"promised_payment_id": 3, "amount": 11000, "fee": 0, "balance": -5000},
        ["Срок обещанного платежа истёк. Баланс: -50,00 ₽."],
        ["Balance: -50.00 RUB."],
    ),
    "tariff.changed": (
        {
            "subscription_id": 7,
            "from_tariff_id": 1,
            "to_tariff_id": 2,
            "tariff_name": "Турбо 500",
            "effective_on": "2026-11-17",
            "charged": 12000,
        },
        ["Ваш тариф — «Турбо 500» с 17.11.2026."],
        ["Your tariff is «Турбо 500» from 2026-11-17."],
    ),
    "tariff.change_scheduled": (
        {
            "subscription_id": 7,
            "from_tariff_id": 2,
            "to_tariff_id": 1,
            "tariff_name": "Базовый",
            "effective_on": "2026-12-01",
        },
        ["Смена тарифа на «Базовый» запланирована на 01.12.2026."],
        ["The change to «Базовый» is scheduled for 2026-12-01."],
    ),
    "tariff.change_cancelled": (
        {"subscription_id": 7, "to_tariff_id": 1},
        ["Запланированная смена тарифа отменена."],
        ["The scheduled tariff change is cancelled."],
    ),
    "suspension.scheduled": (
        {**SUSPENSION, "fee_total": 0},
        ["Заморозка запланирована: с 01.12.2026 по 14.12.2026."],
        ["Pause booked: from 2026-12-01 to 2026-12-14."],
    ),
    "suspension.started": (
        SUSPENSION,
        ["Интернет включится 15.12.2026"],
        ["It resumes on 2026-12-15"],
    ),
    "suspension.ending": (
        {**SUSPENSION, "resume_on": "2026-12-15"},
        ["Заморозка заканчивается: интернет включится 15.12.2026."],
        ["the service resumes on 2026-12-15."],
    ),
    "suspension.ended": (
        {**SUSPENSION, "resumed_early": False},
        ["Заморозка снята, интернет снова работает."],
        ["Your pause is over and the service works again."],
    ),
    "suspension.cancelled": (
        SUSPENSION,
        ["Заморозка с 01.12.2026 отменена."],
        ["The pause from 2026-12-01 is cancelled."],
    ),
    # backend/network/service.py announce_maintenance
    "maintenance.planned": (
        {
            "maintenance": "5f0c1e2d3a4b5c6d",
            "title": "Замена коммутатора",
            "starts_at": "2026-11-20T23:00:00+00:00",
            "ends_at": "2026-11-21T01:00:00+00:00",
        },
        ["Плановые работы в сети: Замена коммутатора. С 21.11.2026 02:00 до 21.11.2026 04:00"],
        [
            "Planned network maintenance: Замена коммутатора. From 2026-11-21 02:00 to 2026-11-21 "
            "04:00"
        ],
    ),
    # backend/auth/notices.py
    "security.new_sign_in": (
        {
            "at": "2026-11-20T09:00:00+00:00",
            "device": "Safari, iOS",
            "network": "198.51.100.*",
        },
        [
            "Вход в личный кабинет с нового устройства: 20.11.2026 12:00, Safari, iOS, адрес "
            "198.51.100.*."
        ],
        [
            "New sign-in to your account from a new device: 2026-11-20 12:00, Safari, iOS, "
            "address 198.51.100.*."
        ],
    ),
    "security.password_changed": (
        {"at": "2026-11-20T09:00:00+00:00", "how": "changed"},
        ["Пароль от личного кабинета изменён (20.11.2026 12:00)."],
        ["Your account password was changed (2026-11-20 12:00)."],
    ),
    # backend/customers/linking.py link_telegram
    "security.telegram_linked": (
        {"at": "2026-11-20T09:00:00+00:00", "told_in": {"telegram": "7001"}},
        ["К вашему договору подключён Telegram (20.11.2026 12:00)"],
        ["Telegram was linked to your contract (2026-11-20 12:00)"],
    ),
}


def test_every_notice_has_a_sample():
    assert set(SAMPLES) == set(EVENTS)


async def _customers_ru_en(session) -> tuple[int, int]:
    _, ru = await make_customer(session, email="ru@example.com", locale="ru")
    _, en = await make_customer(session, email="en@example.com", locale="en")
    await session.commit()
    return ru.id, en.id


@pytest.mark.parametrize("kind", sorted(SAMPLES))
async def test_each_event_reaches_the_customer_in_their_language(
    resources, session, email, channels, kind
):
    payload, ru_parts, en_parts = SAMPLES[kind]
    ru_id, en_id = await _customers_ru_en(session)
    for customer_id in (ru_id, en_id):
        await enqueue_committed(
            resources, {**payload, "customer_id": customer_id}, f"{kind}:{customer_id}", kind
        )

    assert await deliver_once(resources, channels) == 2

    texts = {m.to: m for m in email.sent}
    ru, en = texts["ru@example.com"], texts["en@example.com"]
    assert (ru.locale, en.locale) == ("ru", "en")
    for part in ru_parts:
        assert part in ru.text
    for part in en_parts:
        assert part in en.text
    assert ru.subject and en.subject  # email needs one
    for text in (ru.text, en.text, ru.subject, en.subject):
        assert "{" not in text and "None" not in text
    assert [(r.status, r.last_error) for r in await rows(session)] == [
        (OutboxStatus.done, None)
    ] * 2


@pytest.mark.parametrize(
    ("extra", "ru_text", "en_text"),
    [
        (
            {"amount": 70000, "currency": "RUB", "due_date": "2026-12-11", "status": "pending"},
            "Выставлен счёт № INV-202612-000042 на 700,00 ₽, оплатить до 11.12.2026.",
            "Invoice No. INV-202612-000042 for 700.00 RUB has been issued. Please pay by "
            "2026-12-11.",
        ),
        (
            {"amount": 123456, "currency": "RUB", "due_date": "2026-12-11", "status": "paid"},
            "Выставлен счёт № INV-202612-000042 на 1\u00a0234,56 ₽. Он уже оплачен с баланса.",
            "Invoice No. INV-202612-000042 for 1,234.56 RUB has been issued and already paid "
            "from your balance.",
        ),
    ],
)
async def test_an_invoice_with_its_amount_names_the_sum_and_the_deadline(
    resources, session, email, channels, extra, ru_text, en_text
):
    """The shape the producers are asked to write (see _invoice_issued_args)."""
    ru_id, en_id = await _customers_ru_en(session)
    for customer_id in (ru_id, en_id):
        payload = {"customer_id": customer_id, "invoice_id": 5, "number": "INV-202612-000042"}
        await enqueue_committed(
            resources, {**payload, **extra}, f"inv:{customer_id}", "invoice.issued"
        )

    await deliver_once(resources, channels)

    texts = {m.to: m.text for m in email.sent}
    assert texts == {"ru@example.com": ru_text, "en@example.com": en_text}


async def test_a_blocked_customer_is_not_offered_a_promised_payment_the_provider_lacks(
    resources, session, email, channels
):
    ru_id, _ = await _customers_ru_en(session)
    await enqueue_committed(
        resources,
        {"customer_id": ru_id, "subscription_id": 1, "day": "2026-11-17"},
        "b",
        "subscription.blocked",
    )
    no_pp = dataclasses.replace(
        resources, settings=resources.settings.model_copy(update={"pp_enabled": False})
    )

    await deliver_once(no_pp, channels)

    [sent] = email.sent
    assert "обещанный" not in sent.text
    assert sent.text.endswith("Пополните баланс, и доступ восстановится автоматически.")


async def test_a_customer_who_turned_billing_off_gets_no_billing_notice(
    resources, session, email, channels
):
    _, customer = await make_customer(session, email="quiet@example.com")
    customer.notification_preferences = {"billing": False, "tickets": True}
    await session.commit()
    billing_kinds = sorted(k for k, n in EVENTS.items() if n.category == "billing")
    assert len(billing_kinds) >= 15
    for kind in [*billing_kinds, "ticket.updated"]:
        payload = {**SAMPLES[kind][0], "customer_id": customer.id}
        await enqueue_committed(resources, payload, f"quiet:{kind}", kind)

    await deliver_once(resources, channels)

    # the ticket still arrives: only the billing category is off
    assert [m.kind for m in email.sent] == ["ticket.updated"]
    outcome = {r.kind: (r.status, r.last_error) for r in await rows(session)}
    skipped = (OutboxStatus.done, "skipped: customer turned off billing notifications")
    assert outcome == {
        **dict.fromkeys(billing_kinds, skipped),
        "ticket.updated": (OutboxStatus.done, None),
    }


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        ("invoice.paid", {"invoice_id": 5, "number": "INV-202612-000042"}),
        ("document.ready", {"document_id": 11, "kind": "act"}),
    ],
)
async def test_internal_events_are_done_with_a_note_and_send_nothing(
    resources, session, email, sms, channels, kind, payload
):
    assert kind in INTERNAL
    _, customer = await make_customer(session)
    await session.commit()
    await enqueue_committed(resources, {**payload, "customer_id": customer.id}, "internal", kind)

    assert await deliver_once(resources, channels) == 1

    assert email.sent == [] and sms.sent == []
    [row] = await rows(session)
    assert row.status == OutboxStatus.done
    assert row.last_error == "skipped: internal event, not a customer notification"


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        # a float has already lost kopecks somewhere: refuse it rather than round
        ("payment.credited", {"amount": 600.5, "balance": 41200, "currency": "RUB"}),
        ("promised_payment.granted", {"amount": 11000, "expires_at": "2026-11-20T09:00:00"}),
        ("promised_payment.expiring", {"amount": 11000}),
        ("tariff.changed", {"tariff_name": "Турбо", "effective_on": "17.11.2026"}),
        ("suspension.started", {"start_on": "2026-12-01", "end_on": None}),
        ("invoice.issued", {"invoice_id": 5}),
        ("security.new_sign_in", {"at": "2026-11-20T09:00:00", "device": "Chrome, Windows"}),
        ("security.new_sign_in", {"at": "2026-11-20T09:00:00+00:00", "device": 42}),
        ("security.password_changed", {"at": "2026-11-20T09:00:00+00:00", "how": "stolen"}),
        ("maintenance.planned", {"title": "Работы", "starts_at": None}),
    ],
)
async def test_a_malformed_payload_dead_letters_with_the_kind(
    resources, session, email, channels, kind, payload
):
    _, customer = await make_customer(session)
    await session.commit()
    await enqueue_committed(resources, {**payload, "customer_id": customer.id}, "bad", kind)

    await deliver_once(resources, channels)

    [row] = await rows(session)
    assert row.status == OutboxStatus.dead
    # the reason names the kind and says what is wrong, never the text
    assert kind in (row.last_error or "") and "malformed" in (row.last_error or "")
    assert email.sent == []


# --- the payloads the real producers write -------------------------------------------------


async def _drain(resources, channels) -> None:
    for _ in range(20):
        if await deliver_once(resources, channels) == 0:
            return
    raise AssertionError("the outbox did not drain")


async def test_a_debtors_journey_tells_them_each_step_and_nothing_dead_letters(
    resources, session, settings, email, channels
):
    """Blocked -> promised payment -> top-up -> a pause -> back early, through the real
    services: every row they write is delivered or deliberately silent."""
    now = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)
    today = date(2026, 11, 17)
    actor = Actor(user_id=None, role=Role.customer)
    _, customer = await make_customer(
        session, with_user=False, email="debtor@example.com", balance=-5000
    )
    tariff = await make_tariff(session, price=60000)
    await make_subscription(
        session, customer, tariff, status=SubscriptionStatus.blocked, started_on=date(2026, 1, 1)
    )
    invoice = await make_invoice(session, customer, amount=60000, number="INV-202611-000777")
    await session.commit()

    await promised.take(session, settings, customer.id, now, actor)
    payment = Payment(
        customer_id=customer.id,
        invoice_id=invoice.id,
        public_id=str(uuid.uuid4()),
        provider="sandbox",
        provider_payment_id="sbx-journey",
        amount=100000,
        currency="RUB",
        status=PaymentStatus.pending,
        details={},
    )
    session.add(payment)
    await session.flush()
    await payments.credit(session, settings, payment.id, amount=100000, currency="RUB")
    pause = await suspensions.create(
        session, settings, customer.id, today, today + timedelta(days=9), today, now, actor
    )
    await suspensions.resume_now(session, customer.id, pause.id, today, now, actor)
    await session.commit()

    await _drain(resources, channels)

    outcome = [(r.kind, r.status, r.last_error) for r in await rows(session)]
    assert not [o for o in outcome if o[1] != OutboxStatus.done], outcome
    silent = {k for k, _, note in outcome if note}
    assert silent == {"invoice.paid"}
    texts = [m.text for m in email.sent]
    # a batch is sent concurrently: the order of the messages is not the order of the rows
    assert sorted(m.kind for m in email.sent) == sorted(k for k, _, note in outcome if not note)
    assert {m.kind for m in email.sent} >= {
        "promised_payment.granted",
        "subscription.restored",
        "payment.credited",
        "suspension.scheduled",
        "suspension.started",
        "suspension.ended",
    }
    assert "Обещанный платёж 110,00 ₽ подключён. Пополните баланс до 20.11.2026 12:00." in texts
    assert "Интернет снова работает." in texts
    # -50 + 110 (the promised credit) + 1000 (the payment) - 110 (the promised payment is
    # settled by it); paying the invoice moves no money
    assert "Зачислено 1\u00a0000,00 ₽. Баланс 950,00 ₽." in texts


async def test_the_billing_run_of_the_first_notifies_and_keeps_documents_quiet(
    resources, session, email, channels
):
    """The daily run on the 1st: blocks, low-balance notices, monthly invoices and their
    PDFs (document.ready); none of its rows dead-letters."""
    day = date(2026, 12, 1)
    tariff = await make_tariff(session, price=60000)
    _, debtor = await make_customer(session, email="debtor@example.com", balance=-100)
    await make_subscription(session, debtor, tariff, started_on=date(2026, 1, 1))
    _, low = await make_customer(session, email="low@example.com", locale="en", balance=8000)
    await make_subscription(session, low, tariff, started_on=date(2026, 1, 1))
    await session.commit()

    await billing_run(resources, day)
    await _drain(resources, channels)

    outcome = [(r.kind, r.status, r.last_error) for r in await rows(session)]
    assert not [o for o in outcome if o[1] != OutboxStatus.done], outcome
    kinds = {k for k, _, _ in outcome}
    assert {"subscription.blocked", "billing.low_balance", "invoice.issued"} <= kinds
    assert {k for k, _, note in outcome if note} == {"document.ready"}
    sent = {(m.to, m.kind): m.text for m in email.sent}
    assert sent[("debtor@example.com", "subscription.blocked")].startswith(
        "Интернет приостановлен: на счёте недостаточно средств."
    )
    assert sent[("debtor@example.com", "invoice.issued")].startswith("Выставлен счёт № INV-202612-")
    assert sent[("low@example.com", "invoice.issued")].startswith("Invoice No. INV-202612-")
    assert "enough for about" in sent[("low@example.com", "billing.low_balance")]

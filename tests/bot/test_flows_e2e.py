"""Every customer flow through Telegram end to end, in both delivery modes: the real runtime
(our poller, or the webhook role under uvicorn), the real aiogram Bot against the Bot API
stand-in, the real NLU, engine and flows, PostgreSQL and Redis. Each test checks what the
customer sees (texts from the catalogs, buttons' callback data, amounts, files) and what
changed in the database. The steps mirror tests/dialogs/engine, which drive the same flows
through Engine.handle directly."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import Bot
from babel.dates import format_date, format_skeleton
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.billing import promised, tariff_change
from backend.billing import service as billing
from backend.clock import business_today
from backend.config import Settings
from backend.documents import generate
from backend.documents.storage import DocumentStorage
from backend.i18n import t
from backend.models import (
    Account,
    Channel,
    ChannelIdentity,
    Conversation,
    ConversationMessage,
    ConversationState,
    Customer,
    Document,
    DocumentKind,
    OutboxMessage,
    OutboxStatus,
    Payment,
    PaymentStatus,
    PromisedPayment,
    PromisedPaymentStatus,
    Role,
    Subscription,
    SubscriptionStatus,
    Tariff,
    Ticket,
    TicketCategory,
    TicketPriority,
    TicketStatus,
    Transaction,
    TransactionReason,
    utcnow,
)
from bot.commands import COMMANDS
from dialogs.flows.documents import filename_of
from dialogs.handover import AGENT_REPLY
from dialogs.types import payload
from tests.bot import harness
from tests.bot.harness import BotRuntime, buttons_of, payloads_of, text_of, wait_until
from tests.factories import make_customer, make_subscription, make_tariff, make_ticket
from tests.support.telegram_standin import Call

tg = harness.tg  # the runtime fixture, parametrized over "polling" and "webhook"

CHAT = 7301
RU = "ru"
API = "/api/v1"
PROVIDER_TOKEN = "381764678:TEST:flows-e2e"


# --- arranging ------------------------------------------------------------------------------


async def linked_customer(
    session: AsyncSession,
    *,
    chat_id: int = CHAT,
    balance: int = 35000,
    tariff: Tariff | None = None,
    status: SubscriptionStatus = SubscriptionStatus.active,
    **overrides: Any,
) -> Customer:
    """A customer (with a subscription when `tariff` is given) whose Telegram account is
    linked to `chat_id` (a private chat: the chat id is the user id)."""
    _, customer = await make_customer(session, balance=balance, **overrides)
    if tariff is not None:
        await make_subscription(session, customer, tariff, status=status)
    session.add(
        ChannelIdentity(customer_id=customer.id, channel=Channel.telegram, external_id=str(chat_id))
    )
    await session.commit()
    return customer


# --- expected texts -------------------------------------------------------------------------


def money(minor: int) -> Decimal:
    """Minor units as the catalogs' NUMBER() arguments (TurnContext.major)."""
    return Decimal(minor) / 100


def day(value: date, locale: str = RU) -> str:
    return format_skeleton("MMMMd", value, locale=locale)


def short_day(value: date, locale: str = RU) -> str:
    return format_skeleton("ddMM", value, locale=locale)


def moment(settings: Settings, value: datetime, locale: str = RU) -> str:
    local = value.astimezone(ZoneInfo(settings.billing_timezone))
    return f"{day(local.date(), locale)}, {local:%H:%M}"


async def balance_text(
    session: AsyncSession, settings: Settings, customer_id: int, locale: str = RU
) -> str:
    """The balance answer for the customer's current balance (dialogs/flows/balance.py)."""
    today = business_today(settings)
    found = await billing.balance(session, customer_id, today)
    amount = money(found.amount)
    if found.days_left is None:
        return t("dialogs-balance", locale, amount=amount)
    if found.amount < 0:
        return t("dialogs-balance-debt", locale, amount=-amount)
    until = day(today + timedelta(days=found.days_left), locale)
    return t("dialogs-balance-days", locale, amount=amount, days=found.days_left, until=until)


def texts(calls: list[Call]) -> list[str]:
    return [text_of(c) for c in calls]


def only(calls: list[Call], method: str = "sendMessage") -> Call:
    found = [c for c in calls if c.method == method]
    assert len(found) == 1, [(c.method, text_of(c)) for c in calls]
    return found[0]


# --- reading the database ---------------------------------------------------------------------


async def balance_of(session: AsyncSession, customer_id: int) -> int:
    value = await session.scalar(select(Account.balance).where(Account.customer_id == customer_id))
    assert value is not None
    return int(value)


async def linked_to(session: AsyncSession, chat_id: int = CHAT) -> int | None:
    return await session.scalar(
        select(ChannelIdentity.customer_id).where(
            ChannelIdentity.channel == Channel.telegram,
            ChannelIdentity.external_id == str(chat_id),
        )
    )


async def transactions(
    session: AsyncSession, customer_id: int, reason: TransactionReason
) -> list[int]:
    return list(
        await session.scalars(
            select(Transaction.amount)
            .join(Account, Account.id == Transaction.account_id)
            .where(Account.customer_id == customer_id, Transaction.reason == reason)
            .order_by(Transaction.id)
        )
    )


async def subscription_row(session: AsyncSession, customer_id: int) -> Any:
    row = (
        await session.execute(
            select(
                Subscription.tariff_id,
                Subscription.status,
                Subscription.scheduled_tariff_id,
                Subscription.scheduled_change_on,
                Subscription.last_tariff_change_on,
            ).where(Subscription.customer_id == customer_id)
        )
    ).one()
    return row


# --- 1. linking -------------------------------------------------------------------------------


async def test_link_by_deep_link_then_balance(
    tg: BotRuntime, session: AsyncSession, as_customer: Any
) -> None:
    tariff = await make_tariff(session, name="Дом 300", price=60000, speed_down_mbps=300)
    customer, headers = await as_customer(balance=35000, contract_number="D-1001")
    await make_subscription(session, customer, tariff)
    await session.commit()
    await tg.start()

    # the cabinet's «Подключить Telegram»: a one-time token for /start
    response = await tg.api.post(f"{API}/me/telegram/link", headers=headers)
    assert response.status_code == 200, response.text
    token = response.json()["start_parameter"]
    assert await linked_to(session) is None

    replies = await tg.command(CHAT, "start", token)
    assert texts(replies)[0] == t("telegram-linked", RU, contract="D-1001")
    assert replies[0].params["reply_markup"] == {"remove_keyboard": True}
    # then the main menu of the linked customer: the header card and the flows' buttons, and
    # the question «Получать уведомления о балансе?» (dialogs/flows/settings.py)
    assert len(replies) == 3, texts(replies)
    assert texts(replies)[2] == t("dialogs-settings-ask-billing", RU)
    menu = replies[1]
    header = t("dialogs-header-customer", RU, name=customer.full_name, contract="D-1001",
               status="active")  # fmt: skip
    assert text_of(menu).startswith(header), text_of(menu)
    menu_payloads = payloads_of([menu])
    for flow in ("top_up", "promised_payment", "talk_to_agent", "change_tariff", "check_balance"):
        assert payload(flow, "start") in menu_payloads, menu_payloads
    assert await linked_to(session) == customer.id

    # the token is single-use: again, it links nothing and says so
    replies = await tg.command(CHAT + 1, "start", token)
    assert texts(replies) == [t("telegram-link-invalid", RU)]
    assert await linked_to(session, CHAT + 1) is None

    replies = await tg.say(CHAT, "какой у меня баланс?")
    assert texts(replies) == [await balance_text(session, tg.settings, customer.id)]
    assert "350,00" in texts(replies)[0]


async def test_link_by_own_contact_and_contract_number_then_balance(
    tg: BotRuntime, session: AsyncSession
) -> None:
    _, customer = await make_customer(
        session, phone="+79001234567", contract_number="C-777", balance=12345
    )
    await session.commit()
    await tg.start()

    replies = await tg.command(CHAT, "start")
    assert texts(replies) == [t("telegram-link-welcome", RU)]
    keyboard = replies[0].params["reply_markup"]["keyboard"]
    assert keyboard[0][0] == {
        "text": t("telegram-link-share-button", RU),
        "request_contact": True,
    }

    replies = await tg.turn(tg.telegram.contact(CHAT, "8 (900) 123-45-67"))
    assert texts(replies) == [t("telegram-link-ask-contract", RU)]
    assert await linked_to(session) is None

    replies = await tg.say(CHAT, "C-777")
    assert texts(replies)[0] == t("telegram-linked", RU, contract="C-777")
    assert len(replies) == 3 and payload("top_up", "start") in payloads_of(replies)
    assert await linked_to(session) == customer.id

    replies = await tg.say(CHAT, "какой у меня баланс?")
    assert texts(replies) == [t("dialogs-balance", RU, amount=Decimal("123.45"))]


# --- 2. balance -------------------------------------------------------------------------------


async def test_balance_by_text_and_by_command(tg: BotRuntime, session: AsyncSession) -> None:
    tariff = await make_tariff(session, name="Дом 300", price=60000)
    customer = await linked_customer(session, balance=35000, tariff=tariff)
    await tg.start()
    expected = await balance_text(session, tg.settings, customer.id)
    assert "350,00" in expected

    replies = await tg.say(CHAT, "сколько у меня денег на балансе?")
    reply = only(replies)
    assert text_of(reply) == expected
    assert payloads_of([reply]) == [payload("top_up", "start"), payload("nav", "menu")]

    replies = await tg.command(CHAT, "balance")
    assert texts(replies) == [expected]

    # asking changes nothing; both turns are in the transcript of this chat's conversation
    assert await balance_of(session, customer.id) == 35000
    conversation = await session.scalar(
        select(Conversation.id).where(Conversation.chat_id == str(CHAT))
    )
    stored = list(
        await session.scalars(
            select(ConversationMessage.text)
            .where(ConversationMessage.conversation_id == conversation)
            .order_by(ConversationMessage.id)
        )
    )
    assert stored == ["сколько у меня денег на балансе?", expected, "/balance", expected]


# --- 3. top-up with a Telegram invoice ----------------------------------------------------------


async def test_top_up_with_telegram_invoice_credits_once(
    tg: BotRuntime, session: AsyncSession
) -> None:
    tariff = await make_tariff(session, name="Дом 300", price=60000)
    customer = await linked_customer(session, balance=35000, tariff=tariff)
    await tg.start(telegram_payments_provider_token=SecretStr(PROVIDER_TOKEN))

    replies = await tg.say(CHAT, "пополнить на 500 рублей")
    assert texts(replies)[0] == t("dialogs-topup-invoice", RU, amount=Decimal(500))
    invoice = only(replies, "sendInvoice").params
    assert invoice["provider_token"] == PROVIDER_TOKEN
    assert invoice["currency"] == "RUB"
    assert invoice["prices"] == [{"label": t("payments-telegram-price-label", RU), "amount": 50000}]
    assert invoice["title"] == t("payments-telegram-invoice-title", RU)[:32]
    invoice_payload = str(invoice["payload"])
    (payment,) = (await session.scalars(select(Payment))).all()
    assert invoice_payload == f"topup:{payment.public_id}"
    assert (payment.provider, payment.amount, payment.status) == (
        "telegram",
        50000,
        PaymentStatus.pending,
    )
    assert await balance_of(session, customer.id) == 35000  # an invoice moves no money

    # Telegram asks before taking the money: answered at once, ok
    query = tg.telegram.pre_checkout_query(CHAT, invoice_payload, "RUB", 50000)
    await tg.turn(query)
    answer = tg.telegram.pre_checkout_answers[query["pre_checkout_query"]["id"]]
    assert answer["ok"] is True
    assert await balance_of(session, customer.id) == 35000

    paid = tg.telegram.successful_payment(
        CHAT,
        invoice_payload,
        "RUB",
        50000,
        telegram_payment_charge_id="tg-charge-flows-1",
        provider_payment_charge_id="provider-charge-flows-1",
    )
    replies = await tg.turn(paid)
    credited = t("telegram-payment-credited", RU, amount=Decimal(500), balance=Decimal(850))
    assert texts(replies) == [credited]
    assert await balance_of(session, customer.id) == 85000

    # redelivered, and once more as a new update with the same charge: credited once
    await tg.redeliver(paid)
    again = tg.telegram.successful_payment(
        CHAT,
        invoice_payload,
        "RUB",
        50000,
        telegram_payment_charge_id="tg-charge-flows-1",
        provider_payment_charge_id="provider-charge-flows-1",
    )
    assert await tg.turn(again) == []
    assert await balance_of(session, customer.id) == 85000
    assert await transactions(session, customer.id, TransactionReason.topup) == [50000]
    rows = (
        await session.execute(select(Payment.status, Payment.provider_payment_id, Payment.amount))
    ).all()
    assert [tuple(r) for r in rows] == [(PaymentStatus.succeeded, "tg-charge-flows-1", 50000)]
    succeeded = [c for c in tg.telegram.calls("sendMessage") if c.params.get("chat_id") == CHAT]
    assert texts(succeeded).count(credited) == 1

    # the invoice is paid: a second pre-checkout for it is refused with the reason
    query = tg.telegram.pre_checkout_query(CHAT, invoice_payload, "RUB", 50000)
    await tg.turn(query)
    answer = tg.telegram.pre_checkout_answers[query["pre_checkout_query"]["id"]]
    assert answer["ok"] is False
    assert answer["error_message"] == t("error-payment-already-paid", RU)

    replies = await tg.say(CHAT, "какой у меня баланс?")
    assert texts(replies) == [await balance_text(session, tg.settings, customer.id)]
    assert "850,00" in texts(replies)[0]


# --- 4. top-up with a payment link --------------------------------------------------------------


async def test_top_up_with_payment_link(tg: BotRuntime, session: AsyncSession) -> None:
    tariff = await make_tariff(session, name="Дом 300", price=60000)
    customer = await linked_customer(session, balance=35000, tariff=tariff)
    await tg.start()  # no TELEGRAM_PAYMENTS_PROVIDER_TOKEN: the provider's checkout page

    menu = only(await tg.command(CHAT, "start"))
    assert payload("top_up", "start") in payloads_of([menu])
    # the menu is replaced in place by the question with the presets
    replies = await tg.press(CHAT, payload("top_up", "start"))
    ask = only(replies, "editMessageText")
    assert text_of(ask) == t("dialogs-topup-ask", RU)
    month = payload("top_up", "amount", 60000)
    assert buttons_of(ask) == [
        (t("dialogs-topup-preset-month", RU, amount=Decimal(600)), month),
        (t("dialogs-topup-preset-3-months", RU, amount=Decimal(1800)),
         payload("top_up", "amount", 180000)),
        (t("dialogs-topup-preset-other", RU), payload("top_up", "amount", "other")),
        (t("dialogs-button-cancel", RU), payload("nav", "cancel")),
    ]  # fmt: skip

    replies = await tg.press(CHAT, month)
    link = only(replies)
    assert text_of(link) == t("dialogs-topup-link", RU, amount=Decimal(600))
    (payment,) = (await session.scalars(select(Payment))).all()
    assert (payment.provider, payment.amount, payment.status) == (
        "sandbox",
        60000,
        PaymentStatus.pending,
    )
    assert payment.customer_id == customer.id
    assert payment.confirmation_url
    assert payment.confirmation_url.startswith(tg.settings.public_url.rstrip("/") + "/pay/")
    assert buttons_of(link) == [(t("payments-checkout-pay", RU), payment.confirmation_url)]
    assert tg.telegram.calls("sendInvoice") == []
    assert await balance_of(session, customer.id) == 35000


# --- 5. tariff change -------------------------------------------------------------------------


async def test_tariff_upgrade_now(tg: BotRuntime, session: AsyncSession) -> None:
    current = await make_tariff(session, name="Дом 300", price=60000, speed_down_mbps=300)
    target = await make_tariff(session, name="Дом 500", price=75000, speed_down_mbps=500)
    customer = await linked_customer(session, balance=100000, tariff=current)
    await tg.start()
    today = business_today(tg.settings)
    quote = await tariff_change.quote(session, tg.settings, customer.id, target.id, today, "now")
    await session.commit()

    replies = await tg.say(CHAT, "хочу сменить тариф")
    choose = only(replies)
    assert text_of(choose) == t(
        "dialogs-tariff-choose", RU, name="Дом 300", price=Decimal(600), down=300
    )
    pick = payload("change_tariff", "choose", target.id)
    label = t("dialogs-tariff-target", RU, name="Дом 500", price=Decimal(750),
              diff=Decimal(150), sign="+")  # fmt: skip
    assert (label, pick) in buttons_of(choose)

    when = only(await tg.press(CHAT, pick), "editMessageText")
    assert text_of(when) == t(
        "dialogs-tariff-when",
        RU,
        name="Дом 500",
        date=short_day(quote.next_period_on),
        amount=money(quote.total_now),
        days=quote.days_remaining,
    )
    now = payload("change_tariff", "when", "now")
    assert payloads_of([when]) == [
        payload("change_tariff", "when", "next_period"),
        now,
        payload("nav", "back"),
        payload("nav", "cancel"),
    ]

    confirm = only(await tg.press(CHAT, now), "editMessageText")
    assert text_of(confirm) == t("dialogs-tariff-confirm-now", RU, name="Дом 500",
                                 amount=money(quote.total_now), price=Decimal(750))  # fmt: skip
    ok = payload("change_tariff", "confirm", "yes")
    assert ok in payloads_of([confirm])
    assert (await subscription_row(session, customer.id)).tariff_id == current.id

    done = only(await tg.press(CHAT, ok), "editMessageText")
    charged = 100000 - await balance_of(session, customer.id)
    assert charged == quote.total_now
    assert text_of(done) == t("dialogs-tariff-changed", RU, name="Дом 500", amount=money(charged))
    sub = await subscription_row(session, customer.id)
    assert (sub.tariff_id, sub.last_tariff_change_on) == (target.id, today)
    # the confirmation pressed again is stale and changes nothing
    replies = await tg.press(CHAT, ok)
    assert t("dialogs-stale-button", RU) in texts(replies)[0]
    assert 100000 - await balance_of(session, customer.id) == charged


async def test_tariff_downgrade_is_scheduled_and_cancelled(
    tg: BotRuntime, session: AsyncSession
) -> None:
    current = await make_tariff(session, name="Дом 500", price=75000, speed_down_mbps=500)
    target = await make_tariff(session, name="Дом 300", price=60000, speed_down_mbps=300)
    customer = await linked_customer(session, balance=100000, tariff=current)
    await tg.start()
    today = business_today(tg.settings)
    quote = await tariff_change.quote(session, tg.settings, customer.id, target.id, today)
    await session.commit()
    assert quote.effective == "next_period"

    menu = only(await tg.command(CHAT, "start"))
    assert payload("change_tariff", "start") in payloads_of([menu])
    choose = only(await tg.press(CHAT, payload("change_tariff", "start")), "editMessageText")
    pick = payload("change_tariff", "choose", target.id)
    assert pick in payloads_of([choose])

    # a downgrade waits for the next period: straight to the confirmation
    confirm = only(await tg.press(CHAT, pick), "editMessageText")
    assert text_of(confirm) == t(
        "dialogs-tariff-confirm-next",
        RU,
        name="Дом 300",
        date=day(quote.next_period_on),
        price=Decimal(600),
        fee=money(quote.fee),
        free="no" if quote.fee else "yes",
    )
    done = only(await tg.press(CHAT, payload("change_tariff", "confirm", "yes")), "editMessageText")
    assert text_of(done) == t(
        "dialogs-tariff-scheduled", RU, name="Дом 300", date=short_day(quote.effective_on)
    )
    cancel = payload("change_tariff", "start", "cancel")
    assert payloads_of([done]) == [cancel, payload("nav", "menu")]
    sub = await subscription_row(session, customer.id)
    assert (sub.tariff_id, sub.scheduled_tariff_id, sub.scheduled_change_on) == (
        current.id,
        target.id,
        quote.effective_on,
    )
    assert await balance_of(session, customer.id) == 100000

    ask = only(await tg.press(CHAT, cancel), "editMessageText")
    assert text_of(ask) == t("dialogs-tariff-cancel-pending-ask", RU, name="Дом 300",
                             date=day(quote.effective_on))  # fmt: skip
    yes = payload("change_tariff", "cancel_pending", "yes")
    assert yes in payloads_of([ask])
    done = only(await tg.press(CHAT, yes), "editMessageText")
    assert text_of(done) == t("dialogs-tariff-pending-cancelled", RU, name="Дом 300")
    sub = await subscription_row(session, customer.id)
    assert (sub.tariff_id, sub.scheduled_tariff_id) == (current.id, None)


# --- 6. promised payment ----------------------------------------------------------------------


async def test_promised_payment_offer_and_confirm(tg: BotRuntime, session: AsyncSession) -> None:
    tariff = await make_tariff(session, name="Дом 300", price=60000)
    customer = await linked_customer(
        session, balance=-18800, tariff=tariff, status=SubscriptionStatus.blocked
    )
    await tg.start()

    replies = await tg.say(CHAT, "дайте обещанный платёж")
    offer = only(replies)
    # the terms as the rules compute them now (the deadline moves with the clock: the bot
    # computed it a moment ago, possibly in the previous minute)
    now = utcnow()
    terms = await promised.terms(session, tg.settings, customer.id, now)
    await session.commit()
    assert terms.allowed and terms.amount is not None and terms.expires_at is not None
    expected = {
        t("dialogs-pp-terms", RU, days=terms.term_days or 0, debt=money(terms.debt or 0),
          daily=money(terms.daily_cost or 0), amount=money(terms.amount),
          fee=money(terms.fee or 0), free="no" if terms.fee else "yes",
          until=moment(tg.settings, terms.expires_at - shift),
          per30=tg.settings.pp_max_per_30_days)
        for shift in (timedelta(0), timedelta(minutes=1))
    }  # fmt: skip
    assert text_of(offer) in expected, text_of(offer)
    assert terms.debt == 18800
    take = payload("promised_payment", "confirm", "yes")
    assert payloads_of([offer]) == [take, payload("nav", "cancel")]
    assert await session.scalar(select(func.count()).select_from(PromisedPayment)) == 0

    done = only(await tg.press(CHAT, take), "editMessageText")
    (pp,) = (await session.scalars(select(PromisedPayment))).all()
    assert (pp.customer_id, pp.status, pp.amount) == (
        customer.id,
        PromisedPaymentStatus.active,
        terms.amount,
    )
    assert text_of(done) == t(
        "dialogs-pp-done-restored",
        RU,
        amount=money(pp.amount + pp.fee),
        until=moment(tg.settings, pp.expires_at),
    )
    # the credit is on the ledger and the blocked service is back
    assert await transactions(session, customer.id, TransactionReason.promised_payment) == [
        pp.amount
    ]
    assert await balance_of(session, customer.id) == -18800 + pp.amount
    assert (await subscription_row(session, customer.id)).status is SubscriptionStatus.active

    # pressed again: stale, nothing taken twice
    replies = await tg.press(CHAT, take)
    assert t("dialogs-stale-button", RU) in texts(replies)[0]
    assert await session.scalar(select(func.count()).select_from(PromisedPayment)) == 1


# --- 7. tickets -------------------------------------------------------------------------------


async def test_open_ticket_and_its_status(tg: BotRuntime, session: AsyncSession) -> None:
    tariff = await make_tariff(session, name="Дом 300", price=60000)
    customer = await linked_customer(session, tariff=tariff)
    await tg.start()

    replies = await tg.say(CHAT, "создать заявку")
    assert texts(replies) == [t("dialogs-support-ticket-describe", RU)]
    description = "Роутер перезагружается каждые 10 минут"
    category = only(await tg.say(CHAT, description))
    assert text_of(category) == t("dialogs-support-ticket-category", RU)
    equipment = payload("open_ticket", "category", "equipment")
    label = t("dialogs-support-category", RU, category="equipment")
    assert (label, equipment) in buttons_of(category)

    confirm = only(await tg.press(CHAT, equipment), "editMessageText")
    assert text_of(confirm) == t(
        "dialogs-support-ticket-confirm",
        RU,
        category=label,
        priority=t("dialogs-support-priority", RU, priority="medium"),
        description=description,
    )
    assert await session.scalar(select(func.count()).select_from(Ticket)) == 0

    created = only(
        await tg.press(CHAT, payload("open_ticket", "confirm", "yes")), "editMessageText"
    )
    (ticket,) = (await session.scalars(select(Ticket))).all()
    assert (ticket.customer_id, ticket.description, ticket.status) == (
        customer.id,
        description,
        TicketStatus.open,
    )
    assert ticket.category is TicketCategory.equipment
    assert ticket.priority is TicketPriority.medium
    assert ticket.details["source"] == "bot"
    minutes = tg.settings.chat_first_reply_minutes
    assert text_of(created) == (
        t("dialogs-support-ticket-created", RU, number=str(ticket.id)) + "\n"
        + t("dialogs-support-reply-time", RU, minutes=minutes)
    )  # fmt: skip
    assert payloads_of([created]) == [payload("nav", "agent"), payload("nav", "menu")]

    # the status: the latest tickets with a pick, then the one picked
    latest = only(await tg.say(CHAT, "какой статус у моей заявки?"))
    assert text_of(latest).startswith(t("dialogs-support-status-latest", RU, count=1))
    pick = payload("ticket_status", "pick", ticket.id)
    assert (t("dialogs-support-status-button", RU, number=str(ticket.id)), pick) in buttons_of(
        latest
    )
    status = only(await tg.press(CHAT, pick), "editMessageText")
    assert text_of(status) == status_text(ticket)
    assert await session.scalar(select(func.count()).select_from(Ticket)) == 1


async def test_ticket_status_by_the_suggested_phrase(tg: BotRuntime, session: AsyncSession) -> None:
    tariff = await make_tariff(session, name="Дом 300", price=60000)
    customer = await linked_customer(session, tariff=tariff)
    ticket = await make_ticket(session, customer, subject="Нет интернета")
    await session.commit()
    await tg.start()
    assert ticket.id < 10  # a fresh install's first tickets
    replies = await tg.say(CHAT, f"статус заявки {ticket.id}")
    assert texts(replies) == [status_text(ticket)]


def status_text(ticket: Ticket) -> str:
    """The status answer for an open ticket without a staff reply."""
    return (
        t("dialogs-support-status-detail", RU, number=str(ticket.id), subject=ticket.subject,
          status="open", created=day(ticket.created_at.date())) + "\n"
        + t("dialogs-support-status-no-reply", RU)
    )  # fmt: skip


# --- 8. documents as PDF uploads ----------------------------------------------------------------


async def test_contract_arrives_as_a_pdf_upload(
    tg: BotRuntime, session: AsyncSession, bot: Bot
) -> None:
    tariff = await make_tariff(session, name="Дом 300", price=60000)
    customer = await linked_customer(session, tariff=tariff, contract_number="K-4242")
    await tg.start()

    replies = await tg.say(CHAT, "пришлите договор")
    sent = only(replies, "sendDocument")
    (document,) = (await session.scalars(select(Document))).all()
    assert (document.customer_id, document.kind) == (customer.id, DocumentKind.contract)
    assert sent.params["caption"] == t("dialogs-support-docs-ready", RU, type="contract")
    upload = sent.files["document"]
    assert upload.filename == filename_of(document)
    stored = await DocumentStorage(tg.settings.documents_dir).open(document)
    assert upload.content.startswith(b"%PDF") and upload.content == stored

    # the customer's client downloads exactly that file
    (kept,) = [f for f in tg.telegram.files.values() if f.upload.content == stored]
    file = await bot.get_file(kept.file_id)
    assert file.file_path is not None
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None and downloaded.read() == stored

    # asked again: the same stored document, not a new version
    again = only(await tg.say(CHAT, "пришлите договор"), "sendDocument")
    assert again.files["document"].content == stored
    assert await session.scalar(select(func.count()).select_from(Document)) == 1


async def test_invoice_by_buttons_arrives_as_a_pdf_upload(
    tg: BotRuntime, session: AsyncSession
) -> None:
    tariff = await make_tariff(session, name="Дом 300", price=60000)
    customer = await linked_customer(session, tariff=tariff)
    await tg.start()
    month = business_today(tg.settings).replace(day=1)

    kinds = only(await tg.say(CHAT, "документы"))
    assert text_of(kinds) == t("dialogs-support-docs-type", RU)
    invoice = payload("get_documents", "type", "invoice")
    assert (t("dialogs-support-docs-kind", RU, type="invoice"), invoice) in buttons_of(kinds)
    periods = only(await tg.press(CHAT, invoice), "editMessageText")
    assert text_of(periods) == t("dialogs-support-docs-period", RU)
    this_month = payload("get_documents", "period", f"{month:%Y-%m}")
    assert this_month in payloads_of([periods])

    sent = only(await tg.press(CHAT, this_month), "sendDocument")
    (document,) = (await session.scalars(select(Document))).all()
    assert (document.customer_id, document.kind) == (customer.id, DocumentKind.invoice)
    assert sent.files["document"].content.startswith(b"%PDF")
    assert sent.files["document"].filename == filename_of(document)
    assert sent.params["caption"] == t(
        "dialogs-support-docs-ready-period",
        RU,
        type="invoice",
        period=format_date(month, "LLLL y", locale=RU),
    )


# --- 9. handover to an agent and back -------------------------------------------------------------


async def test_handover_to_an_agent_and_back(
    tg: BotRuntime, session: AsyncSession, as_staff: Any
) -> None:
    tariff = await make_tariff(session, name="Дом 300", price=60000)
    customer = await linked_customer(session, tariff=tariff)
    document = (await generate.contract(session, tg.settings, customer.id)).document
    await session.commit()
    agent, headers = await as_staff(Role.agent)
    # the agent's messages reach Telegram through the notification worker
    await tg.start(notifications=True)

    replies = await tg.say(CHAT, "позовите оператора")
    minutes = tg.settings.chat_first_reply_minutes
    assert texts(replies) == [t("dialogs-handover-waiting", RU, minutes=minutes)]
    queue = await tg.api.get(f"{API}/agent/conversations", headers=headers)
    assert queue.status_code == 200, queue.text
    (waiting,) = queue.json()["items"]
    assert (waiting["state"], waiting["channel"], waiting["customer_id"]) == (
        "waiting_agent",
        "telegram",
        customer.id,
    )
    conv = waiting["id"]

    mark = tg.mark()
    claimed = await tg.api.post(f"{API}/agent/conversations/{conv}/claim", headers=headers)
    assert claimed.status_code == 200 and claimed.json()["agent_id"] == agent.id
    joined = t("dialogs-handover-agent-joined", RU)
    await tg.wait_reply(CHAT, mark, where=lambda c: text_of(c) == joined)

    # while the agent holds the chat the bot stays silent; the agent sees the message
    assert await tg.say(CHAT, "вы тут? у меня вопрос по договору") == []
    detail = await tg.api.get(f"{API}/agent/conversations/{conv}", headers=headers)
    assert detail.status_code == 200
    incoming = [(m["direction"], m["sender"], m["text"]) for m in detail.json()["messages"]]
    assert ("in", "customer", "вы тут? у меня вопрос по договору") in incoming

    answer = "Здравствуйте! Пришлю договор."
    mark = tg.mark()
    r = await tg.api.post(
        f"{API}/agent/conversations/{conv}/messages", headers=headers, json={"text": answer}
    )
    assert r.status_code == 201, r.text
    await tg.wait_reply(CHAT, mark, where=lambda c: text_of(c) == answer)
    mark = tg.mark()
    r = await tg.api.post(
        f"{API}/agent/conversations/{conv}/messages",
        headers=headers,
        json={"document_id": document.id, "text": "Ваш договор"},
    )
    assert r.status_code == 201, r.text
    sent = await tg.wait_reply(CHAT, mark, "sendDocument")
    assert sent.params["caption"] == "Ваш договор"
    stored = await DocumentStorage(tg.settings.documents_dir).open(document)
    assert sent.files["document"].content.startswith(b"%PDF")
    assert sent.files["document"].content == stored
    assert sent.files["document"].filename == f"{document.title}.pdf"

    mark = tg.mark()
    released = await tg.api.post(f"{API}/agent/conversations/{conv}/release", headers=headers)
    assert released.status_code == 200 and released.json()["state"] == "bot"
    left = t("dialogs-handover-released", RU)
    await tg.wait_reply(CHAT, mark, where=lambda c: text_of(c) == left)
    state = await session.scalar(select(Conversation.state).where(Conversation.id == conv))
    assert state is ConversationState.bot

    # joined, the text, the document, left: each outbox row delivered and marked done
    async def delivered() -> bool:
        statuses = list(
            await session.scalars(
                select(OutboxMessage.status).where(OutboxMessage.kind == AGENT_REPLY)
            )
        )
        return len(statuses) == 4 and set(statuses) == {OutboxStatus.done}

    await wait_until(delivered, "the agent's messages marked delivered")

    # the bot answers again
    replies = await tg.say(CHAT, "какой у меня баланс?")
    assert texts(replies) == [await balance_text(session, tg.settings, customer.id)]
    # every message to the customer was sent once
    to_chat = [
        text_of(c)
        for c in tg.telegram.recorded
        if c.method in ("sendMessage", "sendDocument") and c.params.get("chat_id") == CHAT
    ]
    assert to_chat.count(joined) == 1 and to_chat.count(answer) == 1 and to_chat.count(left) == 1


# --- the command menu -----------------------------------------------------------------------------

ROUTED_COMMANDS = ("start", "help", "balance", "pay", "tariffs")
# In the menu (bot/commands.py) but neither in dialogs/engine.py COMMANDS nor understood by
# the NLU: the customer gets "I did not understand".
MORE_COMMANDS = ("tickets", "documents", "language", "agent")  # agent last: it hands over


def fallbacks() -> set[str]:
    return {t("dialogs-fallback", RU), t("dialogs-fallback-agent", RU)}


async def test_menu_commands_answer(tg: BotRuntime, session: AsyncSession) -> None:
    assert {*ROUTED_COMMANDS, *MORE_COMMANDS} == set(COMMANDS)
    tariff = await make_tariff(session, name="Дом 300", price=60000)
    customer = await linked_customer(session, tariff=tariff)
    await tg.start()
    answers: dict[str, str] = {}
    for name in ROUTED_COMMANDS:
        replies = await tg.command(CHAT, name)
        assert replies, name
        answers[name] = text_of(replies[0])
        assert not fallbacks() & set(texts(replies)), (name, texts(replies))
    header = t("dialogs-header-customer", RU, name=customer.full_name,
               contract=customer.contract_number, status="active")  # fmt: skip
    assert answers["start"].startswith(header) and answers["help"].startswith(header)
    assert answers["balance"] == await balance_text(session, tg.settings, customer.id)
    assert answers["pay"] == t("dialogs-topup-ask", RU)
    assert answers["tariffs"].startswith(t("dialogs-tariff-list-title", RU))


async def test_more_menu_commands_open_their_flows(tg: BotRuntime, session: AsyncSession) -> None:
    tariff = await make_tariff(session, name="Дом 300", price=60000)
    await linked_customer(session, tariff=tariff)
    await tg.start()
    expected = {
        "tickets": t("dialogs-support-status-none", RU),
        "documents": t("dialogs-support-docs-type", RU),
        "agent": t("dialogs-handover-waiting", RU, minutes=15),
        "language": t("dialogs-settings-ask-lang", RU),
    }
    for name in MORE_COMMANDS:
        replies = await tg.command(CHAT, name)
        assert replies and not fallbacks() & set(texts(replies)), (name, texts(replies))
        assert texts(replies)[0] == expected[name], (name, texts(replies))

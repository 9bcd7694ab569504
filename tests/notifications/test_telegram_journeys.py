"""Customers' notices end to end to Telegram: the event comes from the real flow (a payment by
link through the sandbox provider, a staff answer through the support API, a block by the
billing run), the notification worker (notifications/worker.py, its loop or one batch at a
time) sends it with the real aiogram Bot of notifications/telegram.py to the Bot API stand-in,
and the chat linked to the customer (their Telegram ChannelIdentity) gets the text of the
locales with the buttons of its kind. Then Telegram's two refusals through the same path: a
429 postpones the row by its retry_after without spending an attempt, and the notice arrives
once after; a 403 (the user blocked the bot) marks the identity unreachable and the notice
goes to the customer's e-mail (the dev-mail channel: a file under DATA_DIR/dev-mail).

Processes killed mid-batch and two workers at once: test_worker_processes.py."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend import outbox
from backend.billing.tasks import billing_run
from backend.i18n import major, t
from backend.models import (
    Channel,
    ChannelIdentity,
    Customer,
    NotificationDelivery,
    OutboxMessage,
    OutboxStatus,
    utcnow,
)
from backend.state import Resources
from bot.handlers import NOTICE_MARK
from dialogs.types import payload
from notifications.channels import ChannelRegistry, close_channels, dev_mail_dir
from notifications.registry import default_channels
from notifications.worker import WorkerOptions, deliver_once, run_worker
from tests.backend.payments.conftest import build_app, key_header, serve
from tests.backend.payments.helpers import form_token
from tests.factories import make_customer, make_subscription, make_tariff, make_ticket
from tests.support.telegram_standin import Call, TelegramStandIn

CHAT = 7_702_001
PAY = (t("telegram-notice-pay", "ru"), NOTICE_MARK + payload("top_up", "start"))
PROMISED = (t("telegram-notice-promised", "ru"), NOTICE_MARK + payload("promised_payment", "start"))
DELIVERY_TIMEOUT = 15.0


@pytest.fixture
async def telegram() -> AsyncIterator[TelegramStandIn]:
    standin = TelegramStandIn()
    await standin.start()
    try:
        yield standin
    finally:
        await standin.stop()


@pytest.fixture
def live(resources: Resources, telegram: TelegramStandIn, tmp_path: Path) -> Resources:
    """The shared engine and Redis under the settings of a deployment with a bot: the worker
    and its channels read the same settings, as in `python main.py worker`."""
    settings = resources.settings.model_copy(
        update={
            "telegram_bot_token": SecretStr(telegram.token),
            "telegram_api_base": telegram.base_url,
            "data_dir": tmp_path,  # the dev-mail e-mail channel writes here
        }
    )
    return dataclasses.replace(resources, settings=settings)


@pytest.fixture
async def channels(live: Resources) -> AsyncIterator[ChannelRegistry]:
    """The channels `python main.py worker` builds from these settings (registry.py)."""
    made = default_channels(live.settings, live)
    assert "telegram" in made and "email" in made
    try:
        yield made
    finally:
        await close_channels(made)


@pytest.fixture
async def worker(live: Resources, channels: ChannelRegistry) -> AsyncIterator[None]:
    """The worker's loop, running: it wakes on the outbox's NOTIFY as in production."""
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_worker(live, stop, channels=channels, options=WorkerOptions(poll_interval=0.2))
    )
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def _link(session: AsyncSession, customer: Customer, chat_id: int = CHAT) -> None:
    session.add(
        ChannelIdentity(customer_id=customer.id, channel=Channel.telegram, external_id=str(chat_id))
    )
    await session.commit()


def _to_chat(chat_id: int) -> Callable[[Call], bool]:
    return lambda c: c.status == 200 and c.params.get("chat_id") == chat_id


async def _delivered(telegram: TelegramStandIn, chat_id: int = CHAT) -> list[Call]:
    return await telegram.wait_for("sendMessage", where=_to_chat(chat_id), timeout=DELIVERY_TIMEOUT)


def _keyboard(call: Call) -> list[list[tuple[str, str]]]:
    markup = call.params.get("reply_markup")
    if markup is None:
        return []
    return [[(b["text"], b["callback_data"]) for b in row] for row in markup["inline_keyboard"]]


async def _eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """The worker marks its rows in its own transactions, just after the send."""
    deadline = asyncio.get_running_loop().time() + DELIVERY_TIMEOUT
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"not reached in time: {what}"
        await asyncio.sleep(0.05)


async def _row(resources: Resources, kind: str) -> OutboxMessage:
    async with resources.sessionmaker() as s:
        found = list(await s.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)))
    assert len(found) == 1, f"{len(found)} {kind} rows"
    return found[0]


async def _deliveries(resources: Resources, outbox_id: int) -> list[tuple[str, str, str]]:
    """(channel, address, status) of one outbox row's per-recipient records."""
    async with resources.sessionmaker() as s:
        rows = await s.execute(
            select(
                NotificationDelivery.channel,
                NotificationDelivery.address,
                NotificationDelivery.status,
            )
            .where(NotificationDelivery.outbox_id == outbox_id)
            .order_by(NotificationDelivery.id)
        )
        return [(c, a, st) for c, a, st in rows]


async def _done_and_sent(resources: Resources, kind: str, chat_id: int = CHAT) -> None:
    async def done() -> bool:
        return (await _row(resources, kind)).status == OutboxStatus.done

    await _eventually(done, f"{kind} marked done")
    row = await _row(resources, kind)
    assert row.attempts == 1 and row.last_error is None
    assert await _deliveries(resources, row.id) == [("telegram", str(chat_id), "sent")]


# --- the journeys --------------------------------------------------------------------------


@pytest.mark.usefixtures("worker")
async def test_a_payment_by_link_reaches_the_linked_chat(
    resources: Resources, session: AsyncSession, as_customer: Any, telegram: TelegramStandIn
) -> None:
    customer, headers = await as_customer(balance=5000)
    await _link(session, customer)
    async with (
        serve(lambda base: build_app(resources, public_url=base)) as (_, base),
        httpx.AsyncClient(base_url=base, timeout=20) as web,
    ):
        created = await web.post(
            "/api/v1/payments", json={"amount": 60000}, headers=key_header(headers)
        )
        assert created.status_code == 201, created.text
        link = created.json()["confirmation_url"]
        page = await web.get(link)
        assert page.status_code == 200
        paid = await web.post(
            f"{link}/pay", data={"token": form_token(page.text)}, follow_redirects=False
        )
        assert paid.status_code == 303
        # the provider's signed webhook reaches the app over HTTP, the credit writes the
        # event, the worker wakes on its NOTIFY
        [sent] = await _delivered(telegram)

    assert sent.params["text"] == t(
        "payments-credited", "ru", amount=major(60000), balance=major(65000), currency="RUB"
    )
    assert sent.params["text"] == "Зачислено 600,00 ₽. Баланс 650,00 ₽."
    assert _keyboard(sent) == []  # nothing to do about money that arrived
    await _done_and_sent(resources, "payment.credited")


@pytest.mark.usefixtures("worker")
async def test_a_staff_answer_to_a_ticket_reaches_the_linked_chat(
    resources: Resources,
    session: AsyncSession,
    client: httpx.AsyncClient,
    as_customer: Any,
    as_staff: Any,
    telegram: TelegramStandIn,
) -> None:
    customer, _ = await as_customer()
    _, staff = await as_staff()
    ticket = await make_ticket(session, customer, subject="Нет интернета в подъезде")
    await session.commit()
    await _link(session, customer)
    answer = "Проверили линию: перезагрузите роутер, пожалуйста."

    r = await client.post(
        f"/api/v1/tickets/{ticket.id}/messages", json={"body": answer}, headers=staff
    )
    assert r.status_code == 201, r.text

    [sent] = await _delivered(telegram)
    args = {"ticket": ticket.id, "status": "open", "event": "answered", "answer": answer}
    assert sent.params["text"] == t("ticket-updated", "ru", **args)
    assert sent.params["text"].startswith(f"Ответ специалиста по заявке № {ticket.id}:\n{answer}")
    label = t("telegram-notice-ticket", "ru")
    opens = NOTICE_MARK + payload("ticket_status", "start", ticket.id)
    assert _keyboard(sent) == [[(label, opens)]]
    await _done_and_sent(resources, "ticket.updated")


@pytest.mark.usefixtures("worker")
async def test_a_block_by_the_billing_run_reaches_the_linked_chat(
    resources: Resources, session: AsyncSession, telegram: TelegramStandIn
) -> None:
    tariff = await make_tariff(session, price=60000)  # 2000 a day in November
    _, customer = await make_customer(session, balance=1000)
    await make_subscription(session, customer, tariff, started_on=date(2026, 1, 1))
    await session.commit()
    await _link(session, customer)

    report = await billing_run(resources, date(2026, 11, 17))

    assert report.blocked == 1
    blocked = t("billing-subscription-blocked", "ru", promised="yes")
    assert blocked.startswith("Интернет приостановлен")

    async def told() -> bool:
        return any(c.params["text"] == blocked for c in telegram.calls("sendMessage"))

    await _eventually(told, "the block told in the chat")
    sent = [c for c in telegram.calls("sendMessage") if c.params["text"] == blocked]
    assert len(sent) == 1 and _to_chat(CHAT)(sent[0])
    # urgent: at once, with the two ways out
    assert _keyboard(sent[0]) == [[PAY, PROMISED]]
    await _done_and_sent(resources, "subscription.blocked")


# --- Telegram's refusals ---------------------------------------------------------------------


async def _low_balance(resources: Resources, customer: Customer) -> None:
    async with resources.sessionmaker() as s:
        data = {"customer_id": customer.id, "balance": 12000, "days_left": 2}
        assert await outbox.enqueue(s, "billing.low_balance", data, f"low:{customer.id}:{utcnow()}")
        await s.commit()


LOW_BALANCE = t("billing-low-balance", "ru", balance=major(12000), currency="RUB", days=2)


async def test_a_429_postpones_the_row_without_an_attempt_and_it_arrives_once(
    live: Resources,
    session: AsyncSession,
    channels: ChannelRegistry,
    telegram: TelegramStandIn,
) -> None:
    _, customer = await make_customer(session)
    await session.commit()
    await _link(session, customer)
    await _low_balance(live, customer)
    telegram.fail_next("sendMessage", status=429, retry_after=2)
    before = utcnow()

    assert await deliver_once(live, channels) == 1

    after = utcnow()
    row = await _row(live, "billing.low_balance")
    # postponed by Telegram's retry_after (not the backoff), the attempt handed back: flood
    # control is not a failure of the row (it would otherwise die after max_attempts 429s)
    assert (row.status, row.attempts) == (OutboxStatus.pending, 0)
    assert "retry after 2" in (row.last_error or "")
    assert before + timedelta(seconds=2) <= row.available_at <= after + timedelta(seconds=2)
    assert await _deliveries(live, row.id) == [("telegram", str(CHAT), "retry")]
    assert await deliver_once(live, channels) == 0  # not before retry_after

    async def claimed() -> bool:
        return await deliver_once(live, channels) == 1

    await _eventually(claimed, "the row due again")

    assert [c.status for c in telegram.calls("sendMessage")] == [429, 200]
    assert telegram.sent_texts(CHAT) == [LOW_BALANCE]
    assert telegram.sent_per_chat == {CHAT: 1}
    assert _keyboard(telegram.last("sendMessage")) == [[PAY]]
    row = await _row(live, "billing.low_balance")
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.done, 1, None)
    assert await _deliveries(live, row.id) == [("telegram", str(CHAT), "sent")]
    assert await deliver_once(live, channels) == 0
    assert len(telegram.calls("sendMessage")) == 2


def _mail(live: Resources) -> list[str]:
    box = dev_mail_dir(live.settings)
    return [p.read_text(encoding="utf-8") for p in sorted(box.glob("*-email.txt"))]


async def test_a_403_marks_the_identity_unreachable_and_the_notice_goes_by_email(
    live: Resources,
    session: AsyncSession,
    channels: ChannelRegistry,
    telegram: TelegramStandIn,
) -> None:
    _, customer = await make_customer(session, email="blocked-bot@example.com")
    await session.commit()
    await _link(session, customer)
    telegram.block_chat(CHAT)
    await _low_balance(live, customer)

    assert await deliver_once(live, channels) == 1

    assert [c.status for c in telegram.calls("sendMessage")] == [403]
    assert telegram.sent_per_chat == {}
    identity = await session.scalar(
        select(ChannelIdentity)
        .where(ChannelIdentity.customer_id == customer.id)
        .execution_options(populate_existing=True)
    )
    assert identity is not None
    assert (identity.is_reachable, identity.unreachable_reason) == (False, "blocked_by_user")
    [mail] = _mail(live)
    assert "To: blocked-bot@example.com" in mail and LOW_BALANCE in mail
    row = await _row(live, "billing.low_balance")
    assert (row.status, row.attempts) == (OutboxStatus.done, 1)
    assert await _deliveries(live, row.id) == [
        ("telegram", str(CHAT), "failed"),
        ("email", "blocked-bot@example.com", "sent"),
    ]

    # the next notice goes to e-mail at once: the blocked chat is not tried again
    await _low_balance(live, customer)
    assert await deliver_once(live, channels) == 1
    assert len(telegram.calls("sendMessage")) == 1
    assert len(_mail(live)) == 2

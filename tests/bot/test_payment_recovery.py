"""Telegram's successful_payment is money already taken: a failure while crediting it is
retried by the running bot (once PostgreSQL is back, with no error reply meanwhile) and
credited exactly once; a failure that keeps repeating raises an alert (a metric and an ERROR
log); a charge that matches no payment, or not its amount, leaves a record staff can list."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import structlog
from aiogram import Bot, Dispatcher
from prometheus_client import REGISTRY
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.db import unit_of_work
from backend.i18n import t
from backend.models import (
    Account,
    Channel,
    ChannelIdentity,
    Payment,
    PaymentStatus,
    Role,
    TelegramUpdate,
    Transaction,
)
from backend.payments import service as payments
from backend.state import Resources
from bot import handlers, inbox
from bot.factory import create_dispatcher
from tests.bot.harness import wait_until
from tests.bot.test_inbox import StubEngine
from tests.bot.test_outage_recovery import Proxied, proxied  # noqa: F401 - a fixture
from tests.factories import make_customer
from tests.support.telegram_standin import TelegramStandIn

CHAT = 7701
AMOUNT = 60000


async def _arrange(resources: Resources, session: AsyncSession) -> tuple[int, str]:
    """A linked customer with a Telegram invoice for AMOUNT; (customer id, invoice payload)."""
    _, customer = await make_customer(session, balance=0)
    session.add(
        ChannelIdentity(customer_id=customer.id, channel=Channel.telegram, external_id=str(CHAT))
    )
    await session.commit()
    settings = resources.settings.model_copy(
        update={"telegram_payments_provider_token": SecretStr("284685063:TEST:abc")}
    )
    async with unit_of_work(resources.sessionmaker) as s:
        invoice = await payments.create_telegram_payment(s, settings, customer.id, AMOUNT)
    return customer.id, invoice.payload


async def _credits(session: AsyncSession, customer_id: int) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(Transaction)
            .join(Account, Account.id == Transaction.account_id)
            .where(Account.customer_id == customer_id, Transaction.reason == "topup")
            .execution_options(populate_existing=True)
        )
        or 0
    )


async def _done(session: AsyncSession) -> bool:
    row = await session.scalar(select(TelegramUpdate).execution_options(populate_existing=True))
    return row is not None and row.status == "done"


@pytest.fixture
async def running(
    proxied: Proxied,  # noqa: F811 - the fixture imported above
    bot: Bot,
) -> AsyncIterator[tuple[Resources, Dispatcher]]:
    """A dispatcher on the proxied resources with the inbox's retry loop running."""
    settings = proxied.resources.settings.model_copy(
        update={"telegram_payments_provider_token": SecretStr("284685063:TEST:abc")}
    )
    res = dataclasses.replace(proxied.resources, settings=settings)
    dp = create_dispatcher(res, StubEngine())  # type: ignore[arg-type]
    stop = asyncio.Event()
    task = asyncio.create_task(inbox.maintain(res, bot, dp, stop))
    try:
        yield res, dp
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def _wrap_credit(
    monkeypatch: pytest.MonkeyPatch, before: Callable[[int], Awaitable[None]]
) -> list[int]:
    """Run `before(call number)` ahead of each real credit_successful_payment call."""
    real = payments.credit_successful_payment
    calls: list[int] = []

    async def wrapped(*args: Any, **kwargs: Any) -> Any:
        calls.append(len(calls) + 1)
        await before(len(calls))
        return await real(*args, **kwargs)

    monkeypatch.setattr(payments, "credit_successful_payment", wrapped)
    return calls


async def test_a_payment_failing_while_the_database_is_down_is_retried_and_credited_once(
    running: tuple[Resources, Dispatcher],
    proxied: Proxied,  # noqa: F811
    resources: Resources,
    session: AsyncSession,
    bot: Bot,
    telegram: TelegramStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    res, dp = running
    customer_id, payload = await _arrange(resources, session)

    async def cut_first_time(call: int) -> None:
        if call == 1:  # the database goes away just as the payment is being credited
            await proxied.db.cut()

            async def restore() -> None:
                await asyncio.sleep(2)
                await proxied.db.restore()

            asyncio.get_running_loop().create_task(restore())

    calls = _wrap_credit(monkeypatch, cut_first_time)
    update = telegram.successful_payment(CHAT, payload, total_amount=AMOUNT)
    await inbox.process_update(res, bot, dp, update)

    await wait_until(lambda: _done(session), "the payment update processed", timeout=30)
    assert len(calls) == 2  # failed once (database away), credited on the retry
    assert await _credits(session, customer_id) == 1
    payment = await session.scalar(select(Payment).execution_options(populate_existing=True))
    assert payment is not None and payment.status is PaymentStatus.succeeded
    texts = telegram.sent_texts(CHAT)
    assert len(texts) == 1 and "600,00" in texts[0]  # the credit reply, and no error reply


async def test_a_payment_that_keeps_failing_raises_an_alert_and_is_credited_once(
    running: tuple[Resources, Dispatcher],
    resources: Resources,
    session: AsyncSession,
    bot: Bot,
    telegram: TelegramStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    res, dp = running
    customer_id, payload = await _arrange(resources, session)

    async def fail_three_times(call: int) -> None:
        if call <= 3:
            raise RuntimeError("the payment service is broken")

    calls = _wrap_credit(monkeypatch, fail_three_times)
    alerts_before = REGISTRY.get_sample_value("telegram_successful_payment_alerts_total") or 0
    update = telegram.successful_payment(CHAT, payload, total_amount=AMOUNT)
    with structlog.testing.capture_logs() as logs:
        await inbox.process_update(res, bot, dp, update)
        await wait_until(lambda: _done(session), "credited on a retry", timeout=30)
    assert len(calls) == 4
    assert await _credits(session, customer_id) == 1
    alerts = REGISTRY.get_sample_value("telegram_successful_payment_alerts_total") or 0
    assert alerts > alerts_before
    assert any(
        e["event"] == "successful_payment keeps failing" and e["log_level"] == "error" for e in logs
    )
    assert len(telegram.sent_texts(CHAT)) == 1


@pytest.mark.parametrize("case", ["unknown-payload", "amount-mismatch"])
async def test_an_unmatched_payment_leaves_a_record_staff_can_list(
    case: str,
    resources: Resources,
    session: AsyncSession,
    bot: Bot,
    telegram: TelegramStandIn,
    client: Any,
    as_staff: Any,
) -> None:
    _, payload = await _arrange(resources, session)
    dp = create_dispatcher(resources, StubEngine())  # type: ignore[arg-type]
    if case == "unknown-payload":
        update = telegram.successful_payment(CHAT, "topup:unknown", total_amount=AMOUNT)
        action = handlers.UNMATCHED_PAYMENT
    else:
        update = telegram.successful_payment(CHAT, payload, total_amount=AMOUNT - 100)
        action = "payment.failed"
    await inbox.process_update(resources, bot, dp, update)

    assert telegram.sent_texts(CHAT) == [t("telegram-payment-under-review", "ru")]
    _, headers = await as_staff(Role.admin, mfa=True)
    r = await client.get("/api/v1/audit", params={"action": action}, headers=headers)
    assert r.status_code == 200, r.text
    [entry] = r.json()["items"]
    assert entry["details"].get("reason") or entry["details"]

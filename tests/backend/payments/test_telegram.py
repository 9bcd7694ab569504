"""The service side of Telegram Payments: the invoice, pre-checkout validation, and crediting
`successful_payment` once per telegram_payment_charge_id."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr

from backend.db import unit_of_work
from backend.errors import AppError
from backend.models import PaymentStatus
from backend.payments import service
from tests.backend.payments.conftest import assert_ledger_invariant
from tests.backend.payments.helpers import (
    audit_actions,
    balance_of,
    outbox_of,
    payment_row,
    topups_of,
)
from tests.factories import make_customer, make_invoice


@pytest.fixture
def tg_settings(settings):
    return settings.model_copy(
        update={"telegram_payments_provider_token": SecretStr("284685063:TEST:abc")}
    )


async def _invoice(resources, tg_settings, customer_id: int, amount: int | None = 60000, **kw):
    async with unit_of_work(resources.sessionmaker) as s:
        return await service.create_telegram_payment(s, tg_settings, customer_id, amount, **kw)


async def _pre_checkout(resources, payload: str, currency: str, total: int):
    async with resources.sessionmaker() as s:
        return await service.validate_pre_checkout(s, payload, currency, total)


async def _successful(resources, tg_settings, payload, charge, total=60000, currency="RUB"):
    async with unit_of_work(resources.sessionmaker) as s:
        outcome = await service.credit_successful_payment(
            s, tg_settings, payload, charge, f"yookassa-{charge}", total, currency
        )
        return outcome.credited, outcome.ack


async def test_invoice_for_send_invoice(resources, session, tg_settings):
    _, customer = await make_customer(session, locale="en")
    await session.commit()
    invoice = await _invoice(resources, tg_settings, customer.id, 60000)
    assert invoice.payload == f"topup:{invoice.payment_id}"
    assert len(invoice.payload.encode()) <= 128
    assert invoice.currency == "RUB"
    assert [(p.label, p.amount) for p in invoice.prices] == [("Balance top-up", 60000)]
    assert 1 <= len(invoice.title) <= 32
    assert customer.contract_number in invoice.description
    ru = await _invoice(resources, tg_settings, customer.id, 60000, locale="ru")
    assert ru.title == "Пополнение баланса"
    payment = await payment_row(resources, invoice.payment_id)
    assert payment.provider == "telegram"
    assert payment.status is PaymentStatus.pending
    assert payment.provider_payment_id is None
    assert len(await audit_actions(resources, "payment.created")) == 2


async def test_invoice_rules(resources, session, settings, tg_settings):
    _, customer = await make_customer(session)
    inv = await make_invoice(session, customer, amount=4200)
    await session.commit()
    with pytest.raises(AppError) as disabled:
        await _invoice(resources, settings, customer.id)
    assert disabled.value.code == "provider_disabled"
    for amount, code in ((0, "amount_out_of_range"), (None, "amount_required")):
        with pytest.raises(AppError) as err:
            await _invoice(resources, tg_settings, customer.id, amount)
        assert err.value.code == code
    by_invoice = await _invoice(resources, tg_settings, customer.id, None, invoice_id=inv.id)
    assert by_invoice.prices[0].amount == 4200


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda p: (p, "RUB", 60000), (True, None)),
        (
            lambda p: ("topup:00000000-0000-4000-8000-000000000000", "RUB", 60000),
            (False, "payment_not_found"),
        ),
        (lambda p: ("garbage", "RUB", 60000), (False, "payment_not_found")),
        (lambda p: ("topup:" + "x" * 200, "RUB", 60000), (False, "payment_not_found")),
        (lambda p: (p, "RUB", 60001), (False, "payment_amount_mismatch")),
        (lambda p: (p, "RUB", 6000), (False, "payment_amount_mismatch")),
        (lambda p: (p, "USD", 60000), (False, "payment_currency_mismatch")),
        (lambda p: (p, "XTR", 60000), (False, "payment_currency_mismatch")),
    ],
)
async def test_pre_checkout(resources, session, tg_settings, mutate, expected):
    _, customer = await make_customer(session)
    await session.commit()
    invoice = await _invoice(resources, tg_settings, customer.id)
    assert await _pre_checkout(resources, *mutate(invoice.payload)) == expected


async def test_pre_checkout_refuses_paid_and_cancelled(resources, session, tg_settings):
    _, customer = await make_customer(session)
    await session.commit()
    paid = await _invoice(resources, tg_settings, customer.id)
    await _successful(resources, tg_settings, paid.payload, "charge-paid")
    assert await _pre_checkout(resources, paid.payload, "RUB", 60000) == (
        False,
        "payment_already_paid",
    )
    cancelled = await _invoice(resources, tg_settings, customer.id)
    row = await payment_row(resources, cancelled.payment_id)
    row.status = PaymentStatus.cancelled
    await session.merge(row)
    await session.commit()
    assert await _pre_checkout(resources, cancelled.payload, "RUB", 60000) == (
        False,
        "payment_not_payable",
    )


async def test_pre_checkout_reasons_have_texts():
    from typing import get_args

    from backend.i18n import catalog

    for code in get_args(service.PreCheckoutError):
        key = "error-" + code.replace("_", "-")
        assert catalog().has(key, "ru"), key
        assert catalog().bundles["en"].has_message(key), key


async def test_successful_payment_is_credited_once(resources, session, tg_settings):
    _, customer = await make_customer(session)
    await session.commit()
    invoice = await _invoice(resources, tg_settings, customer.id)
    results = [
        await _successful(resources, tg_settings, invoice.payload, "tg-charge-1") for _ in range(3)
    ]
    assert results == [(True, "credited"), (False, "duplicate"), (False, "duplicate")]
    # and concurrently
    more = await asyncio.gather(
        *(_successful(resources, tg_settings, invoice.payload, "tg-charge-1") for _ in range(20))
    )
    assert all(r == (False, "duplicate") for r in more)
    assert await balance_of(resources, customer.id) == 60000
    payment = await payment_row(resources, invoice.payment_id)
    assert payment.status is PaymentStatus.succeeded
    assert payment.provider_payment_id == "tg-charge-1"
    assert payment.details["telegram"]["provider_payment_charge_id"] == "yookassa-tg-charge-1"
    topups = await topups_of(resources, customer.id)
    assert [t.reference for t in topups] == ["telegram:tg-charge-1"]
    assert len(await outbox_of(resources, "payment.credited")) == 1
    await assert_ledger_invariant(resources)


async def test_concurrent_first_deliveries_credit_once(resources, session, tg_settings):
    _, customer = await make_customer(session)
    await session.commit()
    invoice = await _invoice(resources, tg_settings, customer.id)
    results = await asyncio.gather(
        *(_successful(resources, tg_settings, invoice.payload, "tg-race") for _ in range(20))
    )
    assert sorted(results) == [(False, "duplicate")] * 19 + [(True, "credited")]
    assert await balance_of(resources, customer.id) == 60000
    await assert_ledger_invariant(resources)


async def test_a_second_charge_for_one_invoice_is_money_too(resources, session, tg_settings):
    """Two pre-checkouts raced and Telegram took the money twice: both charges are credited,
    each once."""
    _, customer = await make_customer(session)
    await session.commit()
    invoice = await _invoice(resources, tg_settings, customer.id)
    assert (await _successful(resources, tg_settings, invoice.payload, "first"))[0]
    second = await asyncio.gather(
        *(_successful(resources, tg_settings, invoice.payload, "second") for _ in range(5))
    )
    assert sorted(second) == [(False, "duplicate")] * 4 + [(True, "credited")]
    assert await balance_of(resources, customer.id) == 120000
    assert len(await audit_actions(resources, "payment.duplicate_charge")) == 1
    await assert_ledger_invariant(resources)


async def test_bad_successful_payments_move_no_money(resources, session, tg_settings):
    _, customer = await make_customer(session)
    await session.commit()
    invoice = await _invoice(resources, tg_settings, customer.id)
    with pytest.raises(AppError) as unknown:
        await _successful(resources, tg_settings, "topup:nope", "c1")
    assert unknown.value.code == "payment_not_found"
    with pytest.raises(AppError) as bad_charge:
        await _successful(resources, tg_settings, invoice.payload, "")
    assert bad_charge.value.code == "invalid_payload"
    # a charge for another amount marks the payment failed and credits nothing
    assert await _successful(resources, tg_settings, invoice.payload, "c2", total=1) == (
        False,
        "failed",
    )
    assert await balance_of(resources, customer.id) == 0
    assert (await payment_row(resources, invoice.payment_id)).status is PaymentStatus.failed

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from backend.billing import rules
from backend.clock import business_today
from backend.documents import generate
from backend.documents.service import CustomerNotFound
from backend.documents.storage import DocumentStorage
from backend.i18n import LOCALES_DIR
from backend.models import (
    Account,
    AuditEntry,
    BillingPeriod,
    Customer,
    Document,
    DocumentKind,
    Invoice,
    InvoiceStatus,
    OutboxMessage,
    SubscriptionStatus,
    Transaction,
    TransactionReason,
)
from tests.backend.documents.helpers import (
    en,
    local_moment,
    months_back,
    pdf_text,
    post_at,
    post_daily_charges,
    ru,
)
from tests.factories import make_customer, make_invoice, make_subscription, make_tariff

API = "/api/v1"
NAME = "Иванов Иван Иванович"
FEE = 60000  # "Дом 300": 600.00 a month


async def _ivanov(session, settings, *, locale="ru", with_user=False, **overrides):
    values = {
        "full_name": NAME,
        "contract_number": "Д-12345",
        "locale": locale,
        "with_user": with_user,
        "address": {"city": "Москва", "street": "ул. Ленина", "building": "5", "apartment": "12"},
    }
    values.update(overrides)
    _, customer = await make_customer(session, **values)
    tariff = await make_tariff(
        session, name="Дом 300", price=FEE, speed_down_mbps=300, speed_up_mbps=100
    )
    subscription = await make_subscription(
        session, customer, tariff, started_on=months_back(settings, 3)
    )
    return customer, tariff, subscription


async def _two_months(session, settings, customer, subscription):
    """A ledger across two past months: a top-up, the daily charges of both months, and in
    the later month a fee, a second top-up and a refund. Returns (first month, second month)."""
    m1, m2 = months_back(settings, 2), months_back(settings, 1)
    await post_at(
        session,
        customer,
        100000,
        local_moment(settings, m1 + timedelta(days=2), 12),
        reason=TransactionReason.topup,
        reference_kind="test",
        reference=f"topup-1:{customer.id}",
    )
    await post_daily_charges(
        session,
        settings,
        customer,
        subscription_id=subscription.id,
        tariff_name="Дом 300",
        monthly_fee=FEE,
        first=m1,
        last=rules.month_end(m2),
    )
    await post_at(
        session,
        customer,
        -5000,
        local_moment(settings, m2 + timedelta(days=9), 15),
        reason=TransactionReason.fee,
        reference_kind="test",
        reference=f"fee-1:{customer.id}",
        description="Смена тарифа",
    )
    await post_at(
        session,
        customer,
        50000,
        local_moment(settings, m2 + timedelta(days=11), 10),
        reason=TransactionReason.topup,
        reference_kind="test",
        reference=f"topup-2:{customer.id}",
    )
    await post_at(
        session,
        customer,
        1500,
        local_moment(settings, m2 + timedelta(days=12), 10),
        reason=TransactionReason.refund,
        reference_kind="test",
        reference=f"refund-1:{customer.id}",
    )
    return m1, m2


async def _rows(session, customer) -> list[Transaction]:
    query = (
        select(Transaction)
        .join(Account, Account.id == Transaction.account_id)
        .where(Account.customer_id == customer.id)
        .order_by(Transaction.created_at, Transaction.id)
    )
    return list((await session.scalars(query)).all())


def _in_month(settings, txn, month) -> bool:
    start = local_moment(settings, month, 0, 0)
    end = local_moment(settings, rules.next_month_start(month), 0, 0)
    return bool(start <= txn.created_at < end)


async def _read(settings, document) -> bytes:
    return await DocumentStorage(settings.documents_dir).open(document)


async def _count(session, model, *where) -> int:
    await session.flush()  # audit entries are added, not flushed, by the service
    query = select(func.count()).select_from(model)
    for clause in where:
        query = query.where(clause)
    return int(await session.scalar(query) or 0)


# --- the monthly act ------------------------------------------------------------------------


async def test_act_totals_match_the_ledger(session, doc_settings):
    settings = doc_settings
    customer, _, subscription = await _ivanov(session, settings)
    _, m2 = await _two_months(session, settings, customer, subscription)
    rows = await _rows(session, customer)

    document = await generate.generate_monthly_act(session, settings, customer.id, m2)

    month_rows = [r for r in rows if _in_month(settings, r, m2)]
    services = [
        r
        for r in month_rows
        if r.reason in (TransactionReason.charge, TransactionReason.fee) and r.amount < 0
    ]
    services_total = -sum(r.amount for r in services)
    opening = sum(r.amount for r in rows if r.created_at < local_moment(settings, m2, 0, 0))
    closing = opening + sum(r.amount for r in month_rows)
    # The arithmetic the document must show, worked out by hand as well: a month's daily
    # shares add up to the fee; the fee; 1000 - 600 before the month; the month's movements.
    assert services_total == FEE + 5000
    assert opening == 100000 - FEE
    assert closing == opening - FEE - 5000 + 50000 + 1500
    assert closing == sum(r.amount for r in rows)  # nothing was posted after the month

    assert (document.kind, document.period, document.version) == (
        DocumentKind.act,
        f"{m2:%Y-%m}",
        1,
    )
    assert document.title == f"Акт за {_RU_MONTHS[m2.month]} {m2.year}"
    text = pdf_text(await _read(settings, document))
    assert NAME in text
    assert "Д-12345" in text
    assert "Акт оказанных услуг" in text
    assert f"Итого оказано услуг {ru(services_total)}" in text
    assert ru(opening) in text
    assert ru(-services_total) in text  # "charged for services"
    assert ru(sum(r.amount for r in month_rows) + services_total) in text  # payments and other
    assert ru(closing) in text
    assert "Доступ в интернет по тарифу «Дом 300»" in text
    assert "Смена тарифа" in text


_RU_MONTHS = {
    1: "январь",
    2: "февраль",
    3: "март",
    4: "апрель",
    5: "май",
    6: "июнь",
    7: "июль",
    8: "август",
    9: "сентябрь",
    10: "октябрь",
    11: "ноябрь",
    12: "декабрь",
}


async def test_act_of_the_earlier_month_holds_only_its_own_rows(session, doc_settings):
    settings = doc_settings
    customer, _, subscription = await _ivanov(session, settings)
    m1, _ = await _two_months(session, settings, customer, subscription)

    document = await generate.generate_monthly_act(session, settings, customer.id, m1)

    text = pdf_text(await _read(settings, document))
    assert f"Итого оказано услуг {ru(FEE)}" in text
    assert ru(100000 - FEE) in text  # closing
    assert "Смена тарифа" not in text
    assert document.period == f"{m1:%Y-%m}"


async def test_act_lines_group_the_months_charges_with_day_counts(session, doc_settings):
    settings = doc_settings
    customer, _, subscription = await _ivanov(session, settings)
    _, m2 = await _two_months(session, settings, customer, subscription)
    month_rows = [r for r in await _rows(session, customer) if _in_month(settings, r, m2)]

    lines = generate.act_lines(settings, month_rows, "ru")

    tariff_line, fee_line = lines
    assert tariff_line.label == "Доступ в интернет по тарифу «Дом 300»"
    # The first day's charge is posted at 00:05 Moscow time, i.e. the evening before in UTC:
    # it still belongs to this month.
    assert (tariff_line.quantity, tariff_line.unit) == (rules.days_in_month(m2), "day")
    assert (tariff_line.first, tariff_line.last) == (m2, rules.month_end(m2))
    assert tariff_line.amount == FEE
    assert (fee_line.label, fee_line.quantity, fee_line.unit, fee_line.amount) == (
        "Смена тарифа",
        1,
        "piece",
        5000,
    )


async def test_act_counts_a_whole_month_charge_as_one_month(session, doc_settings):
    settings = doc_settings
    customer, _, subscription = await _ivanov(session, settings)
    m2 = months_back(settings, 1)
    await post_at(
        session,
        customer,
        -FEE,
        local_moment(settings, m2),
        reason=TransactionReason.charge,
        reference_kind="charge",
        reference=f"sub:{subscription.id}:{m2:%Y-%m}",
        description="Дом 300",
    )

    rows = await _rows(session, customer)
    [line] = generate.act_lines(settings, rows, "ru")

    assert (line.quantity, line.unit, line.amount) == (1, "month", FEE)


async def test_act_in_english(session, doc_settings):
    settings = doc_settings
    customer, _, subscription = await _ivanov(session, settings, locale="en")
    _, m2 = await _two_months(session, settings, customer, subscription)

    document = await generate.generate_monthly_act(session, settings, customer.id, m2)

    text = pdf_text(await _read(settings, document))
    assert "Act of services rendered" in text
    assert f"Total services rendered {en(FEE + 5000)}" in text
    assert "Opening balance" in text
    assert NAME in text  # the name stays as written
    assert "Итого" not in text
    assert "Акт" not in text
    assert document.title.startswith("Act for ")


async def test_act_without_services_says_so(session, doc_settings):
    settings = doc_settings
    customer, _, _ = await _ivanov(session, settings)

    document = await generate.generate_monthly_act(
        session, settings, customer.id, months_back(settings, 1)
    )

    text = pdf_text(await _read(settings, document))
    assert "За этот период услуги не начислялись." in text
    assert ru(0) in text


async def test_identical_regeneration_returns_the_stored_document(session, doc_settings):
    settings = doc_settings
    customer, _, subscription = await _ivanov(session, settings)
    _, m2 = await _two_months(session, settings, customer, subscription)

    first = await generate.monthly_act(session, settings, customer.id, m2)
    again = await generate.monthly_act(session, settings, customer.id, m2)

    assert first.created
    assert not again.created
    assert again.document.id == first.document.id
    assert again.document.sha256 == first.document.sha256
    assert await _count(session, Document) == 1
    assert await _count(session, AuditEntry, AuditEntry.action == "document.generate") == 1
    [event] = (
        await session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "document.ready"))
    ).all()
    assert event.payload == {
        "customer_id": customer.id,
        "document_id": first.document.id,
        "kind": "act",
    }


async def test_a_new_ledger_row_gives_a_new_act_version(session, doc_settings):
    settings = doc_settings
    customer, _, subscription = await _ivanov(session, settings)
    _, m2 = await _two_months(session, settings, customer, subscription)
    v1 = await generate.generate_monthly_act(session, settings, customer.id, m2)

    await post_at(
        session,
        customer,
        -2500,
        local_moment(settings, m2 + timedelta(days=20), 9),
        reason=TransactionReason.fee,
        reference_kind="test",
        reference="fee-late",
        description="Выезд мастера",
    )
    v2 = await generate.generate_monthly_act(session, settings, customer.id, m2)

    assert (v1.version, v2.version) == (1, 2)
    assert v2.sha256 != v1.sha256
    text = pdf_text(await _read(settings, v2))
    assert f"Итого оказано услуг {ru(FEE + 5000 + 2500)}" in text
    assert "Выезд мастера" in text
    # The earlier version stays as it was.
    assert f"Итого оказано услуг {ru(FEE + 5000)}" in pdf_text(await _read(settings, v1))


async def test_a_damaged_file_is_stored_again(session, doc_settings):
    settings = doc_settings
    customer, _, _ = await _ivanov(session, settings)
    first = await generate.generate_contract(session, settings, customer.id)
    (settings.documents_dir / first.storage_key).unlink()

    second = await generate.generate_contract(session, settings, customer.id)

    assert second.id != first.id
    assert second.version == 2
    assert second.sha256 == first.sha256
    assert NAME in pdf_text(await _read(settings, second))


async def test_act_for_a_month_not_begun_is_refused(session, doc_settings):
    settings = doc_settings
    customer, _, _ = await _ivanov(session, settings)
    next_month = rules.next_month_start(business_today(settings))

    with pytest.raises(generate.InvalidPeriod):
        await generate.generate_monthly_act(session, settings, customer.id, next_month)
    assert await _count(session, Document) == 0


async def test_act_of_the_current_month_covers_the_days_so_far(session, doc_settings):
    settings = doc_settings
    customer, _, _ = await _ivanov(session, settings)
    today = business_today(settings)

    document = await generate.generate_monthly_act(session, settings, customer.id, today)

    assert document.period == f"{today:%Y-%m}"
    text = pdf_text(await _read(settings, document))
    assert f"от {today:%d.%m.%Y}" in text


# --- contract -------------------------------------------------------------------------------


async def test_contract(session, doc_settings):
    settings = doc_settings
    customer, _, _ = await _ivanov(session, settings, phone="+79161234567")

    document = await generate.generate_contract(session, settings, customer.id)

    assert (document.kind, document.period, document.title) == (
        DocumentKind.contract,
        "",
        "Договор № Д-12345",
    )
    text = pdf_text(await _read(settings, document))
    for expected in (
        NAME,
        "Договор № Д-12345",
        "Москва, ул. Ленина, д. 5, кв. 12",
        "+79161234567",
        "Дом 300",
        "до 300 Мбит/с к абоненту, до 100 Мбит/с от абонента",
        f"{ru(FEE)} в месяц",
        "Основные условия",
        settings.app_name,
    ):
        assert expected in text, expected


async def test_contract_in_english_with_a_daily_tariff(session, doc_settings):
    settings = doc_settings
    _, customer = await make_customer(
        session, full_name=NAME, contract_number="Д-777", locale="en", with_user=False
    )
    tariff = await make_tariff(
        session, name="Day Pass", price=2500, billing_period=BillingPeriod.daily
    )
    await make_subscription(session, customer, tariff)

    document = await generate.generate_contract(session, settings, customer.id)

    text = pdf_text(await _read(settings, document))
    assert "Internet access service contract No. Д-777" in text
    assert f"{en(2500)} per day" in text
    assert NAME in text
    assert "Договор" not in text


async def test_contract_follows_the_tariff(session, doc_settings):
    settings = doc_settings
    customer, _, subscription = await _ivanov(session, settings)
    v1 = await generate.generate_contract(session, settings, customer.id)
    assert "Дом 300" in pdf_text(await _read(settings, v1))
    faster = await make_tariff(session, name="Дом 500", price=75000, speed_down_mbps=500)
    subscription.tariff_id = faster.id
    await session.flush()

    v2 = await generate.generate_contract(session, settings, customer.id)

    assert v2.version == 2
    text = pdf_text(await _read(settings, v2))
    assert "Дом 500" in text
    assert ru(75000) in text


async def test_unknown_customer(session, doc_settings):
    with pytest.raises(CustomerNotFound):
        await generate.generate_contract(session, doc_settings, 999999)


# --- invoice documents ----------------------------------------------------------------------


async def test_invoice_document_lines_add_up_to_the_invoice(session, doc_settings):
    settings = doc_settings
    customer, _, _ = await _ivanov(session, settings)
    m = months_back(settings, 1)
    invoice = await make_invoice(
        session,
        customer,
        number="INV-TEST-1",
        amount=FEE + 5000,
        period_start=m,
        period_end=rules.month_end(m),
        issued_on=m,
        due_date=m + timedelta(days=10),
    )

    document = await generate.generate_invoice_document(session, settings, invoice.id)

    assert (document.kind, document.period) == (DocumentKind.invoice, "INV-TEST-1")
    text = pdf_text(await _read(settings, document))
    assert "Счёт на оплату № INV-TEST-1" in text
    assert NAME in text
    assert "Д-12345" in text
    assert ru(FEE) in text  # the tariff for the month
    assert ru(5000) in text  # the rest: other services and fees
    assert "Прочие услуги и сборы" in text
    assert f"Итого к оплате {ru(FEE + 5000)}" in text
    assert f"Оплатить до {m + timedelta(days=10):%d.%m.%Y}" in text
    assert settings.public_url in text


async def test_invoice_document_when_lines_cannot_be_reconstructed(session, doc_settings):
    settings = doc_settings
    customer, _, _ = await _ivanov(session, settings)
    m = months_back(settings, 1)
    invoice = await make_invoice(
        session, customer, amount=30000, period_start=m, period_end=rules.month_end(m)
    )

    document = await generate.generate_invoice_document(session, settings, invoice.id)

    text = pdf_text(await _read(settings, document))
    assert "Услуги связи" in text
    assert f"Итого к оплате {ru(30000)}" in text
    assert ru(FEE) not in text


async def test_invoice_document_in_english(session, doc_settings):
    settings = doc_settings
    customer, _, _ = await _ivanov(session, settings, locale="en")
    m = months_back(settings, 1)
    invoice = await make_invoice(
        session, customer, amount=FEE, period_start=m, period_end=rules.month_end(m)
    )

    document = await generate.generate_invoice_document(session, settings, invoice.id)

    text = pdf_text(await _read(settings, document))
    assert f"Invoice No. {invoice.number}" in text
    assert f"Total due {en(FEE)}" in text
    assert "How to pay" in text
    assert "Счёт" not in text


async def test_unknown_invoice(session, doc_settings):
    with pytest.raises(generate.InvoiceNotFound):
        await generate.generate_invoice_document(session, doc_settings, 424242)


# --- on-demand invoices ---------------------------------------------------------------------


def _expected_monthly(fee: int, first: date, last: date) -> int:
    """Daily shares by hand: day d of an n-day month costs fee*d//n - fee*(d-1)//n."""
    total = 0
    day = first
    while day <= last:
        n = rules.days_in_month(day)
        total += fee * day.day // n - fee * (day.day - 1) // n
        day += timedelta(days=1)
    return total


async def test_invoice_for_a_period(session, doc_settings):
    settings = doc_settings
    customer, _, _ = await _ivanov(session, settings)
    m = months_back(settings, 1)
    start, end = m + timedelta(days=9), m + timedelta(days=19)

    result = await generate.invoice_for_period(session, settings, customer.id, start, end, None)

    invoice = result.invoice
    assert result.created
    assert invoice.amount == _expected_monthly(FEE, start, end)
    assert invoice.number == f"INV-{start:%Y%m%d}-{customer.id:06d}-1"
    assert invoice.status is InvoiceStatus.pending
    assert (invoice.period_start, invoice.period_end) == (start, end)
    today = business_today(settings)
    assert invoice.issued_on == today
    assert invoice.due_date == today + timedelta(days=settings.invoice_due_days)
    assert (result.document.kind, result.document.period) == (DocumentKind.invoice, invoice.number)
    text = pdf_text(await _read(settings, result.document))
    assert f"Итого к оплате {ru(invoice.amount)}" in text
    assert "11" in text  # days
    assert await _count(session, AuditEntry, AuditEntry.action == "invoice.create") == 1
    kinds = set((await session.scalars(select(OutboxMessage.kind))).all())
    assert {"invoice.issued", "document.ready"} <= kinds


async def test_invoice_for_the_same_period_again_is_the_same_invoice(session, doc_settings):
    settings = doc_settings
    customer, _, _ = await _ivanov(session, settings)
    m = months_back(settings, 1)
    start, end = m, m + timedelta(days=4)
    first = await generate.invoice_for_period(session, settings, customer.id, start, end, None)

    again = await generate.invoice_for_period(session, settings, customer.id, start, end, None)
    longer = await generate.invoice_for_period(
        session, settings, customer.id, start, end + timedelta(days=1), None
    )

    assert not again.created
    assert again.invoice.id == first.invoice.id
    assert again.document.id == first.document.id
    assert longer.created
    assert longer.invoice.number.endswith("-2")
    assert await _count(session, Invoice) == 2


async def test_invoice_for_a_period_of_a_daily_tariff(session, doc_settings):
    settings = doc_settings
    _, customer = await make_customer(session, full_name=NAME, with_user=False)
    tariff = await make_tariff(session, price=2000, billing_period=BillingPeriod.daily)
    await make_subscription(session, customer, tariff, started_on=months_back(settings, 2))
    m = months_back(settings, 1)

    invoice = await generate.create_invoice_for_period(
        session, settings, customer.id, m, m + timedelta(days=10), None
    )

    assert invoice.amount == 2000 * 11


async def test_invoice_for_a_period_starts_with_the_subscription(session, doc_settings):
    settings = doc_settings
    _, customer = await make_customer(session, with_user=False)
    tariff = await make_tariff(session, price=2000, billing_period=BillingPeriod.daily)
    m = months_back(settings, 1)
    await make_subscription(session, customer, tariff, started_on=m + timedelta(days=5))

    invoice = await generate.create_invoice_for_period(
        session, settings, customer.id, m, m + timedelta(days=9), None
    )

    assert invoice.amount == 2000 * 5


@pytest.mark.parametrize(
    ("start_offset", "end_offset"),
    [
        (5, 4),  # start after end
        (-400, 0),  # more than 366 days
        (0, 70),  # ends after this month
    ],
)
async def test_invoice_for_a_bad_period_is_refused(session, doc_settings, start_offset, end_offset):
    settings = doc_settings
    customer, _, _ = await _ivanov(session, settings)
    base = rules.month_start(business_today(settings))

    with pytest.raises(generate.InvalidPeriod):
        await generate.invoice_for_period(
            session,
            settings,
            customer.id,
            base + timedelta(days=start_offset),
            base + timedelta(days=end_offset),
            None,
        )
    assert await _count(session, Invoice) == 0


async def test_nothing_to_invoice_without_a_subscription(session, doc_settings):
    _, customer = await make_customer(session, with_user=False)
    m = months_back(doc_settings, 1)

    with pytest.raises(generate.NothingToInvoice):
        await generate.invoice_for_period(session, doc_settings, customer.id, m, m, None)
    assert await _count(session, Invoice) == 0


# --- the billing run's documents ------------------------------------------------------------


async def test_period_documents_are_generated_once(session, doc_settings, doc_resources):
    settings = doc_settings
    day = months_back(settings, 0)
    previous = months_back(settings, 1)
    active, _, active_sub = await _ivanov(session, settings)
    await post_daily_charges(
        session,
        settings,
        active,
        subscription_id=active_sub.id,
        tariff_name="Дом 300",
        monthly_fee=FEE,
        first=previous,
        last=rules.month_end(previous),
    )
    tariff = await make_tariff(session)
    _, blocked = await make_customer(session, with_user=False)
    await make_subscription(
        session, blocked, tariff, status=SubscriptionStatus.blocked, started_on=previous
    )
    _, suspended = await make_customer(session, with_user=False)
    await make_subscription(
        session, suspended, tariff, status=SubscriptionStatus.suspended, started_on=previous
    )
    _, newcomer = await make_customer(session, with_user=False)  # started this month
    await make_subscription(session, newcomer, tariff, started_on=day)
    _, former = await make_customer(session, with_user=False)  # ended before last month
    await make_subscription(
        session,
        former,
        tariff,
        started_on=previous - timedelta(days=90),
        ended_on=previous - timedelta(days=1),
    )
    await make_customer(session, with_user=False)  # no subscription at all
    issued = [
        await make_invoice(session, active, amount=FEE, issued_on=day),
        await make_invoice(session, blocked, amount=50000, issued_on=day),
    ]
    await make_invoice(session, active, amount=FEE, issued_on=previous)  # another day
    # One act already exists (a run that stopped halfway): it is not made again.
    await generate.generate_monthly_act(session, settings, blocked.id, previous)
    await session.commit()

    created = await generate.generate_period_documents(doc_resources, day)
    again = await generate.generate_period_documents(doc_resources, day)

    assert created == 4  # acts of `active` and `suspended`, two invoices
    assert again == 0
    documents = (await session.scalars(select(Document).order_by(Document.id))).all()
    acts = {(d.customer_id, d.period, d.version) for d in documents if d.kind is DocumentKind.act}
    period = f"{previous:%Y-%m}"
    assert acts == {(active.id, period, 1), (blocked.id, period, 1), (suspended.id, period, 1)}
    invoices = {(d.customer_id, d.period) for d in documents if d.kind is DocumentKind.invoice}
    assert invoices == {(i.customer_id, i.number) for i in issued}
    [active_act] = [
        d for d in documents if d.kind is DocumentKind.act and d.customer_id == active.id
    ]
    assert f"Итого оказано услуг {ru(FEE)}" in pdf_text(await _read(settings, active_act))


async def test_period_documents_skip_a_failing_customer_and_resume(
    session, doc_settings, doc_resources, monkeypatch
):
    settings = doc_settings
    day = months_back(settings, 0)
    tariff = await make_tariff(session)
    customers: list[Customer] = []
    for _ in range(3):
        _, customer = await make_customer(session, with_user=False)
        await make_subscription(session, customer, tariff, started_on=months_back(settings, 2))
        customers.append(customer)
    await session.commit()
    broken = customers[1].id
    real_act = generate.monthly_act

    async def flaky_act(session, settings, customer_id, month, **kw):
        if customer_id == broken:
            raise RuntimeError("cannot render")
        return await real_act(session, settings, customer_id, month, **kw)

    monkeypatch.setattr(generate, "monthly_act", flaky_act)
    assert await generate.generate_period_documents(doc_resources, day) == 2
    monkeypatch.setattr(generate, "monthly_act", real_act)
    assert await generate.generate_period_documents(doc_resources, day) == 1

    owners = (await session.scalars(select(Document.customer_id))).all()
    assert sorted(owners) == sorted(c.id for c in customers)


# --- API: POST /documents/generate ----------------------------------------------------------


async def test_customer_generates_own_contract(client, as_customer, doc_settings):
    customer, headers = await as_customer(full_name=NAME)

    r = await client.post(f"{API}/documents/generate", json={"kind": "contract"}, headers=headers)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["kind"], body["customer_id"], body["version"]) == ("contract", customer.id, 1)

    again = await client.post(
        f"{API}/documents/generate", json={"kind": "contract"}, headers=headers
    )
    assert again.status_code == 200
    assert again.json()["id"] == body["id"]

    download = await client.get(f"{API}/documents/{body['id']}/download", headers=headers)
    assert download.status_code == 200
    assert NAME in pdf_text(download.content)


async def test_customer_generates_an_act_and_own_invoice(
    client, session, as_customer, settings, doc_settings
):
    customer, headers = await as_customer(full_name=NAME)
    invoice = await make_invoice(session, customer, amount=12345)
    await session.commit()
    period = f"{months_back(settings, 1):%Y-%m}"

    act = await client.post(
        f"{API}/documents/generate", json={"kind": "act", "period": period}, headers=headers
    )
    inv = await client.post(
        f"{API}/documents/generate",
        json={"kind": "invoice", "invoice_id": invoice.id},
        headers=headers,
    )

    assert act.status_code == 201, act.text
    assert (act.json()["kind"], act.json()["period"]) == ("act", period)
    assert inv.status_code == 201, inv.text
    assert inv.json()["period"] == invoice.number
    download = await client.get(f"{API}/documents/{inv.json()['id']}/download", headers=headers)
    assert f"Итого к оплате {ru(12345)}" in pdf_text(download.content)


async def test_customer_cannot_generate_from_another_customers_data(
    client, session, as_customer, doc_settings
):
    _, headers = await as_customer()
    other, _ = await as_customer()
    foreign = await make_invoice(session, other)
    await session.commit()

    foreign_invoice = await client.post(
        f"{API}/documents/generate",
        json={"kind": "invoice", "invoice_id": foreign.id},
        headers=headers,
    )
    missing_invoice = await client.post(
        f"{API}/documents/generate",
        json={"kind": "invoice", "invoice_id": foreign.id + 1000},
        headers=headers,
    )
    foreign_customer = await client.post(
        f"{API}/documents/generate",
        params={"customer_id": other.id},
        json={"kind": "contract"},
        headers=headers,
    )

    assert foreign_invoice.status_code == 404
    assert foreign_invoice.json() == missing_invoice.json()
    assert foreign_customer.status_code == 404
    assert await _count(session, Document) == 0


async def test_staff_generate_for_a_named_customer(
    client, session, as_customer, as_staff, doc_settings
):
    customer, _ = await as_customer(full_name=NAME)
    invoice = await make_invoice(session, customer)
    other, _ = await as_customer()
    agent, headers = await as_staff()
    await session.commit()

    r = await client.post(
        f"{API}/documents/generate",
        params={"customer_id": customer.id},
        json={"kind": "invoice", "invoice_id": invoice.id},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    [entry] = (
        await session.scalars(select(AuditEntry).where(AuditEntry.action == "document.generate"))
    ).all()
    assert entry.actor_user_id == agent.id

    # The invoice must belong to the customer named.
    mismatch = await client.post(
        f"{API}/documents/generate",
        params={"customer_id": other.id},
        json={"kind": "invoice", "invoice_id": invoice.id},
        headers=headers,
    )
    assert mismatch.status_code == 404
    unnamed = await client.post(
        f"{API}/documents/generate", json={"kind": "contract"}, headers=headers
    )
    assert unnamed.status_code == 422
    unknown = await client.post(
        f"{API}/documents/generate",
        params={"customer_id": 987654},
        json={"kind": "contract"},
        headers=headers,
    )
    assert unknown.status_code == 404


async def test_staff_without_2fa_and_anonymous_are_refused(client, session, as_customer, as_staff):
    customer, _ = await as_customer()
    _, headers = await as_staff(mfa=False)

    r = await client.post(
        f"{API}/documents/generate",
        params={"customer_id": customer.id},
        json={"kind": "contract"},
        headers=headers,
    )
    assert r.status_code == 403
    assert r.json()["error"] == "mfa_required"
    anonymous = await client.post(f"{API}/documents/generate", json={"kind": "contract"})
    assert anonymous.status_code == 401
    assert await _count(session, Document) == 0


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "act"},
        {"kind": "act", "period": "2026-13"},
        {"kind": "act", "period": "2026-1"},
        {"kind": "act", "period": "26-01"},
        {"kind": "act", "period": "2026-01-01"},
        {"kind": "act", "period": "1999-12"},
        {"kind": "act", "period": 202601},
        {"kind": "act", "period": "2026-01", "invoice_id": 1},
        {"kind": "contract", "period": "2026-01"},
        {"kind": "contract", "invoice_id": 1},
        {"kind": "invoice"},
        {"kind": "invoice", "invoice_id": 0},
        {"kind": "invoice", "invoice_id": "abc"},
        {"kind": "invoice", "invoice_id": 2**63},
        {"kind": "receipt"},
        {"kind": "contract", "customer_id": 1},
        {},
    ],
)
async def test_bad_generate_requests(client, session, as_customer, body):
    _, headers = await as_customer()

    r = await client.post(f"{API}/documents/generate", json=body, headers=headers)

    assert r.status_code == 422, r.text
    assert r.json()["error"] == "validation_error"
    assert r.json()["detail"]
    assert await _count(session, Document) == 0


async def test_act_for_a_future_month_is_422(client, as_customer, settings):
    _, headers = await as_customer()
    future = rules.next_month_start(business_today(settings))

    r = await client.post(
        f"{API}/documents/generate",
        json={"kind": "act", "period": f"{future:%Y-%m}"},
        headers=headers,
    )

    assert r.status_code == 422
    assert r.json()["error"] == "invalid_period"


# --- API: POST /invoices/on-demand ----------------------------------------------------------


async def _subscribed_customer(session, settings, as_customer, **overrides):
    customer, headers = await as_customer(**overrides)
    tariff = await make_tariff(session, price=FEE)
    await make_subscription(session, customer, tariff, started_on=months_back(settings, 3))
    return customer, headers


async def test_customer_orders_an_invoice(client, session, settings, as_customer, doc_settings):
    customer, headers = await _subscribed_customer(session, settings, as_customer, full_name=NAME)
    await session.commit()
    m = months_back(settings, 1)
    body = {"period_start": m.isoformat(), "period_end": rules.month_end(m).isoformat()}

    r = await client.post(f"{API}/invoices/on-demand", json=body, headers=headers)

    assert r.status_code == 201, r.text
    out = r.json()
    assert out["amount"] == FEE
    assert out["status"] == "pending"
    assert out["customer_id"] == customer.id
    assert re.fullmatch(rf"INV-{m:%Y%m%d}-{customer.id:06d}-1", out["number"])
    download = await client.get(f"{API}/documents/{out['document_id']}/download", headers=headers)
    assert download.status_code == 200
    text = pdf_text(download.content)
    assert NAME in text
    assert f"Итого к оплате {ru(FEE)}" in text

    again = await client.post(f"{API}/invoices/on-demand", json=body, headers=headers)
    assert again.status_code == 200
    assert (again.json()["id"], again.json()["document_id"]) == (out["id"], out["document_id"])


async def test_on_demand_invoice_object_checks(
    client, session, settings, as_customer, as_staff, doc_settings
):
    _, headers = await _subscribed_customer(session, settings, as_customer)
    other, _ = await _subscribed_customer(session, settings, as_customer)
    agent, staff = await as_staff()
    await session.commit()
    m = months_back(settings, 1)
    body = {"period_start": m.isoformat(), "period_end": m.isoformat()}

    foreign = await client.post(
        f"{API}/invoices/on-demand", json={**body, "customer_id": other.id}, headers=headers
    )
    assert foreign.status_code == 404
    assert await _count(session, Invoice) == 0

    unnamed = await client.post(f"{API}/invoices/on-demand", json=body, headers=staff)
    assert unnamed.status_code == 422
    by_staff = await client.post(
        f"{API}/invoices/on-demand", json={**body, "customer_id": other.id}, headers=staff
    )
    assert by_staff.status_code == 201, by_staff.text
    assert by_staff.json()["customer_id"] == other.id
    [entry] = (
        await session.scalars(select(AuditEntry).where(AuditEntry.action == "invoice.create"))
    ).all()
    assert entry.actor_user_id == agent.id


async def test_on_demand_invoice_without_a_subscription_is_409(client, as_customer, settings):
    _, headers = await as_customer()
    m = months_back(settings, 1)

    r = await client.post(
        f"{API}/invoices/on-demand",
        json={"period_start": m.isoformat(), "period_end": m.isoformat()},
        headers=headers,
    )

    assert r.status_code == 409
    assert r.json()["error"] == "nothing_to_invoice"


def _bad_periods(today: date) -> list[tuple[object, object, dict[str, object]]]:
    month_end = rules.month_end(today)
    return [
        (today, today - timedelta(days=1), {}),
        (today - timedelta(days=400), today, {}),
        (today, month_end + timedelta(days=1), {}),
        ("2026-02-30", "2026-03-01", {}),
        ("yesterday", "today", {}),
        ("1999-01-01", "1999-01-31", {}),
        (None, today, {}),
        (today, today, {"amount": 100}),
        (today, today, {"customer_id": 0}),
    ]


@pytest.mark.parametrize("case", range(9))
async def test_bad_on_demand_invoice_requests(client, session, settings, as_customer, case):
    _, headers = await _subscribed_customer(session, settings, as_customer)
    await session.commit()
    start, end, extra = _bad_periods(business_today(settings))[case]
    body = {"period_start": str(start), "period_end": str(end), **extra}
    if start is None:
        del body["period_start"]

    r = await client.post(f"{API}/invoices/on-demand", json=body, headers=headers)

    assert r.status_code == 422, r.text
    assert r.json()["error"] in ("validation_error", "invalid_period")
    assert r.json()["detail"]
    assert await _count(session, Invoice) == 0


# --- locales --------------------------------------------------------------------------------


def _messages(lang: str) -> set[str]:
    from fluent.syntax import FluentParser, ast

    text = (LOCALES_DIR / lang / "documents.ftl").read_text(encoding="utf-8")
    resource = FluentParser().parse(text)
    assert [e for e in resource.body if isinstance(e, ast.Junk)] == []
    return {e.id.name for e in resource.body if isinstance(e, ast.Message)}


def test_both_locales_have_every_document_text():
    ru_keys, en_keys = _messages("ru"), _messages("en")
    assert ru_keys == en_keys
    source = Path(generate.__file__).read_text(encoding="utf-8")
    used = set(re.findall(r'"(documents-[a-z0-9-]+)"', source))
    used |= {f"documents-unit-{unit}" for unit in ("day", "month", "piece")}
    assert len(used) > 50
    assert used <= ru_keys, used - ru_keys

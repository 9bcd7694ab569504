"""Customer documents built from the database: the contract, an invoice's PDF and the monthly
act of services rendered (акт оказанных услуг); and on-demand invoices for a period.

Every document is rendered deterministically (backend.documents.pdf), so generating it again
from unchanged data gives the same SHA-256: the stored document is returned instead of a new
version. Changed data (a new ledger row, another tariff) gives a new version. Text comes from
locales/<lang>/documents.ftl in the customer's locale.

Month boundaries are local to settings.billing_timezone; a transaction belongs to the month in
which it was posted (its `created_at`), so an act's closing balance always equals its opening
balance plus the month's ledger rows."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend import outbox
from backend.audit import service as audit
from backend.audit.service import Actor
from backend.billing import repository as billing_repository
from backend.billing import rules
from backend.billing.errors import InvoiceNotFound as InvoiceNotFound
from backend.clock import business_today
from backend.config import Settings
from backend.customers import repository as customers_repository
from backend.customers.errors import CustomerNotFound
from backend.db import savepoint, unit_of_work
from backend.documents import pdf, repository
from backend.documents.errors import DocumentCorrupted, StorageUnavailable
from backend.documents.errors import InvalidPeriod as InvalidPeriod
from backend.documents.errors import NothingToInvoice as NothingToInvoice
from backend.documents.storage import DocumentStorage
from backend.errors import Conflict, ValidationFailed
from backend.i18n import catalog, t
from backend.logging import get_logger
from backend.models import (
    BillingPeriod,
    Customer,
    Document,
    DocumentKind,
    Invoice,
    InvoiceStatus,
    Subscription,
    Tariff,
    Transaction,
    TransactionReason,
)
from backend.state import Resources

log = get_logger("documents.generate")

# An on-demand invoice covers at most a year (a leap year's 366 days).
MAX_INVOICE_DAYS = 366
# Customers (or invoices) per transaction in the billing run's document pass.
PERIOD_BATCH = 100


# --- the provider ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderDetails:
    """The provider's requisites on every document. Demo values: each field can be set as the
    setting `provider_<field>` (PROVIDER_INN, ...) once Settings carries them; an empty
    legal name prints settings.app_name."""

    legal_name: str = ""
    inn: str = "7700000000"
    kpp: str = "770001001"
    ogrn: str = "1027700000000"
    address: str = "119000, г. Москва, ул. Примерная, д. 1"
    bank: str = "АО «Демо-Банк»"
    bik: str = "044525000"
    account: str = "40702810000000000000"
    correspondent_account: str = "30101810000000000000"
    phone: str = "+7 800 000-00-00"
    email: str = "billing@example.com"
    signatory: str = ""  # who signs for the provider, e.g. "Генеральный директор А. А. Петров"


def provider_details(settings: Settings) -> ProviderDetails:
    defaults = ProviderDetails()
    values: dict[str, str] = {}
    for f in fields(ProviderDetails):
        configured = getattr(settings, f"provider_{f.name}", None)
        values[f.name] = str(configured) if configured else getattr(defaults, f.name)
    if not values["legal_name"]:
        values["legal_name"] = settings.app_name
    return ProviderDetails(**values)


# --- results --------------------------------------------------------------------------------


class Generated(NamedTuple):
    document: Document
    created: bool  # False: the identical document already existed and is returned


class OnDemandInvoice(NamedTuple):
    invoice: Invoice
    document: Document
    created: bool  # False: an identical pending invoice already existed and is returned


@dataclass(frozen=True)
class Line:
    """One row of an invoice or an act."""

    label: str
    first: date | None
    last: date | None
    quantity: int
    unit: str  # "day" | "month" | "piece"
    amount: int  # minor units, positive = owed by the customer


# --- helpers --------------------------------------------------------------------------------


async def _customer(session: AsyncSession, customer_id: int) -> Customer:
    customer = await customers_repository.customer_by_id(session, customer_id)
    if customer is None:
        raise CustomerNotFound()
    return customer


def _locale(customer: Customer) -> str:
    return catalog().locale_for(customer.locale)


def _zone(settings: Settings) -> ZoneInfo:
    return ZoneInfo(settings.billing_timezone)


def _local_midnight(settings: Settings, day: date) -> datetime:
    return datetime.combine(day, time(0), _zone(settings)).astimezone(UTC)


def _local_date(settings: Settings, moment: datetime) -> date:
    return moment.astimezone(_zone(settings)).date()


def _money(amount: int, currency: str, locale: str) -> str:
    return pdf.format_money(amount, currency, locale)


def _date(day: date, locale: str) -> str:
    return pdf.format_date(day, locale)


def _period(first: date | None, last: date | None, locale: str) -> str:
    if first is None or last is None:
        return ""
    if first == last:
        return _date(first, locale)
    return t("documents-period", locale, start=_date(first, locale), end=_date(last, locale))


def _address(customer: Customer, locale: str) -> str:
    address = customer.address or {}
    if address.get("text"):
        return str(address["text"])
    parts = [str(address[k]) for k in ("postcode", "city", "street") if address.get(k)]
    if address.get("building"):
        parts.append(t("documents-address-building", locale, value=str(address["building"])))
    if address.get("apartment"):
        parts.append(t("documents-address-apartment", locale, value=str(address["apartment"])))
    return ", ".join(parts) or t("documents-not-specified", locale)


def _header(settings: Settings, provider: ProviderDetails, locale: str) -> pdf.Header:
    lines = (
        t(
            "documents-provider-tax-ids",
            locale,
            inn=provider.inn,
            kpp=provider.kpp,
            ogrn=provider.ogrn,
        ),
        provider.address,
        t(
            "documents-provider-bank",
            locale,
            account=provider.account,
            bank=provider.bank,
            bik=provider.bik,
            correspondent=provider.correspondent_account,
        ),
        t(
            "documents-provider-contacts",
            locale,
            phone=provider.phone,
            email=provider.email,
            url=settings.public_url,
        ),
    )
    return pdf.Header(name=provider.legal_name, lines=lines)


def _layout(
    settings: Settings,
    provider: ProviderDetails,
    locale: str,
    title: str,
    issued: date,
    blocks: list[pdf.Block],
) -> pdf.PdfDocument:
    """Every document's frame: the provider header, the body, the page footer."""
    return pdf.PdfDocument(
        title=title,
        language=locale,
        issued=issued,
        header=_header(settings, provider, locale),
        blocks=tuple(blocks),
        footer=_footer(title, locale),
        author=provider.legal_name,
    )


def _footer(title: str, locale: str) -> str:
    # The renderer fills in "{page}" and "{pages}" as it lays the pages out.
    return t("documents-footer", locale, title=title, page="{page}", pages="{pages}")


def _customer_fields(customer: Customer, locale: str) -> tuple[tuple[str, str], ...]:
    return (
        (t("documents-label-customer", locale), customer.full_name),
        (t("documents-label-contract", locale), customer.contract_number),
        (t("documents-label-address", locale), _address(customer, locale)),
    )


def _signatures(provider: ProviderDetails, customer: Customer, locale: str) -> pdf.Signatures:
    provider_name = provider.legal_name
    if provider.signatory:
        provider_name = f"{provider.legal_name}\n{provider.signatory}"
    return pdf.Signatures(
        left=(t("documents-signature-provider", locale), provider_name),
        right=(t("documents-signature-customer", locale), customer.full_name),
    )


_LINE_COLUMNS: tuple[tuple[str, float, pdf.Align], ...] = (
    ("documents-col-number", 9.0, "C"),
    ("documents-col-service", 64.0, "L"),
    ("documents-col-period", 42.0, "C"),
    ("documents-col-quantity", 17.0, "R"),
    ("documents-col-unit", 14.0, "C"),
    ("documents-col-amount", 34.0, "R"),
)


def _lines_table(
    lines: Sequence[Line], totals: Sequence[tuple[str, str]], currency: str, locale: str
) -> pdf.Table:
    columns = tuple(pdf.Column(t(key, locale), width, align) for key, width, align in _LINE_COLUMNS)
    rows = tuple(
        (
            str(n),
            line.label,
            _period(line.first, line.last, locale),
            str(line.quantity),
            t(f"documents-unit-{line.unit}", locale),
            _money(line.amount, currency, locale),
        )
        for n, line in enumerate(lines, start=1)
    )
    return pdf.Table(columns=columns, rows=rows, totals=tuple(totals))


def _storage(settings: Settings) -> DocumentStorage:
    return DocumentStorage(settings.documents_dir)


async def _store(
    session: AsyncSession,
    settings: Settings,
    *,
    customer_id: int,
    kind: DocumentKind,
    period: str,
    layout: pdf.PdfDocument,
    actor: Actor | None,
) -> Generated:
    """Render and store as the next version, unless the latest version is byte-identical (and
    its file intact): then that one is returned."""
    # fpdf2 is CPU-bound (~50-100 ms a document): keep the event loop serving meanwhile.
    data = await asyncio.to_thread(pdf.render, layout)
    sha256 = hashlib.sha256(data).hexdigest()
    await repository.lock_name(session, "document", customer_id, kind.value, period)
    storage = _storage(settings)
    latest = await repository.latest_document(session, customer_id, kind, period)
    if latest is not None and latest.sha256 == sha256:
        try:
            await storage.open(latest)
            return Generated(latest, False)
        except DocumentCorrupted:
            # The stored file is gone or altered: storing it again repairs the document.
            log.warning("regenerating a damaged document", document_id=latest.id)
    document = await storage.save(
        session,
        customer_id=customer_id,
        kind=kind,
        period=period,
        data=data,
        title=layout.title[:200],
        actor=actor,
    )
    await audit.record(
        session,
        "document.generate",
        actor,
        "document",
        document.id,
        customer_id=customer_id,
        kind=kind.value,
        period=period,
        version=document.version,
        sha256=sha256,
    )
    await outbox.enqueue(
        session,
        "document.ready",
        {"customer_id": customer_id, "document_id": document.id, "kind": kind.value},
        f"document-ready:{document.id}",
    )
    return Generated(document, True)


# --- contract -------------------------------------------------------------------------------


async def contract(
    session: AsyncSession, settings: Settings, customer_id: int, *, actor: Actor | None = None
) -> Generated:
    customer = await _customer(session, customer_id)
    locale = _locale(customer)
    provider = provider_details(settings)
    issued = _local_date(settings, customer.created_at)
    title = t("documents-contract-title", locale, number=customer.contract_number)

    current = await billing_repository.current_subscription(session, customer_id)
    service: tuple[tuple[str, str], ...]
    if current is None:
        service = (
            (t("documents-contract-tariff", locale), t("documents-contract-no-tariff", locale)),
        )
    else:
        _, tariff = current
        service = (
            (t("documents-contract-tariff", locale), tariff.name),
            (
                t("documents-contract-speed", locale),
                t(
                    "documents-contract-speed-value",
                    locale,
                    down=tariff.speed_down_mbps,
                    up=tariff.speed_up_mbps,
                ),
            ),
            (
                t("documents-contract-price", locale),
                t(
                    "documents-contract-price-value",
                    locale,
                    price=_money(tariff.price, tariff.currency, locale),
                    period=BillingPeriod(tariff.billing_period).value,
                ),
            ),
        )
    contacts = (
        (t("documents-label-phone", locale), customer.phone or "—"),
        (t("documents-label-email", locale), customer.email or "—"),
    )
    terms = [
        t("documents-contract-term-payment", locale, mode=settings.charging_mode),
        t("documents-contract-term-block", locale),
        t("documents-contract-term-options", locale),
        t("documents-contract-term-documents", locale),
        t("documents-contract-term-tariff", locale),
        t("documents-contract-term-end", locale),
    ]
    blocks: list[pdf.Block] = [
        pdf.Title(
            t("documents-contract-heading", locale, number=customer.contract_number),
            t("documents-dated", locale, date=_date(issued, locale)),
        ),
        pdf.Paragraph(
            t(
                "documents-contract-parties",
                locale,
                provider=provider.legal_name,
                customer=customer.full_name,
            )
        ),
        pdf.Section(t("documents-contract-section-customer", locale)),
        pdf.Fields(_customer_fields(customer, locale) + contacts),
        pdf.Section(t("documents-contract-section-service", locale)),
        pdf.Fields(service),
        pdf.Section(t("documents-contract-section-terms", locale)),
        *(pdf.Paragraph(term) for term in terms),
        pdf.Section(t("documents-contract-section-signatures", locale)),
        _signatures(provider, customer, locale),
    ]
    layout = _layout(settings, provider, locale, title, issued, blocks)
    return await _store(
        session,
        settings,
        customer_id=customer_id,
        kind=DocumentKind.contract,
        period="",
        layout=layout,
        actor=actor,
    )


async def generate_contract(
    session: AsyncSession, settings: Settings, customer_id: int, *, actor: Actor | None = None
) -> Document:
    """The customer's contract with their current tariff (a new version when it changed)."""
    return (await contract(session, settings, customer_id, actor=actor)).document


# --- invoices -------------------------------------------------------------------------------


def tariff_lines(
    subscriptions: Sequence[tuple[Subscription, Tariff]], first: date, last: date, locale: str
) -> list[Line]:
    """The tariff fee of each subscription for the days from `first` to `last` (from its start
    when it started later): daily shares of a monthly fee (rules.shares_between), price x days
    for a daily tariff."""
    lines = []
    for subscription, tariff in subscriptions:
        start = max(first, subscription.started_on)
        if start > last:
            continue
        days = (last - start).days + 1
        if BillingPeriod(tariff.billing_period) is BillingPeriod.daily:
            amount = tariff.price * days
        else:
            amount = rules.shares_between(tariff.price, start, last)
        if amount <= 0:
            continue
        lines.append(
            Line(
                label=t("documents-line-tariff", locale, tariff=tariff.name),
                first=start,
                last=last,
                quantity=days,
                unit="day",
                amount=amount,
            )
        )
    return lines


def _invoice_lines(
    invoice: Invoice, subscriptions: Sequence[tuple[Subscription, Tariff]], locale: str
) -> list[Line]:
    """Lines that add up to exactly invoice.amount: the tariff fees for the invoice's period,
    then whatever the invoice holds beyond them (fees) as one line. When the fees cannot be
    reconstructed (the tariff changed since), one line carries the whole amount."""
    first, last = invoice.period_start, invoice.period_end
    lines = []
    if first is not None and last is not None and first <= last:
        lines = tariff_lines(subscriptions, first, last, locale)
    fees = invoice.amount - sum(line.amount for line in lines)
    if lines and fees < 0:
        lines = []
        fees = invoice.amount
    if fees > 0 or not lines:
        label_key = "documents-line-other" if lines else "documents-line-services"
        lines.append(Line(t(label_key, locale), first, last, 1, "piece", fees))
    return lines


async def invoice_document(
    session: AsyncSession,
    settings: Settings,
    invoice_id: int,
    *,
    customer_id: int | None = None,
    actor: Actor | None = None,
) -> Generated:
    """With `customer_id`, only that customer's invoice (anything else is 404)."""
    invoice = await billing_repository.invoice_by_id(session, invoice_id)
    if invoice is None or (customer_id is not None and invoice.customer_id != customer_id):
        raise InvoiceNotFound()
    customer = await _customer(session, invoice.customer_id)
    locale = _locale(customer)
    provider = provider_details(settings)
    subscriptions: list[tuple[Subscription, Tariff]] = []
    if invoice.period_start is not None and invoice.period_end is not None:
        subscriptions = await repository.billable_subscriptions(
            session, customer.id, invoice.period_end
        )
    lines = _invoice_lines(invoice, subscriptions, locale)
    total = _money(invoice.amount, invoice.currency, locale)
    title = t("documents-invoice-title", locale, number=invoice.number)
    details: list[tuple[str, str]] = [
        (t("documents-invoice-payer", locale), customer.full_name),
        (t("documents-label-contract", locale), customer.contract_number),
        (t("documents-label-address", locale), _address(customer, locale)),
    ]
    if invoice.period_start is not None and invoice.period_end is not None:
        details.append(
            (
                t("documents-invoice-period", locale),
                _period(invoice.period_start, invoice.period_end, locale),
            )
        )
    details += [
        (t("documents-invoice-issued", locale), _date(invoice.issued_on, locale)),
        (t("documents-invoice-due", locale), _date(invoice.due_date, locale)),
    ]
    blocks: list[pdf.Block] = [
        pdf.Title(
            t("documents-invoice-heading", locale, number=invoice.number),
            t("documents-dated", locale, date=_date(invoice.issued_on, locale)),
        ),
        pdf.Fields(tuple(details)),
        _lines_table(
            lines,
            [
                (t("documents-total", locale), total),
                (t("documents-vat", locale), "—"),
                (t("documents-invoice-total", locale), total),
            ],
            invoice.currency,
            locale,
        ),
        pdf.Section(t("documents-invoice-how-to-pay-heading", locale)),
        pdf.Paragraph(
            t(
                "documents-invoice-how-to-pay",
                locale,
                url=settings.public_url,
                number=invoice.number,
                contract=customer.contract_number,
            )
        ),
    ]
    layout = _layout(settings, provider, locale, title, invoice.issued_on, blocks)
    return await _store(
        session,
        settings,
        customer_id=customer.id,
        kind=DocumentKind.invoice,
        period=invoice.number,
        layout=layout,
        actor=actor,
    )


async def generate_invoice_document(
    session: AsyncSession, settings: Settings, invoice_id: int, *, actor: Actor | None = None
) -> Document:
    """The PDF of an invoice (any customer's: callers check ownership first)."""
    return (await invoice_document(session, settings, invoice_id, actor=actor)).document


def check_invoice_period(settings: Settings, first: date, last: date) -> None:
    if first > last:
        raise InvalidPeriod("period_start must not be after period_end")
    if (last - first).days + 1 > MAX_INVOICE_DAYS:
        raise InvalidPeriod(f"the period must not exceed {MAX_INVOICE_DAYS} days")
    if last > rules.month_end(business_today(settings)):
        raise InvalidPeriod("the period must not end after the current month")


async def invoice_for_period(
    session: AsyncSession,
    settings: Settings,
    customer_id: int,
    period_start: date,
    period_end: date,
    actor: Actor | None,
) -> OnDemandInvoice:
    check_invoice_period(settings, period_start, period_end)
    customer = await _customer(session, customer_id)
    locale = _locale(customer)
    await repository.lock_name(session, "invoice", customer_id)
    subscriptions = await repository.billable_subscriptions(session, customer_id, period_end)
    amount = sum(
        line.amount for line in tariff_lines(subscriptions, period_start, period_end, locale)
    )
    if amount <= 0:
        raise NothingToInvoice()
    # Asking twice for the same period (a double tap, a retry) gets the same unpaid invoice.
    existing = await repository.pending_invoice_for(
        session, customer_id, period_start, period_end, amount
    )
    if existing is not None:
        generated = await invoice_document(session, settings, existing.id, actor=actor)
        return OnDemandInvoice(existing, generated.document, False)

    currency = await repository.account_currency(session, customer_id) or settings.currency
    today = business_today(settings)
    prefix = f"INV-{period_start:%Y%m%d}-{customer_id:06d}-"
    n = await repository.invoices_with_prefix(session, prefix)
    for _ in range(5):
        n += 1
        invoice = Invoice(
            number=f"{prefix}{n}",
            customer_id=customer_id,
            amount=amount,
            paid_amount=0,
            currency=currency,
            status=InvoiceStatus.pending,
            period_start=period_start,
            period_end=period_end,
            issued_on=today,
            due_date=today + timedelta(days=settings.invoice_due_days),
        )
        try:
            async with savepoint(session):
                session.add(invoice)
                await session.flush()
        except IntegrityError as exc:
            if "number" not in str(exc):
                raise
            continue
        break
    else:
        raise Conflict("could not allocate an invoice number; try again")

    await audit.record(
        session,
        "invoice.create",
        actor,
        "invoice",
        invoice.id,
        customer_id=customer_id,
        number=invoice.number,
        amount=amount,
        currency=currency,
        period_start=period_start.isoformat(),
        period_end=period_end.isoformat(),
        on_demand=True,
    )
    await outbox.enqueue(
        session,
        "invoice.issued",
        {
            "customer_id": customer_id,
            "invoice_id": invoice.id,
            "number": invoice.number,
            "amount": invoice.amount,
            "currency": invoice.currency,
            "due_date": invoice.due_date.isoformat(),
            "status": invoice.status.value,
        },
        f"invoice-issued:{invoice.id}",
    )
    generated = await invoice_document(session, settings, invoice.id, actor=actor)
    return OnDemandInvoice(invoice, generated.document, True)


async def create_invoice_for_period(
    session: AsyncSession,
    settings: Settings,
    customer_id: int,
    period_start: date,
    period_end: date,
    actor: Actor | None,
) -> Invoice:
    """An on-demand invoice for the tariff fees of the days from `period_start` to `period_end`
    (pending, due in settings.invoice_due_days) together with its PDF."""
    result = await invoice_for_period(
        session, settings, customer_id, period_start, period_end, actor
    )
    return result.invoice


# --- monthly act ----------------------------------------------------------------------------

_DAY_REFERENCE = re.compile(r"^sub:\d+:(\d{4})-(\d{2})-(\d{2})$")
_MONTH_REFERENCE = re.compile(r"^sub:\d+:\d{4}-\d{2}$")


def _service_day(settings: Settings, txn: Transaction) -> date:
    """The day a charge is for: the one in its reference when it names one (a run that ran
    late still charged for its own day), else the local day it was posted."""
    if txn.reference_kind == "charge" and txn.reference:
        match = _DAY_REFERENCE.match(txn.reference)
        if match:
            try:
                return date(*map(int, match.groups()))
            except ValueError:
                pass
    return _local_date(settings, txn.created_at)


def _unit(txn: Transaction) -> str:
    if txn.reason is not TransactionReason.charge:
        return "piece"
    # A charge of the whole monthly fee at once (charging mode period_start) is one month.
    monthly = txn.reference_kind == "charge" and _MONTH_REFERENCE.match(txn.reference or "")
    return "month" if monthly else "day"


@dataclass
class _Group:
    label: str
    unit: str
    days: list[date] = field(default_factory=list)
    amount: int = 0


def act_lines(settings: Settings, transactions: Sequence[Transaction], locale: str) -> list[Line]:
    """The month's services: charge and fee rows (debits) grouped by what they were for, in
    the order they first occur. Each line's amount is minus the sum of its rows."""
    groups: dict[tuple[str, str, str], _Group] = {}
    for txn in transactions:
        if txn.reason not in (TransactionReason.charge, TransactionReason.fee) or txn.amount >= 0:
            continue
        description = (txn.description or "").strip()
        if txn.reason is TransactionReason.charge:
            label = (
                t("documents-line-tariff", locale, tariff=description)
                if description
                else t("documents-line-internet", locale)
            )
        else:
            label = description or t("documents-line-fee", locale)
        unit = _unit(txn)
        group = groups.setdefault((txn.reason.value, label, unit), _Group(label, unit))
        group.days.append(_service_day(settings, txn))
        group.amount -= txn.amount
    return [
        Line(g.label, min(g.days), max(g.days), len(g.days), g.unit, g.amount)
        for g in groups.values()
    ]


def check_act_month(settings: Settings, month: date) -> date:
    """The first day of `month`, refusing months that have not begun."""
    first = rules.month_start(month)
    if first > business_today(settings):
        raise InvalidPeriod("the month has not started yet")
    return first


async def monthly_act(
    session: AsyncSession,
    settings: Settings,
    customer_id: int,
    month: date,
    *,
    actor: Actor | None = None,
) -> Generated:
    first = check_act_month(settings, month)
    customer = await _customer(session, customer_id)
    locale = _locale(customer)
    provider = provider_details(settings)
    currency = await repository.account_currency(session, customer_id) or settings.currency
    # The current month's act covers the days so far and is dated today.
    last = min(rules.month_end(first), business_today(settings))
    since = _local_midnight(settings, first)
    until = _local_midnight(settings, last + timedelta(days=1))

    opening = await repository.balance_before(session, customer_id, since)
    transactions = await repository.transactions_between(session, customer_id, since, until)
    lines = act_lines(settings, transactions, locale)
    services_total = sum(line.amount for line in lines)
    month_total = sum(txn.amount for txn in transactions)
    closing = opening + month_total

    month_name = t("documents-month", locale, month=first.month)
    title = t("documents-act-title", locale, month=month_name, year=str(first.year))
    number = f"{customer.contract_number}-{first:%Y%m}"
    services: pdf.Block
    if lines:
        services = _lines_table(
            lines,
            [
                (t("documents-act-total", locale), _money(services_total, currency, locale)),
                (t("documents-vat", locale), "—"),
            ],
            currency,
            locale,
        )
    else:
        services = pdf.Paragraph(t("documents-act-no-services", locale))
    balance = pdf.Table(
        columns=(
            pdf.Column(t("documents-col-item", locale), 146.0, "L"),
            pdf.Column(t("documents-col-amount", locale), 34.0, "R"),
        ),
        rows=(
            (
                t("documents-act-opening", locale, date=_date(first, locale)),
                _money(opening, currency, locale),
            ),
            (t("documents-act-charged", locale), _money(-services_total, currency, locale)),
            (
                t("documents-act-other", locale),
                _money(month_total + services_total, currency, locale),
            ),
        ),
        totals=(
            (
                t("documents-act-closing", locale, date=_date(last, locale)),
                _money(closing, currency, locale),
            ),
        ),
    )
    blocks: list[pdf.Block] = [
        pdf.Title(
            t("documents-act-heading", locale, number=number),
            t("documents-dated", locale, date=_date(last, locale)),
        ),
        pdf.Fields(
            (
                *_customer_fields(customer, locale),
                (t("documents-act-period", locale), _period(first, last, locale)),
            )
        ),
        pdf.Section(t("documents-act-section-services", locale)),
        services,
        pdf.Section(t("documents-act-section-balance", locale)),
        balance,
        pdf.Paragraph(t("documents-act-statement", locale), small=True),
        _signatures(provider, customer, locale),
    ]
    layout = _layout(settings, provider, locale, title, last, blocks)
    return await _store(
        session,
        settings,
        customer_id=customer_id,
        kind=DocumentKind.act,
        period=f"{first:%Y-%m}",
        layout=layout,
        actor=actor,
    )


async def generate_monthly_act(
    session: AsyncSession,
    settings: Settings,
    customer_id: int,
    month: date,
    *,
    actor: Actor | None = None,
) -> Document:
    """The act of services rendered for the month of `month` (any day of it)."""
    return (await monthly_act(session, settings, customer_id, month, actor=actor)).document


# --- on request -----------------------------------------------------------------------------


async def generate_document(
    session: AsyncSession,
    settings: Settings,
    customer_id: int,
    kind: DocumentKind,
    *,
    month: date | None = None,
    invoice_id: int | None = None,
    actor: Actor | None = None,
) -> Generated:
    """One document of `customer_id`; an invoice must be theirs (else 404)."""
    await _customer(session, customer_id)
    if kind is DocumentKind.contract:
        return await contract(session, settings, customer_id, actor=actor)
    if kind is DocumentKind.invoice:
        if invoice_id is None:
            raise ValidationFailed("invoice_id is required for an invoice")
        return await invoice_document(
            session, settings, invoice_id, customer_id=customer_id, actor=actor
        )
    if month is None:
        raise ValidationFailed("period is required for an act")
    return await monthly_act(session, settings, customer_id, month, actor=actor)


# --- the billing run ------------------------------------------------------------------------


async def generate_period_documents(res: Resources, day: date) -> int:
    """The billing run's document step for `day` (the 1st of a month): the act for the previous
    month of every customer with an active, blocked or suspended subscription, and the PDF of
    every invoice issued on `day`. Batches commit on their own and anything already stored is
    skipped, so a second run adds nothing and a crashed run resumes. Returns how many
    documents were stored."""
    settings = res.settings
    previous_month = rules.month_start(rules.month_start(day) - timedelta(days=1))
    period = f"{previous_month:%Y-%m}"
    created = 0

    after = 0
    while True:
        async with unit_of_work(res.sessionmaker) as session:
            customer_ids = await repository.customers_with_service(
                session, after, previous_month, rules.month_end(previous_month), PERIOD_BATCH
            )
            for customer_id in customer_ids:
                if await repository.document_exists(session, customer_id, DocumentKind.act, period):
                    continue
                created += await _isolated(
                    session,
                    partial(monthly_act, session, settings, customer_id, previous_month),
                    customer_id=customer_id,
                    kind="act",
                )
        if not customer_ids:
            break
        after = customer_ids[-1]

    after = 0
    while True:
        async with unit_of_work(res.sessionmaker) as session:
            invoices = await repository.invoices_issued_on(session, day, after, PERIOD_BATCH)
            for invoice in invoices:
                if await repository.document_exists(
                    session, invoice.customer_id, DocumentKind.invoice, invoice.number
                ):
                    continue
                created += await _isolated(
                    session,
                    partial(invoice_document, session, settings, invoice.id),
                    customer_id=invoice.customer_id,
                    kind="invoice",
                )
        if not invoices:
            break
        after = invoices[-1].id
    log.info("period documents generated", day=day.isoformat(), created=created)
    return created


async def _isolated(
    session: AsyncSession, work: Callable[[], Awaitable[Generated]], **context: Any
) -> int:
    """Run one document's generation in a savepoint: a customer whose data cannot be rendered
    is logged and skipped instead of stopping everyone else's documents. Storage outages stop
    the run (every following document would fail the same way)."""
    try:
        async with savepoint(session):
            generated = await work()
    except StorageUnavailable:
        raise
    except Exception:
        log.exception("document generation failed", **context)
        return 0
    return 1 if generated.created else 0

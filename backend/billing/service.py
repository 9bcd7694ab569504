"""Read side of billing (balance, history, subscription, invoices) and the tariff catalogue.
Money moves only through backend.billing.ledger."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from backend.audit import service as audit
from backend.audit.service import Actor
from backend.auth.tokens import Principal
from backend.billing import repository, rules
from backend.billing.errors import InvoiceNotFound, TariffNameTaken, TariffNotFound
from backend.billing.errors import NoSubscription as NoSubscription
from backend.billing.schemas import (
    BalanceOut,
    InvoiceOut,
    InvoicePage,
    SubscriptionOut,
    TariffIn,
    TariffPatch,
    TransactionOut,
    TransactionPage,
)
from backend.config import Settings
from backend.customers.errors import CustomerNotFound
from backend.errors import Forbidden, ValidationFailed
from backend.models import BillingPeriod, Invoice, InvoiceStatus, Role, Tariff

# --- money ----------------------------------------------------------------------------------


def days_left(balance: int, price: int, period: BillingPeriod, today: date) -> int | None:
    """Whole days the balance pays for. A monthly fee is charged in daily shares of
    price / days-in-this-month (docs/isp-rules.md, `CHARGING_MODE`), so
    days = balance / (price / days_in_month) = balance * days_in_month // price."""
    if price <= 0:
        return None  # a free tariff never runs out
    if balance <= 0:
        return 0
    if period is BillingPeriod.daily:
        return balance // price
    return balance * rules.days_in_month(today) // price


async def balance(session: AsyncSession, customer_id: int, today: date) -> BalanceOut:
    """`today` is the provider's business day (backend.billing.tasks.business_today)."""
    return _balance_out(await repository.balance_row(session, customer_id), today)


async def balance_fast(engine: AsyncEngine, customer_id: int, today: date) -> BalanceOut:
    """balance() for the hot endpoint: no session, one statement."""
    return _balance_out(await repository.balance_row_fast(engine, customer_id), today)


def _balance_out(row: repository.BalanceRow | None, today: date) -> BalanceOut:
    if row is None:
        raise CustomerNotFound()
    days = None
    if row.price is not None and row.billing_period is not None:
        days = days_left(row.balance, row.price, row.billing_period, today)
    return BalanceOut(
        amount=row.balance,
        currency=row.currency,
        display=rules.format_money(row.balance),
        days_left=days,
    )


async def transaction_page(
    session: AsyncSession, customer_id: int, *, limit: int, before_id: int | None = None
) -> TransactionPage:
    rows = await repository.transactions_for_customer(session, customer_id, limit, before_id)
    return TransactionPage(
        items=[TransactionOut.model_validate(t) for t in rows],
        next_before_id=rows[-1].id if len(rows) == limit else None,
    )


async def subscription(session: AsyncSession, customer_id: int) -> SubscriptionOut | None:
    found = await repository.current_subscription(session, customer_id)
    if found is None:
        return None
    sub, tariff = found
    return SubscriptionOut(
        id=sub.id,
        status=sub.status,
        tariff_id=tariff.id,
        tariff_name=tariff.name,
        speed_down_mbps=tariff.speed_down_mbps,
        speed_up_mbps=tariff.speed_up_mbps,
        price=tariff.price,
        currency=tariff.currency,
        billing_period=tariff.billing_period,
        started_on=sub.started_on,
        period_start=sub.period_start,
        period_end=sub.period_end,
    )


async def require_subscription(session: AsyncSession, customer_id: int) -> SubscriptionOut:
    found = await subscription(session, customer_id)
    if found is None:
        raise NoSubscription()
    return found


# --- tariffs --------------------------------------------------------------------------------


def _check_currency(settings: Settings, currency: str | None) -> None:
    if currency is not None and currency != settings.currency:
        raise ValidationFailed(f"currency must be {settings.currency}")


async def list_tariffs(session: AsyncSession, *, include_inactive: bool = False) -> list[Tariff]:
    return await repository.tariffs(session, include_inactive=include_inactive)


async def get_tariff(session: AsyncSession, tariff_id: int) -> Tariff:
    tariff = await repository.tariff_by_id(session, tariff_id)
    if tariff is None:
        raise TariffNotFound()
    return tariff


async def create_tariff(
    session: AsyncSession, settings: Settings, data: TariffIn, actor: Actor
) -> Tariff:
    _check_currency(settings, data.currency)
    if await repository.tariff_name_taken(session, data.name):
        raise TariffNameTaken()
    tariff = Tariff(
        name=data.name,
        description=data.description,
        speed_down_mbps=data.speed_down_mbps,
        speed_up_mbps=data.speed_up_mbps,
        price=data.price,
        currency=settings.currency,
        billing_period=data.billing_period,
        is_active=True,
    )
    session.add(tariff)
    await session.flush()
    await audit.record(
        session, "tariff.create", actor, "tariff", tariff.id, name=tariff.name, price=tariff.price
    )
    return tariff


async def update_tariff(
    session: AsyncSession, settings: Settings, tariff_id: int, data: TariffPatch, actor: Actor
) -> Tariff:
    tariff = await get_tariff(session, tariff_id)
    changes = data.changes()
    _check_currency(settings, changes.get("currency"))
    name = changes.get("name")
    if name is not None and await repository.tariff_name_taken(session, name, tariff.id):
        raise TariffNameTaken()
    changed = {k: v for k, v in changes.items() if getattr(tariff, k) != v}
    if not changed:
        return tariff
    for key, value in changed.items():
        setattr(tariff, key, value)
    await session.flush()
    await audit.record(
        session,
        "tariff.update",
        actor,
        "tariff",
        tariff.id,
        changes={k: (v.value if isinstance(v, BillingPeriod) else v) for k, v in changed.items()},
    )
    return tariff


async def deactivate_tariff(session: AsyncSession, tariff_id: int, actor: Actor) -> Tariff:
    """Idempotent. Existing subscriptions keep the tariff; it is only withdrawn from sale."""
    tariff = await get_tariff(session, tariff_id)
    if tariff.is_active:
        tariff.is_active = False
        await session.flush()
        await audit.record(session, "tariff.deactivate", actor, "tariff", tariff.id)
    return tariff


# --- invoices -------------------------------------------------------------------------------


async def invoice_page(
    session: AsyncSession,
    principal: Principal,
    *,
    customer_id: int | None,
    status: InvoiceStatus | None,
    limit: int,
    before_id: int | None,
) -> InvoicePage:
    """Customers always get their own invoices (`customer_id` is ignored for them); staff name
    the customer."""
    if principal.role is Role.customer:
        if principal.customer_id is None:
            raise Forbidden("customer account required")
        customer_id = principal.customer_id
    elif customer_id is None:
        raise ValidationFailed("customer_id is required for staff")
    elif not await repository.account_exists(session, customer_id):
        raise CustomerNotFound()
    rows = await repository.invoices_for_customer(
        session, customer_id, status=status, limit=limit, before_id=before_id
    )
    return InvoicePage(
        items=[InvoiceOut.model_validate(i) for i in rows],
        next_before_id=rows[-1].id if len(rows) == limit else None,
    )


async def get_invoice(session: AsyncSession, principal: Principal, invoice_id: int) -> Invoice:
    """Another customer's invoice is reported as missing, so ids cannot be probed."""
    invoice = await repository.invoice_by_id(session, invoice_id)
    if invoice is None:
        raise InvoiceNotFound()
    if principal.role is Role.customer and invoice.customer_id != principal.customer_id:
        raise InvoiceNotFound()
    return invoice

"""Demo data for `python main.py` and `python main.py seed` (printed in the README). Runs once:
a database that already has the demo customer is left alone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth import passwords, totp
from backend.billing import ledger, rules
from backend.clock import business_today, utcnow
from backend.config import Settings
from backend.customers import service as customers
from backend.models import (
    BillingPeriod,
    CannedResponse,
    Customer,
    Invoice,
    InvoiceStatus,
    Role,
    Subscription,
    SubscriptionStatus,
    Tariff,
    Ticket,
    TicketCategory,
    TicketPriority,
    TicketStatus,
    TransactionReason,
    User,
)

DEMO_CONTRACT = "D-0001"
DEMO_CUSTOMER_EMAIL = "demo@example.com"
DEMO_CUSTOMER_PHONE = "+79000000001"
DEMO_CUSTOMER_PASSWORD = "demo-password"  # noqa: S105 - printed in the README, demo only
DEMO_AGENT_EMAIL = "agent@example.com"
DEMO_AGENT_PASSWORD = "agent-password"  # noqa: S105
DEMO_AGENT_TOTP = "AGENTTOTPDEMOSECRETAGENTTOTPDEMO"
DEMO_AGENT_NAME = "Анна"  # shown to customers when the agent joins their chat
DEMO_ADMIN_EMAIL = "admin@example.com"
DEMO_ADMIN_PASSWORD = "admin-password"  # noqa: S105
DEMO_ADMIN_TOTP = "ADMINTOTPDEMOSECRETADMINTOTPDEMO"
DEMO_ADMIN_NAME = "Admin"


@dataclass(frozen=True)
class DemoTariff:
    name: str
    down: int
    up: int
    price: int
    description: str


DEMO_TARIFFS = [
    DemoTariff("Дом 100", 100, 50, 50000, "Для почты, соцсетей и видео в HD"),
    DemoTariff("Дом 300", 300, 150, 70000, "Для семьи: 4K-видео и игры"),
    DemoTariff("Дом 500", 500, 250, 90000, "Для больших загрузок и многих устройств"),
    DemoTariff("Гигабит", 1000, 500, 120000, "Максимальная скорость"),
]


# (title, body, locale) of the demo's canned responses
DEMO_CANNED = (
    (
        "Приветствие",
        "Здравствуйте, {first_name}! Меня зовут {agent}, я помогу разобраться.",
        "ru",
    ),
    (
        "Баланс",
        "{first_name}, на счёте договора {contract} сейчас {balance}.",
        "ru",
    ),
    (
        "Перезагрузка роутера",
        "Пожалуйста, выключите роутер из розетки на 30 секунд и включите снова. "
        "Напишите, когда индикаторы загорятся.",
        "ru",
    ),
    ("Greeting", "Hello, {first_name}! I am {agent} and I will help you sort this out.", "en"),
    ("Balance", "{first_name}, the balance of contract {contract} is {balance}.", "en"),
    (
        "Restart the router",
        "Please unplug the router for 30 seconds and plug it back in. "
        "Let me know when the lights come on.",
        "en",
    ),
)


async def seed_demo(session: AsyncSession, settings: Settings) -> bool:
    """Create the demo data; returns False when it already exists."""
    if await session.scalar(select(Customer.id).where(Customer.contract_number == DEMO_CONTRACT)):
        return False
    tariffs: dict[str, Tariff] = {}
    for t in DEMO_TARIFFS:
        tariff = await session.scalar(select(Tariff).where(Tariff.name == t.name))
        if tariff is None:
            tariff = Tariff(
                name=t.name,
                description=t.description,
                speed_down_mbps=t.down,
                speed_up_mbps=t.up,
                price=t.price,
                currency=settings.currency,
                billing_period=BillingPeriod.monthly,
            )
            session.add(tariff)
        tariffs[t.name] = tariff
    await session.flush()

    user = User(
        email=DEMO_CUSTOMER_EMAIL,
        phone=DEMO_CUSTOMER_PHONE,
        password_hash=await passwords.hash_password(DEMO_CUSTOMER_PASSWORD),
        role=Role.customer,
        password_changed_at=utcnow(),
    )
    session.add(user)
    await session.flush()
    customer = await customers.create_customer(
        session,
        full_name="Иванов Иван Иванович",
        contract_number=DEMO_CONTRACT,
        email=DEMO_CUSTOMER_EMAIL,
        phone=DEMO_CUSTOMER_PHONE,
        locale="ru",
        user_id=user.id,
        address={"city": "Москва", "street": "ул. Примерная", "building": "1", "apartment": "1"},
        network_area="demo-area",
        network_node="demo-node-1",
        actor=None,
        currency=settings.currency,
    )
    today = business_today(settings)
    period_start = today.replace(day=1)
    next_month = (period_start + timedelta(days=32)).replace(day=1)
    subscription = Subscription(
        customer_id=customer.id,
        tariff_id=tariffs["Дом 300"].id,
        status=SubscriptionStatus.active,
        started_on=period_start - timedelta(days=365),
        period_start=period_start,
        period_end=next_month - timedelta(days=1),
    )
    session.add(subscription)
    await session.flush()
    # Today's fee is posted here with the billing run's own reference, so the demo balance
    # reads 350.00 on the day it is seeded and the run does not charge the day again.
    todays_fee = rules.charge_for_day(
        tariffs["Дом 300"].price, BillingPeriod.monthly, today, settings.charging_mode
    )
    await ledger.post(
        session,
        customer_id=customer.id,
        amount=35000 + todays_fee,
        reason=TransactionReason.opening_balance,
        reference_kind="seed",
        reference=f"opening:{DEMO_CONTRACT}",
        description="Opening balance (demo)",
    )
    if todays_fee:
        await ledger.post(
            session,
            customer_id=customer.id,
            amount=-todays_fee,
            reason=TransactionReason.charge,
            reference_kind="charge",
            reference=rules.charge_reference(
                subscription.id, BillingPeriod.monthly, today, settings.charging_mode
            ),
            description=tariffs["Дом 300"].name,
        )
    previous_start = (period_start - timedelta(days=1)).replace(day=1)
    session.add_all(
        [
            Invoice(
                number=f"INV-{previous_start:%Y%m}-0001",
                customer_id=customer.id,
                amount=70000,
                paid_amount=70000,
                currency=settings.currency,
                status=InvoiceStatus.paid,
                period_start=previous_start,
                period_end=period_start - timedelta(days=1),
                issued_on=previous_start,
                due_date=previous_start + timedelta(days=10),
                paid_at=utcnow() - timedelta(days=20),
            ),
            Invoice(
                number=f"INV-{period_start:%Y%m}-0001",
                customer_id=customer.id,
                amount=70000,
                currency=settings.currency,
                status=InvoiceStatus.pending,
                period_start=period_start,
                period_end=next_month - timedelta(days=1),
                issued_on=period_start,
                due_date=period_start + timedelta(days=10),
            ),
        ]
    )
    session.add(
        Ticket(
            customer_id=customer.id,
            subject="Вечером падает скорость",
            description="После 21:00 скорость по Wi-Fi падает до 20 Мбит/с.",
            category=TicketCategory.slow_internet,
            status=TicketStatus.resolved,
            priority=TicketPriority.medium,
        )
    )
    for email, password, secret, role, name in (
        (DEMO_AGENT_EMAIL, DEMO_AGENT_PASSWORD, DEMO_AGENT_TOTP, Role.agent, DEMO_AGENT_NAME),
        (DEMO_ADMIN_EMAIL, DEMO_ADMIN_PASSWORD, DEMO_ADMIN_TOTP, Role.admin, DEMO_ADMIN_NAME),
    ):
        if await session.scalar(select(User.id).where(User.email == email)):
            continue
        session.add(
            User(
                email=email,
                password_hash=await passwords.hash_password(password),
                role=role,
                display_name=name,
                totp_secret_encrypted=totp.encrypt_secret(settings, secret),
                totp_enabled=True,
                password_changed_at=utcnow(),
            )
        )
    # the agent console's canned responses (admins manage them; placeholders in
    # docs/agent-console.md); demo data, like the tariffs above
    if await session.scalar(select(CannedResponse.id).limit(1)) is None:
        session.add_all(
            CannedResponse(title=title, body=body, locale=locale, is_active=True)
            for title, body, locale in DEMO_CANNED
        )
    await session.flush()
    return True

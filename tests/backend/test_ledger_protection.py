"""The database itself protects money rows: the ledger is append-only like the audit log, and
no delete cascades from a customer (or a user) to money or audit rows."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from backend.billing import ledger
from backend.models import (
    Payment,
    PaymentStatus,
    PromisedPayment,
    Role,
    TransactionReason,
    utcnow,
)
from tests.factories import make_customer, make_invoice, make_user


async def test_ledger_rows_are_append_only_in_postgres(resources, session):
    _, customer = await make_customer(session, balance=50000)
    await session.commit()
    customer_id = customer.id
    with pytest.raises(DBAPIError, match="transactions is append-only"):
        await session.execute(text("UPDATE transactions SET amount = amount + 1"))
    await session.rollback()
    with pytest.raises(DBAPIError, match="transactions is append-only"):
        await session.execute(text("DELETE FROM transactions"))
    await session.rollback()
    # appending still works
    await ledger.post(
        session, customer_id=customer_id, amount=-100, reason=TransactionReason.adjustment
    )
    await session.commit()
    total = await session.scalar(text("SELECT sum(amount) FROM transactions"))
    assert total == 50000 - 100


async def test_customer_with_money_rows_cannot_be_deleted(resources, session):
    _, customer = await make_customer(session, balance=70000)
    invoice = await make_invoice(session, customer)
    session.add(
        Payment(
            customer_id=customer.id,
            invoice_id=invoice.id,
            public_id=str(uuid.uuid4()),
            provider="sandbox",
            amount=70000,
            status=PaymentStatus.succeeded,
        )
    )
    await session.commit()
    customer_id = customer.id
    with pytest.raises(IntegrityError, match="foreign key"):
        await session.execute(text("DELETE FROM customers WHERE id = :id"), {"id": customer_id})
    await session.rollback()
    # nor the account (which holds the ledger rows), nor an invoice a payment points at
    with pytest.raises(IntegrityError, match="foreign key"):
        await session.execute(
            text("DELETE FROM accounts WHERE customer_id = :id"), {"id": customer_id}
        )
    await session.rollback()
    counts = (
        await session.execute(
            text(
                "SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM accounts),"
                " (SELECT count(*) FROM transactions), (SELECT count(*) FROM invoices),"
                " (SELECT count(*) FROM payments)"
            )
        )
    ).one()
    assert tuple(counts) == (1, 1, 1, 1, 1)


async def test_each_money_foreign_key_to_customers_restricts(resources, session):
    """Every money table (one row each) alone stops a customer's delete."""
    for table in ("invoices", "payments", "promised_payments"):
        _, customer = await make_customer(session)
        await session.commit()
        # drop the account so only the table under test refers to the customer
        await session.execute(
            text("DELETE FROM accounts WHERE customer_id = :id"), {"id": customer.id}
        )
        if table == "invoices":
            await make_invoice(session, customer)
        elif table == "payments":
            session.add(
                Payment(
                    customer_id=customer.id,
                    public_id=str(uuid.uuid4()),
                    provider="sandbox",
                    amount=100,
                )
            )
        else:
            session.add(PromisedPayment(customer_id=customer.id, amount=100, expires_at=utcnow()))
        await session.commit()
        with pytest.raises(IntegrityError, match="foreign key"):
            await session.execute(text("DELETE FROM customers WHERE id = :id"), {"id": customer.id})
        await session.rollback()


async def test_user_with_audit_or_ledger_rows_is_refused_by_the_foreign_key(resources, session):
    """Deleting a staff user who wrote audit or ledger rows is refused by the foreign key
    itself (not by the append-only trigger's SET NULL update): deactivate or anonymise."""
    from backend.audit import service as audit
    from backend.audit.service import Actor

    staff = await make_user(session, role=Role.admin)
    _, customer = await make_customer(session)
    await ledger.post(
        session,
        customer_id=customer.id,
        amount=500,
        reason=TransactionReason.adjustment,
        actor=Actor(staff.id, Role.admin),
    )
    await audit.record(session, "test.event", Actor(staff.id, Role.admin))
    await session.commit()
    with pytest.raises(IntegrityError, match="foreign key"):
        await session.execute(text("DELETE FROM users WHERE id = :id"), {"id": staff.id})
    await session.rollback()


async def test_sqlite_migration_keeps_money_rows_and_restricts(tmp_path):
    """The embedded default: changing the foreign keys recreates the tables on SQLite; no row
    of a parent table's children is lost or unlinked on the way, and the rules then hold."""
    from sqlalchemy import select
    from sqlalchemy.exc import IntegrityError as SAIntegrityError

    from backend.config import Settings
    from backend.db import create_engine, create_sessionmaker
    from backend.migrate import downgrade, upgrade
    from backend.models import Payment as PaymentRow

    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'm.db'}", _env_file=None)  # type: ignore[call-arg]
    engine = create_engine(settings)
    try:
        await upgrade(engine, "c9a100000005")
        async with create_sessionmaker(engine)() as s:
            # no sign-in: the rows are written by today's models into the c9a100000005
            # schema, and only tables that no later migration changes can take them
            _, customer = await make_customer(s, balance=70000, with_user=False)
            invoice = await make_invoice(s, customer)
            s.add(
                PaymentRow(
                    customer_id=customer.id,
                    invoice_id=invoice.id,
                    public_id=str(uuid.uuid4()),
                    provider="sandbox",
                    amount=70000,
                )
            )
            await s.commit()
            customer_id = customer.id

        for step in ("upgrade", "downgrade", "upgrade"):
            await (upgrade(engine) if step == "upgrade" else downgrade(engine, "c9a100000005"))
            async with engine.connect() as conn:
                counts = (
                    await conn.execute(
                        text(
                            "SELECT (SELECT count(*) FROM accounts),"
                            " (SELECT count(*) FROM transactions),"
                            " (SELECT count(*) FROM invoices), (SELECT count(*) FROM payments),"
                            " (SELECT count(*) FROM payments WHERE invoice_id IS NOT NULL)"
                        )
                    )
                ).one()
                assert tuple(counts) == (1, 1, 1, 1, 1), step
                fk_on = (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar()
                assert fk_on == 1, "foreign keys stay enforced after migrating"

        async with create_sessionmaker(engine)() as s:
            with pytest.raises(SAIntegrityError, match="FOREIGN KEY"):
                await s.execute(text("DELETE FROM customers WHERE id = :id"), {"id": customer_id})
            await s.rollback()
            assert await s.scalar(select(PaymentRow.invoice_id)) is not None
    finally:
        await engine.dispose()

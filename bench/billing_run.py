"""Benchmark: the daily billing run over 100k subscriptions on PostgreSQL (1M with --million),
beside one raw SQL `INSERT ... SELECT` of the same charge rows on the same database in the
same run.

    .venv/bin/python bench/billing_run.py [--subscriptions 100000] [--million]

The raw statement is the floor: it only inserts the charge rows. The run also locks the
accounts, skips what was already charged, keeps each row's running balance, moves the balances,
records its progress per chunk, blocks debtors and queues low-balance notices."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from backend.billing import rules  # noqa: E402
from backend.billing.tasks import billing_run  # noqa: E402
from backend.config import Settings  # noqa: E402
from backend.migrate import upgrade  # noqa: E402
from backend.state import Resources  # noqa: E402

DB_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/provider_desk_bench"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
DAY = date(2026, 11, 17)

RAW_INSERT = """
INSERT INTO transactions (account_id, amount, currency, reason, reference_kind, reference,
                          description, balance_after, created_at)
SELECT a.id, -(t.price * $1::bigint / $2::bigint - t.price * ($1::bigint - 1) / $2::bigint),
       a.currency, 'charge', 'raw', 'sub:' || s.id || ':' || $3::text, t.name, a.balance, now()
FROM subscriptions s
JOIN tariffs t ON t.id = s.tariff_id
JOIN accounts a ON a.customer_id = s.customer_id
WHERE s.status = 'active'
"""


async def connect() -> asyncpg.Connection:
    url = make_url(DB_URL)
    return await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username or "postgres", database=url.database
    )


async def prepare(n: int) -> None:
    from bench.scratch import recreate_database

    await recreate_database(DB_URL)
    settings = Settings(database_url=DB_URL, redis_url=REDIS_URL, _env_file=None)
    res = Resources.create(settings)
    await upgrade(res.engine)
    await res.close()
    conn = await connect()
    try:
        await conn.execute(
            """
            INSERT INTO tariffs (name, speed_down_mbps, speed_up_mbps, price, currency,
                                 billing_period, is_active, created_at)
            VALUES ('Дом 100', 100, 50, 50000, 'RUB', 'monthly', true, now()),
                   ('Дом 300', 300, 150, 70000, 'RUB', 'monthly', true, now()),
                   ('Дом 500', 500, 250, 90000, 'RUB', 'monthly', true, now()),
                   ('Сутки', 100, 100, 2500, 'RUB', 'daily', true, now())
            """
        )
        await conn.execute(
            """
            INSERT INTO customers (contract_number, full_name, address, locale,
                                   notification_preferences, created_at)
            SELECT 'B-' || g, 'Клиент ' || g, '{}'::jsonb, 'ru', '{}'::jsonb, now()
            FROM generate_series(1, $1) g
            """,
            n,
        )
        # balances spread so that some customers fall into debt and get blocked
        await conn.execute(
            """
            INSERT INTO accounts (customer_id, currency, balance, created_at)
            SELECT id, 'RUB', (id % 50) * 2000, now() FROM customers
            """
        )
        await conn.execute(
            """
            INSERT INTO transactions (account_id, amount, currency, reason, reference_kind,
                                      reference, balance_after, created_at)
            SELECT id, balance, 'RUB', 'opening_balance', 'bench', 'open:' || id, balance, now()
            FROM accounts WHERE balance <> 0
            """
        )
        await conn.execute(
            """
            INSERT INTO subscriptions (customer_id, tariff_id, status, started_on, period_start,
                                       period_end, created_at)
            SELECT c.id, (SELECT id FROM tariffs ORDER BY id OFFSET (c.id % 4) LIMIT 1),
                   'active', DATE '2026-01-01', DATE '2026-11-01', DATE '2026-11-30', now()
            FROM customers c
            """
        )
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def raw_baseline() -> tuple[float, int]:
    conn = await connect()
    try:
        start = time.perf_counter()
        status = await conn.execute(RAW_INSERT, DAY.day, rules.days_in_month(DAY), DAY.isoformat())
        elapsed = time.perf_counter() - start
        rows = int(status.split()[-1])
        # the ledger is append-only (a trigger); the benchmark's scratch rows go as the
        # superuser with triggers off
        await conn.execute("SET session_replication_role = replica")
        await conn.execute("DELETE FROM transactions WHERE reference_kind = 'raw'")
        await conn.execute("SET session_replication_role = DEFAULT")
        await conn.execute("VACUUM ANALYZE transactions")
        return elapsed, rows
    finally:
        await conn.close()


async def the_run(chunk: int) -> tuple[float, int, dict[str, object]]:
    settings = Settings(
        database_url=DB_URL,
        redis_url=REDIS_URL,
        billing_chunk_size=chunk,
        _env_file=None,
    )
    res = Resources.create(settings)
    try:
        await res.redis.delete("lock:billing-run")
        start = time.perf_counter()
        report = await billing_run(dataclasses.replace(res), DAY)
        elapsed = time.perf_counter() - start
        return elapsed, report.charged, report.as_dict()
    finally:
        await res.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscriptions", type=int, default=100_000)
    parser.add_argument("--million", action="store_true", help="1,000,000 subscriptions")
    parser.add_argument("--chunk", type=int, default=10000)
    args = parser.parse_args()
    n = 1_000_000 if args.million else args.subscriptions
    print(f"preparing {n} subscriptions ...", flush=True)
    await prepare(n)
    raw_s, raw_rows = await raw_baseline()
    run_s, run_rows, report = await the_run(args.chunk)
    assert run_rows == raw_rows, (run_rows, raw_rows)
    again_s, again_rows, _ = await the_run(args.chunk)
    assert again_rows == 0
    print(f"billing run over {n} subscriptions on PostgreSQL, chunks of {args.chunk}")
    print(f"  raw INSERT ... SELECT (baseline): {raw_s:7.2f} s  {raw_rows / raw_s:10.0f} rows/s")
    print(
        f"  billing run:                      {run_s:7.2f} s  {run_rows / run_s:10.0f} rows/s"
        f"  (blocked {report['blocked']}, low-balance notices {report['low_balance_notices']})"
    )
    print(f"  ratio: {run_s / raw_s:.2f}x the raw statement's time (goal <= 3x)")
    print(f"  repeated run (charges nothing): {again_s:.2f} s")


if __name__ == "__main__":
    asyncio.run(main())

"""Benchmark: engine turns/s in-process on PostgreSQL and Redis (a balance question repeated for
N conversations), NLU parse p50/p99 when dialogs.nlu is importable, beside one bare database
round trip (`SELECT 1` through the same engine) measured in the same run.

    .venv/bin/python bench/dialogs.py [--conversations 200] [--turns 5]"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/provider_desk_bench"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


class BalanceParser:
    """A constant parser: the benchmark measures the engine, not the classifier."""

    def parse(self, text: str, lang: str | None = None) -> dict[str, Any]:
        return {"text": text, "intent": {"name": "check_balance", "confidence": 1.0},
                "entities": [], "intent_ranking": []}  # fmt: skip


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(conversations: int, turns: int) -> None:
    from sqlalchemy import event, text

    from backend.config import Settings
    from backend.migrate import upgrade
    from backend.state import Resources
    from bench.scratch import recreate_database
    from dialogs.engine import Engine
    from dialogs.types import Inbound
    from tests.factories import make_customer, make_subscription, make_tariff

    await recreate_database(DB_URL)
    settings = Settings(database_url=DB_URL, redis_url=REDIS_URL, seed_demo=False,
                        run_worker=False, _env_file=None)  # fmt: skip
    res = Resources.create(settings)
    await upgrade(res.engine)
    await res.redis.flushdb()
    customer_ids = []
    async with res.sessionmaker() as session:
        tariff = await make_tariff(session, price=60000)
        for _ in range(conversations):
            _, customer = await make_customer(session, balance=35000)
            await make_subscription(session, customer, tariff)
            customer_ids.append(customer.id)
        await session.commit()

    # one bare round trip through the same engine
    bare = []
    async with res.engine.connect() as conn:
        for _ in range(500):
            t0 = time.perf_counter()
            await conn.execute(text("SELECT 1"))
            bare.append(time.perf_counter() - t0)

    engine = Engine(res, BalanceParser())
    statements = 0

    def count(*_: object) -> None:
        nonlocal statements
        statements += 1

    event.listen(res.engine.sync_engine, "before_cursor_execute", count)
    latencies: list[float] = []

    async def one_chat(i: int, customer_id: int) -> None:
        for n in range(turns):
            t0 = time.perf_counter()
            await engine.handle(Inbound(channel="webchat", chat_id=f"bench-{i}",
                                        external_id=f"{i}-{n}", customer_id=customer_id,
                                        locale="ru", text="баланс"))  # fmt: skip
            latencies.append(time.perf_counter() - t0)

    await one_chat(-1, customer_ids[0])  # warm-up
    latencies.clear()
    statements = 0
    t0 = time.perf_counter()
    await asyncio.gather(*(one_chat(i, c) for i, c in enumerate(customer_ids)))
    elapsed = time.perf_counter() - t0
    total = conversations * turns
    print(f"bare SELECT 1 round trip: p50 {statistics.median(bare) * 1e3:.3f} ms")
    print(f"engine: {total} turns in {elapsed:.2f} s = {total / elapsed:.0f} turns/s "
          f"(concurrency {conversations}); turn p50 {_pct(latencies, 0.5) * 1e3:.2f} ms, "
          f"p99 {_pct(latencies, 0.99) * 1e3:.2f} ms")  # fmt: skip
    print(
        f"statements per turn: {statements / total:.2f} (incl. the balance query; "
        "BEGIN/COMMIT not counted)"
    )
    try:
        from dialogs.nlu import service  # noqa: F401
    except ImportError:
        print("dialogs.nlu not importable: NLU figures skipped")
    else:
        await _bench_nlu()
    await res.close()


async def _bench_nlu() -> None:
    import importlib

    module = importlib.import_module("dialogs.nlu.service")
    parser = module.NLUService()
    parser.warm_up()
    samples = ["какой у меня баланс", "хочу пополнить на 500", "my balance please",
               "не работает интернет", "позовите оператора"]  # fmt: skip
    times = []
    for i in range(2000):
        t0 = time.perf_counter()
        parser.parse(samples[i % len(samples)])
        times.append(time.perf_counter() - t0)
    print(f"NLU parse: p50 {_pct(times, 0.5) * 1e3:.3f} ms, p99 {_pct(times, 0.99) * 1e3:.3f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--turns", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.conversations, args.turns))

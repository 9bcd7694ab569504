"""The worker wakes on PostgreSQL's NOTIFY when a row is inserted, instead of waiting out its
poll interval (notifications/wakeup.py, migration c9a100000011)."""

from __future__ import annotations

import asyncio
import time

from backend.models import OutboxStatus
from notifications.channels import ChannelRegistry, FakeChannel
from notifications.wakeup import OutboxListener
from notifications.worker import WorkerOptions, run_worker
from tests.notifications.helpers import enqueue_committed, reset_payload, rows


async def test_an_insert_wakes_a_worker_that_would_sleep_a_minute(resources, session) -> None:
    fake = FakeChannel()
    stop = asyncio.Event()
    options = WorkerOptions(poll_interval=60)
    task = asyncio.create_task(
        run_worker(resources, stop, channels=ChannelRegistry({"email": fake}), options=options)
    )
    try:
        await asyncio.sleep(1.0)  # the worker found nothing and sleeps
        started = time.monotonic()
        await enqueue_committed(resources, reset_payload(), "wake:1")
        for _ in range(500):
            if fake.sent:
                break
            await asyncio.sleep(0.02)
        assert fake.sent, "the worker did not wake"
        assert time.monotonic() - started < 5  # far less than the poll interval
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    [row] = await rows(session)
    assert row.status == OutboxStatus.done


async def test_the_listener_hears_an_insert(resources, session) -> None:
    listener = OutboxListener(resources.engine.url)
    stop = asyncio.Event()
    listener.start(stop)
    try:
        for _ in range(50):
            if listener.connection is not None:
                break
            await asyncio.sleep(0.05)
        listener.event.clear()
        await enqueue_committed(resources, reset_payload(), "wake:2")
        await asyncio.wait_for(listener.event.wait(), 5)
    finally:
        stop.set()
        await listener.close()

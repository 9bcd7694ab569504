"""The broadcasts' background role: fan out the due broadcasts into the outbox, chunk by chunk,
and mark sent those whose every row is processed. Safe in several processes at once (the
broadcast row is locked, `SKIP LOCKED`: each chunk is written by one of them)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from backend.broadcasts import service
from backend.clock import local_zone, utcnow
from backend.logging import get_logger
from backend.periodic import run_every
from backend.state import Resources

log = get_logger("broadcasts.tasks")

TICK_S = 10.0


@dataclass
class FanOutReport:
    queued: int = 0  # outbox rows written
    fanned_out: list[int] = field(default_factory=list)  # broadcasts whose fan-out ended
    finished: list[int] = field(default_factory=list)  # broadcasts marked sent


async def run_due(
    res: Resources, now: datetime | None = None, *, chunk: int = service.CHUNK
) -> FanOutReport:
    """One pass: every due broadcast fanned out to the end (one transaction per chunk), then
    those fully processed marked sent. `now` decides what is due (tests pass their own)."""
    now = now or utcnow()
    today = now.astimezone(local_zone(res.settings)).date()  # whose subscriptions are current
    report = FanOutReport()
    while True:
        async with service.changing_broadcasts(res.sessionmaker) as session:
            step = await service.fan_out_step(session, now, today, chunk)
        if step is None:
            break
        report.queued += step.queued
        if step.done:
            report.fanned_out.append(step.broadcast_id)
            log.info("broadcast queued", broadcast_id=step.broadcast_id)
    async with service.changing_broadcasts(res.sessionmaker) as session:
        report.finished = await service.finish_sent(session, now)
    for broadcast_id in report.finished:
        log.info("broadcast sent", broadcast_id=broadcast_id)
    return report


async def run_broadcasts(res: Resources, stop: asyncio.Event) -> None:
    """Background role of the worker processes: broadcasts go out within TICK_S of their
    time."""
    await run_every(stop, TICK_S, lambda: run_due(res), failed="broadcast fan-out failed")

"""Broadcasts (docs/broadcasts.md): an admin sends one text to a segment of customers, now or
at a scheduled time. Creating one writes only its row; when it is due, the fan-out
(`fan_out_step`, driven by backend/broadcasts/tasks.py) writes one outbox row per recipient
in chunks, and the notification worker sends them through each customer's channels, below
the customers' own notices. Cancelling stops the rows not yet sent.

Each chunk of the fan-out and each cancellation is one unit of work that locks the broadcast
row (`changing_broadcasts`): on PostgreSQL a cancellation waits for the chunk in progress and
then stops its rows too, and two processes never fan out the same broadcast at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.audit import service as audit
from backend.audit.service import SYSTEM, Actor
from backend.broadcasts import repository
from backend.broadcasts.errors import BroadcastAlreadySent, BroadcastNotFound, InvalidBroadcast
from backend.broadcasts.schemas import BroadcastIn, Contracts, Progress, Segment, TariffSegment
from backend.db import serial_unit_of_work
from backend.models import Broadcast, BroadcastStatus

# Recipients per fan-out transaction: big enough that 100k take a few dozen statements, small
# enough that the worker starts on the first rows within a second and a cancellation waits
# for little.
CHUNK = 5000
# A schedule this far in the past is a mistake (a wrong offset), not a network delay.
PAST_TOLERANCE = timedelta(minutes=1)
MAX_AHEAD = timedelta(days=366)
UNKNOWN_CONTRACTS_SHOWN = 100


# --- one writer at a time ----------------------------------------------------------------------


@asynccontextmanager
async def changing_broadcasts(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A unit of work that fans out, cancels or finishes broadcasts. PostgreSQL: the row locks
    taken inside (`FOR UPDATE`, `SKIP LOCKED` for the fan-out) order them across processes;
    SQLite: this process's broadcast writers take turns (`serial_unit_of_work`)."""
    async with serial_unit_of_work(sessionmaker, "broadcasts") as session:
        yield session


# --- who ---------------------------------------------------------------------------------------


async def stored_segment(session: AsyncSession, segment: Segment) -> dict[str, Any]:
    """The segment as kept on the broadcast: the tariff by its id, checked to exist."""
    if isinstance(segment, TariffSegment):
        if segment.tariff_name is not None:
            tariff_id = await repository.tariff_id_by_name(session, segment.tariff_name)
            if tariff_id is None:
                raise InvalidBroadcast(f"no tariff is named {segment.tariff_name!r}")
        else:
            assert segment.tariff_id is not None  # the schema requires one of them
            tariff_id = segment.tariff_id
            if not await repository.tariff_exists(session, tariff_id):
                raise InvalidBroadcast(f"no tariff has the id {tariff_id}")
        return {"type": "tariff", "tariff_id": tariff_id}
    return segment.model_dump()


@dataclass(frozen=True, slots=True)
class Preview:
    recipients: int
    unknown_contracts: list[str]


async def preview(session: AsyncSession, segment: Segment, marketing: bool, today: date) -> Preview:
    """How many customers the segment reaches now (with `marketing`, of those who opted in)."""
    stored = await stored_segment(session, segment)
    recipients = await repository.count_recipients(session, stored, marketing, today)
    unknown: list[str] = []
    if isinstance(segment, Contracts):
        unknown = await repository.unknown_contracts(session, segment.contracts)
    return Preview(recipients, unknown[:UNKNOWN_CONTRACTS_SHOWN])


# --- the admin's actions -----------------------------------------------------------------------


def _check_texts(texts: dict[str, str], default_locale: str) -> None:
    if default_locale not in texts:
        raise InvalidBroadcast(
            f"the text in the default language ({default_locale}) is required: customers "
            "whose language has no text receive it"
        )


def _check_schedule(scheduled_at: datetime, now: datetime) -> None:
    if scheduled_at < now - PAST_TOLERANCE:
        raise InvalidBroadcast("scheduled_at is in the past; leave it out to send now")
    if scheduled_at > now + MAX_AHEAD:
        raise InvalidBroadcast("scheduled_at is more than a year ahead")


async def create(
    session: AsyncSession,
    data: BroadcastIn,
    *,
    default_locale: str,
    actor: Actor,
    now: datetime,
) -> Broadcast:
    """Record a broadcast to send at `scheduled_at` (now when absent). Nothing is queued
    yet: the fan-out picks it when it is due. Audited."""
    texts: dict[str, str] = {str(lang): text for lang, text in data.texts.items()}
    _check_texts(texts, default_locale)
    scheduled_at = data.scheduled_at or now
    _check_schedule(scheduled_at, now)
    segment = await stored_segment(session, data.segment)
    broadcast = Broadcast(
        title=data.title,
        texts=texts,
        segment=segment,
        marketing=data.marketing,
        rate_per_second=data.rate_per_second,
        status=BroadcastStatus.scheduled,
        scheduled_at=scheduled_at,
        created_by=actor.user_id,
        created_at=now,
        recipients=0,
    )
    session.add(broadcast)
    await session.flush()
    await audit.record(
        session,
        "broadcast.create",
        actor,
        "broadcast",
        broadcast.id,
        segment=segment["type"],
        marketing=data.marketing,
        scheduled_at=scheduled_at.isoformat(),
        languages=sorted(texts),
    )
    return broadcast


async def get(session: AsyncSession, broadcast_id: int) -> Broadcast:
    broadcast = await session.get(Broadcast, broadcast_id)
    if broadcast is None:
        raise BroadcastNotFound()
    return broadcast


async def list_broadcasts(
    session: AsyncSession,
    status: BroadcastStatus | None = None,
    limit: int = 50,
    before_id: int | None = None,
) -> list[Broadcast]:
    return await repository.list_broadcasts(session, status, limit, before_id)


async def progress(session: AsyncSession, broadcast: Broadcast) -> Progress:
    return Progress(**await repository.progress(session, broadcast))


async def cancel(
    session: AsyncSession, broadcast_id: int, actor: Actor, now: datetime
) -> tuple[Broadcast, int]:
    """Cancel a scheduled or sending broadcast: the fan-out stops and its rows not yet taken
    by the worker are marked done unsent. Returns it and how many rows were stopped. A second
    cancellation changes nothing (0); a sent broadcast cannot be cancelled. Call it inside
    `changing_broadcasts`. Audited."""
    broadcast = await repository.lock(session, broadcast_id)
    if broadcast is None:
        raise BroadcastNotFound()
    if broadcast.status is BroadcastStatus.cancelled:
        return broadcast, 0
    if broadcast.status is BroadcastStatus.sent:
        raise BroadcastAlreadySent()
    was = broadcast.status
    broadcast.status = BroadcastStatus.cancelled
    broadcast.cancelled_at = now
    stopped = await repository.stop_pending(session, broadcast, now)
    await audit.record(
        session,
        "broadcast.cancel",
        actor,
        "broadcast",
        broadcast.id,
        was=was.value,
        stopped=stopped,
        queued=broadcast.recipients,
    )
    return broadcast, stopped


# --- the fan-out -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    broadcast_id: int
    queued: int  # rows written by this step
    done: bool  # the fan-out of the broadcast has ended


async def fan_out_step(
    session: AsyncSession, now: datetime, today: date, chunk: int = CHUNK
) -> Step | None:
    """Queue the next chunk of the earliest due broadcast; None when none is due. Call it
    inside `changing_broadcasts`, one step per unit of work: each step commits its rows, so
    the worker starts on them at once and a crash resumes after the last committed chunk."""
    broadcast = await repository.due_for_fan_out(session, now)
    if broadcast is None:
        return None
    if broadcast.status is BroadcastStatus.scheduled:
        broadcast.status = BroadcastStatus.sending
        broadcast.started_at = now
        await audit.record(session, "broadcast.start", SYSTEM, "broadcast", broadcast.id)
    found = await repository.next_chunk(session, broadcast, today, chunk)
    if found is None:
        broadcast.queued_at = now
        await audit.record(
            session,
            "broadcast.queued",
            SYSTEM,
            "broadcast",
            broadcast.id,
            recipients=broadcast.recipients,
        )
        return Step(broadcast.id, 0, True)
    ids = await repository.queue_chunk(session, broadcast, found, today, now)
    broadcast.last_customer_id = found.upto
    broadcast.recipients += len(ids)
    if ids:
        low, high = min(ids), max(ids)
        if broadcast.first_outbox_id is None or low < broadcast.first_outbox_id:
            broadcast.first_outbox_id = low
        if broadcast.last_outbox_id is None or high > broadcast.last_outbox_id:
            broadcast.last_outbox_id = high
    return Step(broadcast.id, len(ids), False)


async def finish_sent(session: AsyncSession, now: datetime) -> list[int]:
    """Mark sent the broadcasts whose every row is written and processed; their ids. Call it
    inside `changing_broadcasts`."""
    finished = []
    for broadcast in await repository.sending_and_queued(session):
        if await repository.has_unprocessed(session, broadcast):
            continue
        broadcast.status = BroadcastStatus.sent
        broadcast.finished_at = now
        counts = await repository.progress(session, broadcast)
        await audit.record(session, "broadcast.sent", SYSTEM, "broadcast", broadcast.id, **counts)
        finished.append(broadcast.id)
    return finished

from __future__ import annotations

import asyncio
import os
import signal
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from structlog.testing import capture_logs

from backend import outbox
from backend.config import Settings
from backend.db import unit_of_work
from backend.migrate import upgrade
from backend.models import OutboxMessage, OutboxStatus, utcnow
from backend.state import Resources
from notifications import repository
from notifications.channels import (
    ChannelRegistry,
    FakeChannel,
    LogEmailChannel,
    LogSmsChannel,
    PermanentDeliveryError,
    Rendered,
    TemporaryDeliveryError,
)
from notifications.registry import default_channels
from notifications.worker import (
    WorkerOptions,
    backoff_delay,
    deliver_once,
    run_standalone,
    run_worker,
)
from tests.notifications.helpers import enqueue_committed, reset_payload, rows


def later(**delta: float):
    moment = utcnow() + timedelta(**delta)
    return lambda: moment


@pytest.fixture
def fake() -> FakeChannel:
    return FakeChannel()


@pytest.fixture
def channels(fake) -> ChannelRegistry:
    return ChannelRegistry({"email": fake, "sms": fake})


async def test_delivers_once_marks_done_and_scrubs_secrets(resources, session, fake, channels):
    assert await enqueue_committed(resources, reset_payload("482913"), "reset:1")

    assert await deliver_once(resources, channels) == 1

    assert len(fake.sent) == 1
    sent = fake.sent[0]
    assert (sent.channel, sent.to, sent.locale) == ("email", "ivan@example.com", "ru")
    assert "482913" in sent.text
    assert "15 минут" in sent.text
    assert sent.subject == "Восстановление пароля"
    [row] = await rows(session)
    assert row.status == OutboxStatus.done
    assert row.attempts == 1
    assert row.processed_at is not None
    assert row.locked_until is None
    assert row.payload["args"] == {"minutes": 15}
    assert "482913" not in str(row.payload)
    # nothing is sent twice
    assert await deliver_once(resources, channels, clock=later(days=1)) == 0
    assert len(fake.sent) == 1


async def test_dedup_key_prevents_a_second_row(resources, session, fake, channels):
    assert await enqueue_committed(resources, reset_payload("111111"), "ticket:5:updated")
    assert not await enqueue_committed(resources, reset_payload("222222"), "ticket:5:updated")
    async with resources.sessionmaker() as s:
        # inside one transaction too
        assert await outbox.enqueue(s, "x", reset_payload("333333"), "other")
        assert not await outbox.enqueue(s, "x", reset_payload("444444"), "other")
        await s.commit()
    assert len(await rows(session)) == 2
    assert await deliver_once(resources, channels) == 2
    assert sorted(m.text.split(": ")[1][:6] for m in fake.sent) == ["111111", "333333"]


async def test_temporary_failure_retries_later(resources, session, fake, channels):
    await enqueue_committed(resources, reset_payload(), "r1")
    fake.fail_with = TemporaryDeliveryError("provider answered 503")
    before = utcnow()

    assert await deliver_once(resources, channels) == 1

    [row] = await rows(session)
    assert row.status == OutboxStatus.pending
    assert row.attempts == 1
    assert row.last_error == "TemporaryDeliveryError: provider answered 503"
    assert row.locked_until is None
    # backoff: not before half the base delay
    assert row.available_at >= before + timedelta(seconds=WorkerOptions().backoff_base / 2)
    assert row.payload["args"]["code"] == "482913"  # still needed for the retry
    # not due yet
    assert await deliver_once(resources, channels) == 0
    assert fake.calls == 1

    fake.fail_with = None
    assert await deliver_once(resources, channels, clock=later(hours=2)) == 1
    [row] = await rows(session)
    assert row.status == OutboxStatus.done
    assert row.attempts == 2
    assert row.last_error is None
    assert len(fake.sent) == 1


async def test_a_timeout_is_a_temporary_failure(resources, session, channels):
    slow = FakeChannel(delay=1)
    await enqueue_committed(resources, reset_payload(), "slow")
    options = WorkerOptions(send_timeout=0.05)
    await deliver_once(resources, ChannelRegistry({"email": slow}), options)
    [row] = await rows(session)
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.pending, 1, "TimeoutError")


async def test_permanent_failure_dead_letters_at_once(resources, session, fake, channels):
    await enqueue_committed(resources, reset_payload(), "p1")
    fake.fail_with = PermanentDeliveryError("bot was blocked by the user")

    await deliver_once(resources, channels)

    [row] = await rows(session)
    assert row.status == OutboxStatus.dead
    assert row.attempts == 1
    assert row.last_error == "PermanentDeliveryError: bot was blocked by the user"
    assert row.processed_at is not None
    assert "code" not in row.payload["args"]
    fake.fail_with = None
    assert await deliver_once(resources, channels, clock=later(days=30)) == 0
    assert fake.sent == []


async def test_invalid_address_dead_letters_through_the_log_channel(resources, session):
    await enqueue_committed(resources, reset_payload(to="not-an-address"), "bad-email")
    await enqueue_committed(resources, reset_payload(to="12", channel="sms"), "bad-phone")
    await deliver_once(resources, default_channels(resources.settings))
    by_key = {r.dedup_key: r for r in await rows(session)}
    assert by_key["bad-email"].status == OutboxStatus.dead
    assert by_key["bad-email"].last_error == "PermanentDeliveryError: invalid email address"
    assert by_key["bad-phone"].status == OutboxStatus.dead
    assert by_key["bad-phone"].last_error == "PermanentDeliveryError: invalid phone number"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (reset_payload(template="no-such-template"), "unknown template"),
        (reset_payload(channel="pigeon"), "no channel 'pigeon' configured"),
        ({"channel": "email", "template": "ticket-updated"}, "needs a channel and a recipient"),
        ({"channel": "email", "to": "a@example.com"}, "needs a 'template' or a 'text'"),
        (reset_payload(args={"minutes": 5}), "code"),
        (reset_payload(args=["482913"]), "'args' must be an object"),
    ],
)
async def test_malformed_payloads_dead_letter_with_a_reason(
    resources, session, fake, channels, payload, reason
):
    await enqueue_committed(resources, payload, "m")
    await deliver_once(resources, channels)
    [row] = await rows(session)
    assert row.status == OutboxStatus.dead
    assert reason in (row.last_error or "")
    assert fake.sent == []


async def test_plain_text_payload_is_sent_verbatim(resources, fake, channels):
    await enqueue_committed(
        resources, {"channel": "sms", "to": "+79000000001", "text": "Мастер будет в 15:00"}, "t"
    )
    await deliver_once(resources, channels)
    assert [(m.text, m.subject, m.locale) for m in fake.sent] == [
        ("Мастер будет в 15:00", None, "ru")
    ]


async def test_dead_after_max_attempts(resources, session, fake, channels):
    options = WorkerOptions(max_attempts=3)
    await enqueue_committed(resources, reset_payload(), "flaky")
    fake.fail_with = TemporaryDeliveryError("connection reset")
    hours = 0.0
    for attempt in (1, 2):
        hours += 2
        await deliver_once(resources, channels, options, clock=later(hours=hours))
        [row] = await rows(session)
        assert (row.status, row.attempts) == (OutboxStatus.pending, attempt)

    await deliver_once(resources, channels, options, clock=later(hours=hours + 2))

    [row] = await rows(session)
    assert row.status == OutboxStatus.dead
    assert row.attempts == 3
    assert row.last_error == (
        "retries exhausted after 3 attempts: TemporaryDeliveryError: connection reset"
    )
    assert "code" not in row.payload["args"]
    assert await deliver_once(resources, channels, options, clock=later(days=30)) == 0
    assert fake.calls == 3


async def test_secret_values_never_reach_last_error(resources, session, fake, channels):
    await enqueue_committed(resources, reset_payload("918273"), "leak")
    fake.fail_with = TemporaryDeliveryError("rejected body 'Код: 918273'")
    await deliver_once(resources, channels)
    [row] = await rows(session)
    assert row.last_error == "TemporaryDeliveryError: rejected body 'Код: [secret]'"


async def test_unexpected_channel_bug_is_retried_not_lost(resources, session, fake, channels):
    await enqueue_committed(resources, reset_payload(), "bug")
    fake.fail_with = KeyError("chat_id")
    await deliver_once(resources, channels)
    [row] = await rows(session)
    assert (row.status, row.attempts) == (OutboxStatus.pending, 1)
    assert row.last_error == "KeyError: 'chat_id'"


async def test_expired_lease_is_reclaimed(resources, session, fake, channels):
    await enqueue_committed(resources, reset_payload(), "crash")
    now = utcnow()
    # a worker claims the row and dies before marking it
    async with unit_of_work(resources.sessionmaker) as s:
        await repository.claim_batch(s, limit=10, now=now, lease_until=now + timedelta(seconds=60))
    assert await deliver_once(resources, channels) == 0  # the lease still holds

    assert await deliver_once(resources, channels, clock=later(seconds=61)) == 1
    assert len(fake.sent) == 1
    [row] = await rows(session)
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.done, 2, None)


async def test_a_stale_claim_cannot_mark_the_row(resources, session):
    await enqueue_committed(resources, reset_payload(), "slow-worker")
    now = utcnow()
    async with unit_of_work(resources.sessionmaker) as s:
        [stale] = await repository.claim_batch(
            s, limit=10, now=now, lease_until=now + timedelta(seconds=1)
        )
    # the lease ran out while the first worker was still sending; a second worker claims it
    async with unit_of_work(resources.sessionmaker) as s:
        [fresh] = await repository.claim_batch(
            s, limit=10, now=now + timedelta(seconds=2), lease_until=now + timedelta(seconds=60)
        )
    assert (stale.attempts, fresh.attempts) == (1, 2)
    async with unit_of_work(resources.sessionmaker) as s:
        assert not await repository.mark_dead(s, stale, "late failure", utcnow())
    [row] = await rows(session)
    assert (row.status, row.last_error) == (OutboxStatus.processing, None)
    async with unit_of_work(resources.sessionmaker) as s:
        assert await repository.mark_done(s, fresh, utcnow())
    [row] = await rows(session)
    assert row.status == OutboxStatus.done


async def test_row_whose_lease_keeps_expiring_ends_dead(resources, session, fake, channels):
    options = WorkerOptions(max_attempts=2)
    await enqueue_committed(resources, reset_payload(), "poison")
    async with unit_of_work(resources.sessionmaker) as s:
        stmt = repository.outbox.update().values(attempts=2)
        await s.execute(stmt)
    await deliver_once(resources, channels, options)
    [row] = await rows(session)
    assert row.status == OutboxStatus.dead
    assert "lease expired" in (row.last_error or "")
    assert fake.calls == 0


async def test_two_concurrent_workers_never_deliver_the_same_row(resources, session, settings):
    for i in range(100):
        await enqueue_committed(resources, reset_payload(f"{i:06d}"), f"bulk:{i}")
    # a second engine: as another process would
    other = Resources.create(settings)
    fakes = [FakeChannel(delay=0.002), FakeChannel(delay=0.002)]
    options = WorkerOptions(batch_size=7, concurrency=4)

    async def worker(res: Resources, fake: FakeChannel) -> None:
        while await deliver_once(res, ChannelRegistry({"email": fake}), options):
            pass

    try:
        await asyncio.gather(worker(resources, fakes[0]), worker(other, fakes[1]))
    finally:
        await other.close()

    ids = [m.outbox_id for f in fakes for m in f.sent]
    assert len(ids) == 100
    assert len(set(ids)) == 100
    assert fakes[0].sent, "both workers should have taken part"
    assert fakes[1].sent, "both workers should have taken part"
    all_rows = await rows(session)
    assert {r.status for r in all_rows} == {OutboxStatus.done}
    assert {r.attempts for r in all_rows} == {1}


async def test_claim_takes_the_oldest_due_rows_first(resources, fake, channels):
    for i in range(5):
        await enqueue_committed(resources, reset_payload(f"{i:06d}"), f"o:{i}")
    await deliver_once(resources, channels, WorkerOptions(batch_size=2, concurrency=1))
    assert [m.text.split(": ")[1][:6] for m in fake.sent] == ["000000", "000001"]


def test_backoff_grows_is_capped_and_jittered():
    options = WorkerOptions(backoff_base=10, backoff_cap=100)
    first = [backoff_delay(1, options) for _ in range(50)]
    assert all(5 <= d <= 10 for d in first)
    assert len(set(first)) > 1
    assert all(20 <= backoff_delay(3, options) <= 40 for _ in range(20))
    assert all(50 <= backoff_delay(30, options) <= 100 for _ in range(20))


# --- the loop ------------------------------------------------------------------------------


async def _until(predicate, within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_run_worker_delivers_and_stops(resources, session, fake, channels):
    stop = asyncio.Event()
    options = WorkerOptions(poll_interval=0.05)
    task = asyncio.create_task(run_worker(resources, stop, channels=channels, options=options))
    await enqueue_committed(resources, reset_payload(), "loop")
    await _until(lambda: len(fake.sent) == 1)
    stop.set()
    await asyncio.wait_for(task, 2)
    [row] = await rows(session)
    assert row.status == OutboxStatus.done


async def test_run_worker_survives_a_database_outage_and_recovers(
    resources, session, fake, channels
):
    broken = Resources.create(
        Settings(
            _env_file=None,
            app_env="test",
            database_url="postgresql+asyncpg://postgres@127.0.0.1:1/nowhere",
            redis_url=resources.settings.redis_url,
        )
    )
    good_sessionmaker = broken.sessionmaker
    await enqueue_committed(resources, reset_payload(), "outage")
    stop = asyncio.Event()
    options = WorkerOptions(poll_interval=0.01, outage_backoff_cap=0.05)
    try:
        with capture_logs() as logs:
            task = asyncio.create_task(run_worker(broken, stop, channels=channels, options=options))
            await _until(lambda: sum("unavailable" in e["event"] for e in logs) >= 3)
            assert not task.done()
            # the database comes back
            broken.sessionmaker = resources.sessionmaker
            await _until(lambda: len(fake.sent) == 1)
            stop.set()
            await asyncio.wait_for(task, 2)
    finally:
        broken.sessionmaker = good_sessionmaker
        await broken.close()
    assert any(e["event"] == "notification worker recovered" for e in logs)
    [row] = await rows(session)
    assert row.status == OutboxStatus.done


async def test_run_standalone_runs_its_roles_until_sigterm(resources, settings):
    stopped: list[str] = []

    def role(name: str):
        async def run(res: Resources, stop: asyncio.Event) -> None:
            await stop.wait()
            stopped.append(name)

        return run

    task = asyncio.create_task(run_standalone(settings, roles=[role("a"), role("b")]))
    await asyncio.sleep(0.2)
    assert not task.done()
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(task, 5)
    assert sorted(stopped) == ["a", "b"]


async def test_run_standalone_default_delivers_until_sigterm(resources, session, settings):
    # the default role is the notification worker with the log channels
    await enqueue_committed(resources, reset_payload(to="not-an-address"), "standalone")
    task = asyncio.create_task(run_standalone(settings))

    async def dead() -> bool:
        return [r.status for r in await rows(session)] == [OutboxStatus.dead]

    for _ in range(100):
        if await dead():
            break
        await asyncio.sleep(0.05)
    assert await dead()
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(task, 5)


async def test_a_crashing_role_stops_the_others_and_propagates(resources, settings):
    stopped = asyncio.Event()

    async def steady(res: Resources, stop: asyncio.Event) -> None:
        await stop.wait()
        stopped.set()

    async def broken(res: Resources, stop: asyncio.Event) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await asyncio.wait_for(run_standalone(settings, roles=[steady, broken]), 5)
    assert stopped.is_set()


# --- channels ------------------------------------------------------------------------------


def _message(to: str, text: str = "Код: 123456") -> Rendered:
    return Rendered(outbox_id=1, kind="k", channel="email", to=to, locale="ru", text=text)


async def test_log_channels_log_the_recipient_not_the_text():
    with capture_logs() as logs:
        await LogEmailChannel().send(_message("ivan@example.com"))
        await LogSmsChannel().send(_message("8 (900) 000-00-01"))
    assert logs[0]["to"] == "ivan@example.com"
    assert logs[1]["to"] == "+79000000001"
    assert "123456" not in repr(logs)  # the text (tests/notifications/test_channels.py)


@pytest.mark.parametrize("to", ["", "ivan", "ivan@localhost", "@example.com", "iv an@example.com"])
async def test_log_email_refuses_invalid_addresses(to):
    with pytest.raises(PermanentDeliveryError):
        await LogEmailChannel().send(_message(to))


def test_default_channels(settings):
    assert set(default_channels(settings)) == {"email", "sms"}


# --- the embedded SQLite path -----------------------------------------------------------------
# (the password-reset code end to end, read from DATA_DIR/dev-mail: test_channels.py)


async def test_sqlite_single_worker_path(tmp_path):
    settings = Settings(
        _env_file=None,
        app_env="test",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}",
        redis_url="",
    )
    res = Resources.create(settings)
    try:
        await upgrade(res.engine)
        for i in range(3):
            await enqueue_committed(res, reset_payload(f"{i:06d}"), f"s:{i}")
        fake = FakeChannel()
        fake.fail_with = TemporaryDeliveryError("later")
        assert await deliver_once(res, ChannelRegistry({"email": fake})) == 3
        assert await deliver_once(res, ChannelRegistry({"email": fake})) == 0
        fake.fail_with = None
        assert await deliver_once(res, ChannelRegistry({"email": fake}), clock=later(hours=1)) == 3
        assert len(fake.sent) == 3
        async with res.sessionmaker() as s:
            done = await s.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == OutboxStatus.done, OutboxMessage.attempts == 2)
            )
            payloads = (await s.scalars(select(OutboxMessage.payload))).all()
        assert done == 3
        assert all("code" not in p["args"] for p in payloads)
    finally:
        await res.close()

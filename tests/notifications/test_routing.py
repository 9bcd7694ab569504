"""Routing (notifications/routing.py) and the worker's per-recipient delivery: the fallback
order, preferences per category, SMS only for the chosen kinds, urgent notices on every live
channel, quiet hours, one delivery row per address under a unique key (a row claimed again
never sends twice), a provider's flood wait that holds the address's later messages and
spends no attempt, and a batch channel getting a whole batch in one call."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from backend.models import Channel, ChannelIdentity, NotificationDelivery, OutboxStatus
from notifications import routing
from notifications.channels import (
    ChannelRegistry,
    DeliveryError,
    Rendered,
    TemporaryDeliveryError,
    UnreachableError,
)
from notifications.routing import Recipient, Step
from notifications.worker import WorkerOptions, deliver_once
from tests.factories import make_customer
from tests.notifications.helpers import enqueue_committed, rows

CREDITED = {"amount": 50000, "balance": 85000, "currency": "RUB"}


def who(**fields: Any) -> Recipient:
    values: dict[str, Any] = {
        "customer_id": 1, "email": "a@example.com", "phone": "+79001112233", "locale": "ru"
    }  # fmt: skip
    values.update(fields)
    return Recipient(**values)


ALL = {"telegram", "fcm", "webchat", "email", "sms"}


# --- the plan --------------------------------------------------------------------------------


def test_the_default_order_is_telegram_push_widget_email_sms() -> None:
    recipient = who(telegram=("42",), devices=("t1", "t2"), webchat=7)
    plan = routing.plan(
        recipient,
        kind="outage.started",
        category="outages",
        urgent=True,
        available=ALL,
        sms_kinds=["outage.started"],
    )
    assert [s.channel for s in plan.steps] == ["telegram", "fcm", "webchat", "email", "sms"]
    assert plan.steps[1] == Step("fcm", ("t1", "t2"))
    assert plan.broadcast_live


def test_a_normal_notice_shows_in_the_widget_beside_its_channel() -> None:
    plan = routing.plan(
        who(telegram=("42",), webchat=7),
        kind="payment.credited",
        category="billing",
        urgent=False,
        available=ALL,
        sms_kinds=[],
    )
    assert [s.channel for s in plan.steps] == ["telegram", "email"]
    assert plan.also == (Step("webchat", ("7",)),)


def test_sms_only_for_the_chosen_kinds_and_unregistered_channels_are_left_out() -> None:
    recipient = who(email=None)
    low = routing.plan(
        recipient,
        kind="billing.low_balance",
        category="billing",
        urgent=False,
        available=ALL,
        sms_kinds=["subscription.blocked"],
    )
    assert low.steps == ()
    blocked = routing.plan(
        recipient,
        kind="subscription.blocked",
        category="billing",
        urgent=True,
        available={"email", "sms"},
        sms_kinds=["subscription.blocked"],
    )
    assert [s.channel for s in blocked.steps] == ["sms"]


def test_the_customers_channels_per_category_and_the_chat_that_already_told_them() -> None:
    recipient = who(
        telegram=("42",),
        preferences={"channels": {"billing": ["email", "telegram", "pigeon"]}},
    )
    plan = routing.plan(
        recipient,
        kind="payment.credited",
        category="billing",
        urgent=False,
        available=ALL,
        sms_kinds=[],
    )
    assert [s.channel for s in plan.steps] == ["email", "telegram"]
    tickets = routing.plan(
        recipient,
        kind="ticket.updated",
        category="tickets",
        urgent=False,
        available=ALL,
        sms_kinds=[],
    )
    assert [s.channel for s in tickets.steps] == ["telegram", "email"]
    told = routing.plan(
        recipient,
        kind="payment.credited",
        category="billing",
        urgent=False,
        available=ALL,
        sms_kinds=[],
        told_in=["telegram"],
    )
    assert [s.channel for s in told.steps] == ["email"]


MSK = "Europe/Moscow"


@pytest.mark.parametrize(
    ("utc", "span", "until_local"),
    [
        # 23:30 in Moscow: quiet until 09:00 the next morning
        (datetime(2026, 12, 7, 20, 30, tzinfo=UTC), "22:00-09:00", datetime(2026, 12, 8, 9, 0)),
        # 03:00: until 09:00 the same day
        (datetime(2026, 12, 8, 0, 0, tzinfo=UTC), "22:00-09:00", datetime(2026, 12, 8, 9, 0)),
        # 12:00: not quiet
        (datetime(2026, 12, 8, 9, 0, tzinfo=UTC), "22:00-09:00", None),
        # a span within one day
        (datetime(2026, 12, 8, 11, 0, tzinfo=UTC), "13:00-15:00", datetime(2026, 12, 8, 15, 0)),
        (datetime(2026, 12, 8, 11, 0, tzinfo=UTC), "", None),
    ],
)
def test_quiet_hours_on_the_providers_clock(utc, span, until_local) -> None:
    until = routing.quiet_until(utc, routing.parse_span(span), MSK)
    if until_local is None:
        assert until is None
    else:
        assert until is not None
        assert until.replace(tzinfo=None) == until_local
        assert until > utc


def test_a_customer_sets_their_own_quiet_hours_or_none() -> None:
    assert routing.quiet_span({"quiet_hours": ""}, "22:00-09:00") is None
    assert routing.quiet_span({"quiet_hours": "23:00-07:00"}, "22:00-09:00") == (
        time(23, 0),
        time(7, 0),
    )
    assert routing.quiet_span({}, "22:00-09:00") == (time(22, 0), time(9, 0))


# --- the worker ------------------------------------------------------------------------------


class Scripted:
    """A channel whose answer depends on the address: `unreachable`, `temporary` (with
    retry_after) or sent; records every call."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[Rendered] = []
        self.calls: list[str] = []
        self.unreachable: set[str] = set()
        self.temporary: dict[str, float | None] = {}

    async def send(self, message: Rendered) -> None:
        self.calls.append(message.to)
        if message.to in self.unreachable:
            raise UnreachableError(f"{self.name}: gone")
        if message.to in self.temporary:
            raise TemporaryDeliveryError("busy", retry_after=self.temporary[message.to])
        self.sent.append(message)


class Batched(Scripted):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.batches: list[int] = []

    async def send_many(self, messages) -> list[DeliveryError | None]:
        self.batches.append(len(messages))
        out: list[DeliveryError | None] = []
        for message in messages:
            try:
                await self.send(message)
                out.append(None)
            except DeliveryError as exc:
                out.append(exc)
        return out


async def _customer(session, *, telegram=(), devices=(), email=True, **prefs):
    _, customer = await make_customer(session)
    if not email:
        customer.email = None
    if prefs:
        customer.notification_preferences = {"billing": True, **prefs}
    for chat in telegram:
        session.add(
            ChannelIdentity(customer_id=customer.id, channel=Channel.telegram, external_id=chat)
        )
    for token in devices:
        session.add(
            ChannelIdentity(customer_id=customer.id, channel=Channel.fcm, external_id=token)
        )
    await session.commit()
    return customer.id, customer.email


async def _deliveries(session) -> list[NotificationDelivery]:
    session.expire_all()
    await session.rollback()
    return list(
        await session.scalars(select(NotificationDelivery).order_by(NotificationDelivery.id))
    )


@pytest.fixture
def tg() -> Scripted:
    return Scripted("telegram")


@pytest.fixture
def push() -> Batched:
    return Batched("fcm")


@pytest.fixture
def mail() -> Scripted:
    return Scripted("email")


@pytest.fixture
def registry(tg, push, mail) -> ChannelRegistry:
    return ChannelRegistry({"telegram": tg, "fcm": push, "email": mail})


async def test_a_blocked_bot_falls_back_to_push_then_email(
    resources, session, tg, push, mail, registry
):
    customer_id, address = await _customer(session, telegram=["42"], devices=["tok-1"])
    tg.unreachable.add("42")
    push.unreachable.add("tok-1")
    await enqueue_committed(
        resources, {"customer_id": customer_id, **CREDITED}, "pay:1", kind="payment.credited"
    )
    assert await deliver_once(resources, registry) == 1
    assert [m.to for m in mail.sent] == [address]
    [row] = await rows(session)
    assert row.status == OutboxStatus.done
    log = [(d.channel, d.address, d.status) for d in await _deliveries(session)]
    assert log == [
        ("telegram", "42", "failed"),
        ("fcm", "tok-1", "failed"),
        ("email", address, "sent"),
    ]


async def test_the_first_channel_that_reaches_is_the_only_one(
    resources, session, tg, mail, registry
):
    customer_id, _ = await _customer(session, telegram=["42"])
    await enqueue_committed(
        resources, {"customer_id": customer_id, **CREDITED}, "pay:2", kind="payment.credited"
    )
    await deliver_once(resources, registry)
    assert [m.to for m in tg.sent] == ["42"] and mail.sent == []
    assert tg.sent[0].customer_id == customer_id


async def test_an_urgent_notice_goes_to_every_live_channel(
    resources, session, tg, push, mail, registry
):
    customer_id, _ = await _customer(session, telegram=["42"], devices=["tok-1", "tok-2"])
    payload = {
        "customer_id": customer_id,
        "outage_id": 1,
        "title": "Авария",
        "expected_fix_at": None,
    }
    await enqueue_committed(resources, payload, "out:1", kind="outage.started")
    await deliver_once(resources, registry)
    assert [m.to for m in tg.sent] == ["42"]
    assert sorted(m.to for m in push.sent) == ["tok-1", "tok-2"]
    assert push.batches == [2]
    assert mail.sent == []  # a live channel reached them


async def test_a_row_claimed_again_sends_only_what_did_not_go(
    resources, session, tg, push, registry
):
    """Telegram got it, one push token was busy: the retry sends that token only."""
    customer_id, _ = await _customer(session, telegram=["42"], devices=["tok-1", "tok-2"])
    push.temporary["tok-2"] = None
    payload = {
        "customer_id": customer_id,
        "outage_id": 1,
        "title": "Авария",
        "expected_fix_at": None,
    }
    await enqueue_committed(resources, payload, "out:2", kind="outage.started")
    await deliver_once(resources, registry)
    [row] = await rows(session)
    assert row.status == OutboxStatus.done  # the customer was reached (Telegram)
    del push.temporary["tok-2"]
    # the same row delivered again (as after a worker died before marking it)
    row.status = OutboxStatus.pending
    await session.commit()
    await deliver_once(resources, registry)
    assert tg.calls == ["42"]
    assert sorted(push.calls) == ["tok-1", "tok-2", "tok-2"]
    statuses = {(d.channel, d.address): (d.status, d.attempts) for d in await _deliveries(session)}
    assert statuses[("telegram", "42")] == ("sent", 1)
    assert statuses[("fcm", "tok-2")] == ("sent", 2)


async def test_a_flood_wait_holds_the_chats_later_messages_and_spends_no_attempt(
    resources, session, tg, registry
):
    customer_id, _ = await _customer(session, telegram=["42"])
    tg.temporary["42"] = 7.0
    for n in range(3):
        await enqueue_committed(
            resources,
            {"customer_id": customer_id, **CREDITED, "amount": 100 * (n + 1)},
            f"pay:{n}",
            kind="payment.credited",
        )
    before = datetime.now(UTC)
    await deliver_once(resources, registry)
    assert tg.calls == ["42"]  # the first one only: the others wait behind it, in order
    for row in await rows(session):
        assert row.status == OutboxStatus.pending
        assert row.attempts == 0
        assert row.available_at >= before + timedelta(seconds=6)


async def test_quiet_hours_hold_a_normal_notice_not_an_urgent_one(resources, session, settings, tg):
    import dataclasses

    quiet = dataclasses.replace(
        resources, settings=settings.model_copy(update={"notify_quiet_hours": "00:00-23:59"})
    )
    registry = ChannelRegistry({"telegram": tg})
    customer_id, _ = await _customer(session, telegram=["42"])
    await enqueue_committed(
        quiet, {"customer_id": customer_id, **CREDITED}, "pay:q", kind="payment.credited"
    )
    await enqueue_committed(
        quiet,
        {"customer_id": customer_id, "outage_id": 1, "title": "Авария", "expected_fix_at": None},
        "out:q",
        kind="outage.started",
    )
    await enqueue_committed(
        quiet,
        {"customer_id": customer_id, "balance": 100, "days_left": 1},
        "low:q",
        kind="billing.low_balance",
    )
    await deliver_once(quiet, registry)
    # the outage (urgent) and the credit (the answer to their own payment) go at once
    assert sorted(m.kind for m in tg.sent) == ["outage.started", "payment.credited"]
    by_key = {r.dedup_key: r for r in await rows(session)}
    assert by_key["low:q"].status == OutboxStatus.pending
    assert by_key["low:q"].attempts == 0
    assert by_key["low:q"].last_error == "quiet hours"
    assert by_key["out:q"].status == OutboxStatus.done


async def test_a_customers_own_quiet_hours_off(resources, session, settings, tg):
    import dataclasses

    quiet = dataclasses.replace(
        resources, settings=settings.model_copy(update={"notify_quiet_hours": "00:00-23:59"})
    )
    customer_id, _ = await _customer(session, telegram=["42"], quiet_hours="")
    await enqueue_committed(
        quiet,
        {"customer_id": customer_id, "balance": 100, "days_left": 1},
        "low:own",
        kind="billing.low_balance",
    )
    await deliver_once(quiet, ChannelRegistry({"telegram": tg}))
    assert [m.kind for m in tg.sent] == ["billing.low_balance"]


async def test_a_notice_told_in_the_chat_is_not_repeated(resources, session, tg, mail, registry):
    """The bot's reply to a Telegram payment was the credit notice: nothing more is sent. An
    urgent notice told in one chat still reaches the customer's other channels."""
    customer_id, address = await _customer(session, telegram=["42"])
    await enqueue_committed(
        resources,
        {"customer_id": customer_id, **CREDITED, "told_in": {"telegram": "42"}},
        "pay:told",
        kind="payment.credited",
    )
    await enqueue_committed(
        resources,
        {
            "customer_id": customer_id,
            "at": "2026-12-07T10:00:00+00:00",
            "told_in": {"telegram": "42"},
        },
        "linked:told",
        kind="security.telegram_linked",
    )
    await deliver_once(resources, registry)
    assert tg.calls == []
    assert [(m.kind, m.to) for m in mail.sent] == [("security.telegram_linked", address)]
    by_key = {r.dedup_key: r for r in await rows(session)}
    assert by_key["pay:told"].status == OutboxStatus.done
    assert "already told" in (by_key["pay:told"].last_error or "")


async def test_a_batch_channel_gets_the_whole_batch_in_one_call(resources, session, push):
    ids = []
    for n in range(30):
        customer_id, _ = await _customer(session, devices=[f"tok-{n}"], email=False)
        ids.append(customer_id)
    for customer_id in ids:
        await enqueue_committed(
            resources,
            {"customer_id": customer_id, **CREDITED},
            f"pay:{customer_id}",
            kind="payment.credited",
        )
    await deliver_once(resources, ChannelRegistry({"fcm": push}), WorkerOptions(batch_size=50))
    assert push.batches == [30]
    assert len(push.sent) == 30


async def test_two_workers_at_once_send_each_message_once(resources, session, settings, tg):
    ids = []
    for n in range(40):
        customer_id, _ = await _customer(session, telegram=[str(1000 + n)], email=False)
        ids.append(customer_id)
    for customer_id in ids:
        await enqueue_committed(
            resources,
            {"customer_id": customer_id, **CREDITED},
            f"pay:{customer_id}",
            kind="payment.credited",
        )
    registry = ChannelRegistry({"telegram": tg})
    options = WorkerOptions(batch_size=7)
    while any(r.status != OutboxStatus.done for r in await rows(session)):
        await asyncio.gather(
            deliver_once(resources, registry, options), deliver_once(resources, registry, options)
        )
    assert sorted(tg.calls) == sorted(str(1000 + n) for n in range(40))


async def test_a_chats_agent_replies_keep_their_order_across_claims(resources, session, tg):
    """The first reply waits out a flood wait: the second, due already, is not sent before it."""
    for n in (1, 2):
        await enqueue_committed(
            resources,
            {"conversation_id": 8, "message_id": n, "channel": "telegram", "chat_id": 42},
            f"reply:{n}",
            kind="conversation.agent_reply",
        )
    registry = ChannelRegistry({"telegram": tg})
    tg.temporary["42"] = 30.0
    await deliver_once(resources, registry)
    assert tg.calls == ["42"]  # the first one got the 429; the second waits behind it
    del tg.temporary["42"]
    first, second = sorted(await rows(session), key=lambda r: r.id)
    # a worker comes by before the first one is due again: the second stays where it is
    second.available_at = first.available_at - timedelta(seconds=29)
    await session.commit()
    assert (
        await deliver_once(
            resources, registry, clock=lambda: first.available_at - timedelta(seconds=10)
        )
        == 0
    )
    assert tg.calls == ["42"]
    # once the first is due, both go, in order
    await deliver_once(resources, registry, clock=lambda: first.available_at + timedelta(seconds=1))
    assert [m.payload["message_id"] for m in tg.sent] == [1, 2]
